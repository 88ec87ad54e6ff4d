package pushsvc

import (
	"log/slog"
	"sync"
	"time"
)

// warnEvery is how often a repeating warning is logged at most: a Redis
// outage would otherwise log one line per connect.
const warnEvery = time.Minute

// rateLimitedWarn logs a warning that can repeat at a high rate (once per
// connect, once per retry) at most once per warnEvery, each time with the
// number of occurrences it stands for.
type rateLimitedWarn struct {
	log *slog.Logger // immutable
	msg string       // immutable

	mu     sync.Mutex // guards the fields below
	last   time.Time  // when the warning was last logged; zero: never
	missed int        // occurrences since, not logged
}

func newRateLimitedWarn(log *slog.Logger, msg string) *rateLimitedWarn {
	return &rateLimitedWarn{log: log, msg: msg}
}

// warn counts one occurrence and logs it, with args, unless the warning
// was logged within warnEvery.
func (w *rateLimitedWarn) warn(now time.Time, args ...any) {
	w.mu.Lock()
	if !w.last.IsZero() && now.Sub(w.last) < warnEvery {
		w.missed++
		w.mu.Unlock()
		return
	}
	w.last = now
	missed := w.missed
	w.missed = 0
	w.mu.Unlock()
	if missed > 0 {
		args = append(args, "repeats_not_logged", missed)
	}
	w.log.Warn(w.msg, args...)
}

// reset makes the next warn log at once: the condition it warns about
// ended.
func (w *rateLimitedWarn) reset() {
	w.mu.Lock()
	w.last, w.missed = time.Time{}, 0
	w.mu.Unlock()
}
