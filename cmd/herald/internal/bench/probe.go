package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// maxProbesInFlight bounds the probe calls under way at once: a probe that
// comes due while that many wait is skipped and counted.
const maxProbesInFlight = 64

// probeSend is the account of one step's probe calls (--probe-rate): a
// GetStats and a PushToUsers to one random user in turn, at a low rate,
// alongside the scenario's load, to see how quickly a busy node answers
// a call. Each call runs on a goroutine of its own, so that a slow one
// does not delay the next.
type probeSend struct {
	stats, push histogram // call latency by kind
	errors      atomic.Int64
	skipped     atomic.Int64

	errOnce  sync.Once
	firstErr string // written once under errOnce
}

func (p *probeSend) fail(err error) {
	p.errors.Add(1)
	p.errOnce.Do(func() { p.firstErr = err.Error() })
}

// runProbes makes d.probeRate probe calls a second for dur, counting the
// pushes' deliveries as expected by the step and the run, and returns once
// every call has returned.
func (d *driver) runProbes(ctx context.Context, step int, dur time.Duration, s *stepSend, totals *runningTotals) {
	p := s.probes
	rng := rand.New(rand.NewPCG(uint64(d.tag), uint64(step)))
	slots := make(chan struct{}, maxProbesInFlight)
	var wg sync.WaitGroup
	newPacer(d.probeRate, dur).run(ctx, func(i int) {
		select {
		case slots <- struct{}{}:
		default:
			p.skipped.Add(1)
			return
		}
		u := rng.IntN(min(d.users, d.conns))
		wg.Go(func() {
			defer func() { <-slots }()
			d.probe(ctx, step, i%2 == 1, u, s, totals)
		})
	})
	wg.Wait()
}

// probe makes one probe call: a PushToUsers to user u, or a GetStats.
func (d *driver) probe(ctx context.Context, step int, push bool, u int, s *stepSend, totals *runningTotals) {
	p := s.probes
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	if !push {
		t0 := time.Now()
		if _, err := d.api.GetStats(cctx, &pushv1.GetStatsRequest{}); err != nil {
			p.fail(err)
			return
		}
		p.stats.record(int64(time.Since(t0)))
		return
	}
	// The push carries the run's stamp, so its client counts it with the
	// step's deliveries, which then expect it.
	payload := newPayload(d.payload, d.tag, step)
	t0 := time.Now()
	stamp(payload, t0)
	_, err := d.api.PushToUsers(cctx, &pushv1.PushToUsersRequest{
		UserIds: []string{userOf(u, d.users)},
		Message: &pushv1.Message{Topic: "bench-probe", Payload: payload},
	})
	if err != nil {
		p.fail(err)
		return
	}
	p.push.record(int64(time.Since(t0)))
	n := clientsOf(u, d.users, d.conns)
	s.expected.Add(n)
	totals.expected.Add(n)
}

// ProbeReport is a step's probe calls (--probe-rate).
type ProbeReport struct {
	Rate        float64 `json:"rate"` // probe calls per second, both kinds
	GetStats    Latency `json:"get_stats"`
	PushToUsers Latency `json:"push_to_users"`
	Skipped     int64   `json:"skipped"` // due while maxProbesInFlight were under way
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

func (p *probeSend) report(rate float64) *ProbeReport {
	var stats, push histSnapshot
	p.stats.addTo(&stats)
	p.push.addTo(&push)
	return &ProbeReport{
		Rate: rate, GetStats: stats.summary(), PushToUsers: push.summary(),
		Skipped: p.skipped.Load(), Errors: p.errors.Load(), FirstError: p.firstErr,
	}
}
