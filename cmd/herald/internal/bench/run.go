package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

const (
	// drainQuiet ends the wait for late deliveries after the last step
	// once nothing has arrived for this long; drainMax caps the wait.
	drainQuiet = 2 * time.Second
	drainMax   = 15 * time.Second
	// finishTimeout bounds closing every client at the end.
	finishTimeout = time.Minute
	// statsTimeout bounds a GetStats or /metrics read.
	statsTimeout = 5 * time.Second
	// tokenMargin is how long client tokens outlive the run's cap.
	tokenMargin = 10 * time.Minute
)

// run is the state of one Run.
type run struct {
	// immutable after Run has set them up
	cfg    Config
	rep    *Report
	tag    uint32
	api    pushv1.PushServiceClient // nil when no API key was given (idle)
	shares []share
	start  time.Time // of the run
	dialed time.Time // when the shares started connecting

	// read by the progress line
	phase  atomic.Pointer[string]
	totals runningTotals
	churn  atomic.Pointer[churn] // the soak's, once started
}

// Run generates load against a Herald server on loopback as cfg says and
// returns what it measured. It prints a progress line to progressOut (nil:
// none) every second. When ctx ends (a signal) or the --duration cap
// passes, it stops early, still closes its clients, and returns the
// partial report with the reason, which is also the error. The error is
// also non-nil when the configuration is bad (no report then) or when no
// client connected.
func Run(ctx context.Context, cfg Config, progressOut io.Writer) (*Report, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.newWorkerCmd == nil {
		cfg.newWorkerCmd = defaultWorkerCmd
	}
	limit := raiseFileLimit()
	workers, err := workerCount(cfg, limit)
	if err != nil {
		return nil, err
	}
	r := &run{
		cfg:   cfg,
		tag:   rand.Uint32(),
		start: time.Now(),
		rep: &Report{
			Params:  paramsOf(cfg),
			Host:    hostInfo(limit),
			Started: time.Now().UTC(),
			Workers: workers,
		},
	}
	r.setPhase("starting")
	ctx, cancel := context.WithTimeout(ctx, cfg.runCap())
	defer cancel()

	if cfg.APIKey != "" {
		conn, err := grpc.NewClient(cfg.GRPCAddr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(grpcapi.Bearer(cfg.APIKey)))
		if err != nil {
			return nil, fmt.Errorf("--grpc-addr: %w", err)
		}
		defer conn.Close()
		r.api = pushv1.NewPushServiceClient(conn)
	}

	stopProgress := r.startProgress(progressOut)
	defer stopProgress()
	if cfg.Scenario == ScenarioSoak {
		return r.soak(ctx)
	}

	memBefore := r.sampleMemory(ctx)
	if err := r.startShares(ctx, workers); err != nil {
		return nil, err
	}
	r.connect(ctx)
	if c := r.rep.Connect; c.Failed > 0 {
		r.problem("%d of %d clients failed to connect (see the connect errors): the figures cover the %d that did", c.Failed, c.Attempted, c.Connected)
	}
	if r.cfg.Scenario == ScenarioIdle {
		r.setPhase("settling")
		wait(ctx, cfg.Settle)
	}
	r.rep.Memory = memoryReport(memBefore, r.sampleMemory(ctx), r.rep.Connect.Connected)

	var sends []stepAccount
	if cfg.Scenario != ScenarioIdle && r.rep.Connect.Connected > 0 {
		var fl *flooder
		if cfg.Flood > 0 {
			fl = startFlood(ctx, cfg)
		}
		var st *stuckClients
		if cfg.Stuck > 0 {
			if st, err = startStuck(ctx, cfg); err != nil {
				r.problem("%v", err)
			}
		}
		sends = r.runSteps(ctx)
		if fl != nil {
			r.rep.Flood = fl.stop()
		}
		if st != nil {
			st.stop()
		}
		// An interrupted run still waits a little for the deliveries of
		// the calls it made, or its last step would read as lossy.
		limit := drainMax
		if ctx.Err() != nil {
			limit = drainQuiet
		}
		r.drain(limit)
	}
	var endErr error
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			endErr = fmt.Errorf("the --duration cap (%v) ended the run early", cfg.Duration)
		} else {
			endErr = errors.New("interrupted: the run ended early")
		}
		r.problem("%v", endErr)
	}

	r.setPhase("closing")
	results := r.finish(ctx)
	r.merge(results, sends)
	r.rep.Seconds = time.Since(r.start).Seconds()
	if r.rep.Connect.Connected == 0 {
		return r.rep, fmt.Errorf("no client connected to %s (see the connect errors)", cfg.WSURL)
	}
	return r.rep, endErr
}

