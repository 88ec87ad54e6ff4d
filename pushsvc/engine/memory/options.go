package memory

import (
	"errors"
	"fmt"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Options configure the in-memory engine. The zero value of each field
// means its default, filled in by New.
type Options struct {
	// HistorySize is how many publications each stream keeps. Default
	// engine.DefaultHistorySize; engine.NoHistory (any negative size)
	// keeps none: resume then recovers nothing that was missed.
	HistorySize int
	// HistoryTTL is how long a publication stays in history, and an
	// idempotent id is remembered. Default engine.DefaultHistoryTTL.
	HistoryTTL time.Duration
	// Handler receives every publication (Handler.Deliver), called with
	// the stream's lock held. Required.
	Handler engine.Handler
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// EventRetention bounds how many events the event log keeps.
	// Default engine.DefaultEventRetention.
	EventRetention int
	// EventMaxAge bounds how long the event log keeps an event. Default
	// engine.DefaultEventMaxAge.
	EventMaxAge time.Duration
}

func (o *Options) setDefaults() {
	if o.HistorySize == 0 {
		o.HistorySize = engine.DefaultHistorySize
	}
	if o.HistoryTTL == 0 {
		o.HistoryTTL = engine.DefaultHistoryTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventRetention == 0 {
		o.EventRetention = engine.DefaultEventRetention
	}
	if o.EventMaxAge == 0 {
		o.EventMaxAge = engine.DefaultEventMaxAge
	}
}

// validate checks the options after setDefaults; its errors name the
// field.
func (o *Options) validate() error {
	var errs []error
	if o.Handler == nil {
		errs = append(errs, errors.New("memory: Options.Handler: required"))
	}
	if o.HistoryTTL < 0 {
		errs = append(errs, fmt.Errorf("memory: Options.HistoryTTL %v: must be > 0", o.HistoryTTL))
	}
	if o.EventRetention < 0 {
		errs = append(errs, fmt.Errorf("memory: Options.EventRetention %d: must be > 0", o.EventRetention))
	}
	if o.EventMaxAge < 0 {
		errs = append(errs, fmt.Errorf("memory: Options.EventMaxAge %v: must be > 0", o.EventMaxAge))
	}
	return errors.Join(errs...)
}
