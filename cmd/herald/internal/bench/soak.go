package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The soak's verdict: after the load, once every client has gone, the
// server's goroutines, heap and RSS are "back to baseline" when each is at
// most its baseline plus a slack:
//
//   - goroutines: 5. An idle server's count is steady to the goroutine
//     (the scrape itself is one, in both samples); a leak of one goroutine
//     per connection over thousands of cycles shows as thousands.
//   - heap in use: 4 MiB or a quarter of the baseline, whichever is
//     larger. Pools (gws's deflaters, buffers) may keep a few MiB after a
//     GC; a leak of even 1 KiB per churn cycle exceeds it within minutes.
//   - RSS: 16 MiB or a quarter of the baseline. The Go runtime gives freed
//     memory back to the OS gradually, so RSS lags the heap.
const (
	goroutineSlack  = 5
	heapSlackMin    = 4 << 20
	rssSlackMin     = 16 << 20
	slackOfBaseline = 4 // a quarter
)

// soakPoll is the pause between checks of the server after the load.
const soakPoll = 2 * time.Second

// SoakSample is the server at one moment of the soak.
type SoakSample struct {
	Seconds     float64 `json:"seconds"`     // since the run started
	Phase       string  `json:"phase"`       // baseline, load or after
	Connections int64   `json:"connections"` // the server's, from GetStats
	Goroutines  int64   `json:"goroutines"`  // go_goroutines
	RSS         int64   `json:"rss_bytes"`   // process_resident_memory_bytes (or /proc with --server-pid)
	HeapInuse   int64   `json:"heap_inuse_bytes"`
	AfterGC     bool    `json:"after_gc"` // a GC was forced first (the server's pprof is on)
}

// SoakTolerance is how far above its baseline each figure may end.
type SoakTolerance struct {
	Goroutines int64 `json:"goroutines"`
	HeapBytes  int64 `json:"heap_bytes"`
	RSSBytes   int64 `json:"rss_bytes"`
}

func toleranceFor(base SoakSample) SoakTolerance {
	return SoakTolerance{
		Goroutines: goroutineSlack,
		HeapBytes:  max(heapSlackMin, base.HeapInuse/slackOfBaseline),
		RSSBytes:   max(rssSlackMin, base.RSS/slackOfBaseline),
	}
}

// back reports which figures of s are within the tolerance of base.
func (t SoakTolerance) back(base, s SoakSample) (goroutines, heap, rss bool) {
	return s.Goroutines <= base.Goroutines+t.Goroutines,
		s.HeapInuse <= base.HeapInuse+t.HeapBytes,
		s.RSS <= base.RSS+t.RSSBytes
}

// SoakReport is what the soak saw of the server, and the churn.
type SoakReport struct {
	LoadSeconds float64      `json:"load_seconds"`
	Baseline    SoakSample   `json:"baseline"` // before any client connected
	Samples     []SoakSample `json:"samples"`  // during the load
	// After is the last sample taken after the load, once the clients had
	// gone: the first within tolerance, or the one at the end of --settle.
	After SoakSample `json:"after"`
	// SettleSeconds is how long after the clients had closed After came.
	SettleSeconds  float64       `json:"settle_seconds"`
	Tolerance      SoakTolerance `json:"tolerance"`
	GoroutinesBack bool          `json:"goroutines_back"`
	HeapBack       bool          `json:"heap_back"`
	RSSBack        bool          `json:"rss_back"`
	Churn          ChurnReport   `json:"churn"`
}

// soak is Run for the soak scenario: baseline, load (steady clients
// receiving a mix of pushes, churning clients that resume), then a wait
// for the server to come back to its baseline.
func (r *run) soak(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	sr := &SoakReport{}
	r.rep.Soak = sr
	// The gRPC connection opens before the baseline, so that its
	// goroutines on the server count in every sample alike.
	if _, err := r.serverStats(ctx); err != nil {
		return nil, fmt.Errorf("--grpc-addr: GetStats: %w", err)
	}
	r.setPhase("baseline")
	base, err := r.soakSample(ctx, "baseline", true)
	if err != nil {
		return nil, err
	}
	sr.Baseline, sr.Tolerance = base, toleranceFor(base)
	if !base.AfterGC {
		r.problem("the server's pprof is off (--pprof): no GC could be forced, so heap and RSS include garbage and their verdict is loose")
	}

	if err := r.startShares(ctx, 0); err != nil {
		return nil, err
	}
	r.connect(ctx)
	if c := r.rep.Connect; c.Failed > 0 {
		r.problem("%d of %d clients failed to connect (see the connect errors)", c.Failed, c.Attempted)
	}
	f := r.shares[0].(*localShare).f
	ch := startChurn(ctx, cfg, f.mint, f.ipv4)
	r.churn.Store(ch)
	smp := r.startSampler(ctx, min(max(cfg.Duration/10, time.Second), 30*time.Second))
	loadStart := time.Now()
	sends := r.runSteps(ctx)
	sr.LoadSeconds = time.Since(loadStart).Seconds()
	sr.Churn = ch.stop()
	var sampleErr error
	sr.Samples, sampleErr = smp.stop()
	if sampleErr != nil {
		r.problem("sampling the server during the load: %v", sampleErr)
	}
	limit := drainMax
	if ctx.Err() != nil {
		limit = drainQuiet
	}
	r.drain(limit)
	var endErr error
	if err := ctx.Err(); err != nil {
		endErr = errors.New("interrupted: the soak ended early, without its check of the server")
		if errors.Is(err, context.DeadlineExceeded) {
			endErr = errors.New("the run's time cap ended the soak early, without its check of the server")
		}
		r.problem("%v", endErr)
	}
	r.setPhase("closing")
	r.merge(r.finish(ctx), sends)
	if endErr == nil {
		r.settle(ctx, sr)
		// RSS only informs: it follows the runtime's pace of returning
		// memory to the OS, not what the server holds.
		if !sr.GoroutinesBack || !sr.HeapBack {
			endErr = fmt.Errorf("the server's goroutines or heap did not come back to their baseline within --settle (%v): see the verdict", cfg.Settle)
		}
	}
	r.rep.Seconds = time.Since(r.start).Seconds()
	if r.rep.Connect.Connected == 0 {
		return r.rep, fmt.Errorf("no client connected to %s (see the connect errors)", cfg.WSURL)
	}
	return r.rep, endErr
}