// workerCount decides how many worker processes hold the clients: 0 when
// this process holds them all. With probes and no --workers, the clients
// go to two workers: in this process, a probe's reply waited behind the
// receiving of a saturating broadcast (GetStats p99 26-30 ms with the
// clients here, 11-12 ms with them in workers, same server and load).
func workerCount(cfg Config, limit uint64) (int, error) {
	perProc := maxClientsPerProcess(limit)
	n := cfg.Workers
	if n == 0 {
		n = (cfg.Conns + perProc - 1) / perProc
		if cfg.ProbeRate > 0 {
			n = max(n, probeWorkers)
		}
	}
	if n <= 1 {
		if cfg.Conns > perProc {
			return 0, fmt.Errorf("--workers: one process holds at most %d clients (open-files limit %d); %d need at least %d workers",
				perProc, limit, cfg.Conns, (cfg.Conns+perProc-1)/perProc)
		}
		return 0, nil
	}
	if per := (cfg.Conns + n - 1) / n; per > perProc {
		return 0, fmt.Errorf("--workers: %d workers would hold %d clients each, over the %d one process can (open-files limit %d)", n, per, perProc, limit)
	}
	return n, nil
}

// probeWorkers is how many worker processes hold the clients of a run
// with probes, unless --workers says otherwise.
const probeWorkers = 2

// startShares starts this process's fleet, or the worker processes.
func (r *run) startShares(ctx context.Context, workers int) error {
	cfg := r.cfg
	n := max(workers, 1)
	deadline, _ := ctx.Deadline()
	var rsaKey []byte
	if cfg.JWTKeyFile != "" {
		b, err := os.ReadFile(cfg.JWTKeyFile)
		if err != nil {
			return fmt.Errorf("--jwt-private-key: %w", err)
		}
		rsaKey = b
	}
	r.dialed = time.Now()
	for k := range n {
		first, count := k*cfg.Conns/n, (k+1)*cfg.Conns/n-k*cfg.Conns/n
		spec := fleetSpec{
			WSURL: cfg.WSURL, JWTSecret: []byte(cfg.JWTSecret), RSAKeyPEM: rsaKey, Audience: cfg.JWTAudience, Issuer: cfg.JWTIssuer,
			Compress: cfg.Compress,
			First:    first, Count: count, Users: cfg.Users, Groups: cfg.Groups,
			SourceIPs: cfg.SourceIPs, DialRate: cfg.DialRate / float64(n),
			Tag: r.tag, Steps: len(cfg.Rates), TokenTTL: cfg.Duration + tokenMargin,
		}
		if workers == 0 {
			f, err := newFleet(spec)
			if err != nil {
				return err
			}
			r.shares = append(r.shares, startLocal(ctx, f))
			continue
		}
		// A worker outlives a cancelled run long enough to close its
		// clients and report; its own deadline is the backstop.
		wctx, wcancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(finishTimeout+time.Minute))
		w, err := startWorker(wctx, cfg.newWorkerCmd, workerSpec{Fleet: spec, Deadline: deadline.Add(finishTimeout)})
		if err != nil {
			wcancel()
			r.finish(ctx) // the workers already started
			return err
		}
		r.shares = append(r.shares, &cancelOnFinish{w, wcancel})
	}
	return nil
}

// cancelOnFinish releases a worker's context once the worker is finished.
type cancelOnFinish struct {
	*workerShare
	cancel context.CancelFunc
}

func (c *cancelOnFinish) finish(ctx context.Context) (shareResult, error) {
	defer c.cancel()
	return c.workerShare.finish(ctx)
}

// connect waits until every share has connected its clients.
func (r *run) connect(ctx context.Context) {
	r.setPhase("connecting")
	for _, s := range r.shares {
		select {
		case <-s.ready():
		case <-ctx.Done():
		}
	}
	elapsed := time.Since(r.dialed)
	p := r.progress()
	c := &r.rep.Connect
	c.Attempted, c.Connected, c.Failed = r.cfg.Conns, p.Connected, p.Failed
	c.Seconds = elapsed.Seconds()
	if c.Seconds > 0 {
		c.PerSecond = float64(p.Connected) / c.Seconds
	}
	if st, err := r.serverStats(ctx); err == nil && st != nil {
		c.ServerConnections = st.GetConnections()
	}
}

// drain waits for the deliveries still on their way after the last step:
// until all expected have arrived, nothing has arrived for drainQuiet, or
// limit has passed. It runs after an interrupt too, so it has no context:
// limit bounds it.
func (r *run) drain(limit time.Duration) {
	r.setPhase("draining")
	want := r.totals.expected.Load()
	start := time.Now()
	last, lastChange := int64(-1), start
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got := r.progress().Received
		now := time.Now()
		if got >= want {
			return
		}
		if got != last {
			last, lastChange = got, now
		}
		if now.Sub(lastChange) >= drainQuiet || now.Sub(start) >= limit {
			return
		}
		<-tick.C
	}
}

// finish closes every share's clients in parallel and collects their
// accounts; it runs even after ctx has ended.
func (r *run) finish(ctx context.Context) []shareResult {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	results := make([]shareResult, len(r.shares))
	errs := make([]error, len(r.shares))
	var wg sync.WaitGroup
	for i, s := range r.shares {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.finish(fctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			r.problem("%v", err)
		}
	}
	return results
}

// progress sums the shares' counters.
func (r *run) progress() progress {
	var p progress
	for _, s := range r.shares {
		p.add(s.progress())
	}
	return p
}

func (r *run) setPhase(p string) { r.phase.Store(&p) }

func (r *run) problem(format string, args ...any) {
	r.rep.Problems = append(r.rep.Problems, fmt.Sprintf(format, args...))
}

// wait waits for d or for ctx to end.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
