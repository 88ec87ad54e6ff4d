// Package enginetest helps tests build engines without a push service: a
// Handler made of functions, and a Clock they set.
package enginetest

import "github.com/herald-push/herald/pushsvc/engine"

// Handler is an engine.Handler whose methods call the functions set; a nil
// function answers 0 (Deliver, Control) or no stream (Streams).
type Handler struct {
	OnDeliver func(p *engine.Publication) int
	OnControl func(c engine.Control) int
	OnStreams func() []string
}

var _ engine.Handler = Handler{}

// Deliver implements engine.Handler.
func (h Handler) Deliver(p *engine.Publication) int {
	if h.OnDeliver == nil {
		return 0
	}
	return h.OnDeliver(p)
}

// Control implements engine.Handler.
func (h Handler) Control(c engine.Control) int {
	if h.OnControl == nil {
		return 0
	}
	return h.OnControl(c)
}

// Streams implements engine.Handler.
func (h Handler) Streams() []string {
	if h.OnStreams == nil {
		return nil
	}
	return h.OnStreams()
}