// settle waits, after the load, until the server counts no connection and
// its figures are back within tolerance, or --settle has passed, forcing a
// GC before each look.
func (r *run) settle(ctx context.Context, sr *SoakReport) {
	r.setPhase("settling")
	start := time.Now()
	for {
		s, err := r.soakSample(ctx, "after", true)
		if err == nil {
			sr.After = s
			if s.Connections == 0 {
				sr.GoroutinesBack, sr.HeapBack, sr.RSSBack = sr.Tolerance.back(sr.Baseline, s)
				if sr.GoroutinesBack && sr.HeapBack && sr.RSSBack {
					break
				}
			}
		}
		if time.Since(start) >= r.cfg.Settle || ctx.Err() != nil {
			if err != nil {
				r.problem("reading the server after the load: %v", err)
			}
			break
		}
		pause(ctx, soakPoll)
	}
	sr.SettleSeconds = time.Since(start).Seconds()
	if sr.After.Connections != 0 {
		r.problem("the server still counted %d connections %.0fs after every client had closed", sr.After.Connections, sr.SettleSeconds)
	}
	if !sr.RSSBack {
		r.problem("RSS not back within --settle: the Go runtime returns freed memory to the OS gradually; with the heap back, that is not a leak")
	}
	if !sr.HeapBack {
		r.problem("heap not back within --settle: the server keeps pushes for its --history-ttl (5m by default) and forgets idle streams after it, and keeps events for its --events-max-age (1h); give the server a --history-ttl and an --events-max-age shorter than --settle to tell that from a leak")
	}
}

// soakSample reads the server's figures, forcing a GC first when gc is
// set and the server's pprof allows it.
func (r *run) soakSample(ctx context.Context, phase string, gc bool) (SoakSample, error) {
	s := SoakSample{Phase: phase, Connections: -1}
	if gc {
		forced, err := forceGC(ctx, r.cfg.AdminURL)
		if err != nil {
			return s, fmt.Errorf("--admin-url: forcing a GC: %w", err)
		}
		s.AfterGC = forced
	}
	m, err := scrapeMemory(ctx, r.cfg.AdminURL)
	if err != nil {
		return s, fmt.Errorf("--admin-url: %w", err)
	}
	s.Goroutines, s.RSS, s.HeapInuse = m.Goroutines, m.RSS, m.HeapInuse
	if r.cfg.ServerPID != 0 {
		if rss, err := readRSS(r.cfg.ServerPID); err == nil {
			s.RSS = rss
		}
	}
	st, err := r.serverStats(ctx)
	if err != nil {
		return s, fmt.Errorf("--grpc-addr: GetStats: %w", err)
	}
	s.Connections = int64(st.GetConnections())
	s.Seconds = time.Since(r.start).Seconds()
	return s, nil
}

// forceGC asks the server for a heap profile after a GC (pprof's
// /debug/pprof/heap?gc=1), which is the one way to run its GC from
// outside. It reports false, without an error, when pprof is off (404).
func forceGC(ctx context.Context, adminURL string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	u := strings.TrimSuffix(strings.TrimSuffix(adminURL, "/"), "/metrics") + "/debug/pprof/heap?gc=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		// The profile itself is of no use here; reading it to the end lets
		// the handler finish.
		_, err = io.Copy(io.Discard, resp.Body)
		return err == nil, err
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("GET %s: %s", u, resp.Status)
}

// sampler reads the server periodically during the load. Its samples
// belong to its goroutine until stop returns them.
type sampler struct {
	stopc, done chan struct{}
	samples     []SoakSample
	err         error // the first failure
}

func (r *run) startSampler(ctx context.Context, every time.Duration) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// No forced GC under load: it would change what it measures.
			smp, err := r.soakSample(ctx, "load", false)
			if err != nil {
				if s.err == nil && ctx.Err() == nil {
					s.err = err
				}
				continue
			}
			s.samples = append(s.samples, smp)
		}
	}()
	return s
}

func (s *sampler) stop() ([]SoakSample, error) {
	close(s.stopc)
	<-s.done
	return s.samples, s.err
}
