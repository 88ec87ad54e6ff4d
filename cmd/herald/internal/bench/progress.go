package bench

import (
	"fmt"
	"io"
	"time"
)

// startProgress prints a progress line to w every second until the
// returned stop is called; stop waits for the printer to end.
func (r *run) startProgress(w io.Writer) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				r.printProgress(w)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func (r *run) printProgress(w io.Writer) {
	p := r.progress()
	line := fmt.Sprintf("bench %5.0fs  %-22s connected %d/%d", time.Since(r.start).Seconds(), *r.phase.Load(), p.Connected, r.cfg.Conns)
	if p.Failed > 0 {
		line += fmt.Sprintf(" (failed %d)", p.Failed)
	}
	if p.Live != p.Connected {
		line += fmt.Sprintf(" open %d", p.Live)
	}
	if r.cfg.Scenario != ScenarioIdle {
		line += fmt.Sprintf("  sent %d  received %d/%d", r.totals.sent.Load(), p.Received, r.totals.expected.Load())
	}
	if ch := r.churn.Load(); ch != nil {
		line += fmt.Sprintf("  churn %d cycles, %d resumes", ch.cycles.Load(), ch.resumes.Load())
	}
	fmt.Fprintln(w, line)
}
