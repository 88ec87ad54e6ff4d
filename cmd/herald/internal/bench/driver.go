package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// callTimeout bounds one gRPC push call.
const callTimeout = 10 * time.Second

// driver sends the pushes of a scenario over one gRPC client connection.
type driver struct {
	// immutable after newDriver
	api       pushv1.PushServiceClient
	scenario  string
	payload   int
	tag       uint32
	callers   int
	conns     int
	users     int
	groups    int
	churn     int     // soak: churning clients, users churnUser(0..churn-1)
	connected int64   // clients connected when the steps began: a broadcast reaches them all
	offline   bool    // push to users no client holds
	window    int     // stream: requests per stream without a result
	probeRate float64 // GetStats and single PushToUsers probes a second, beside the load
}

// Push kinds, the index of stepSend.kinds.
const (
	kindUsers = iota
	kindGroups
	kindBroadcast
	pushKinds
)

var kindNames = [pushKinds]string{"users", "groups", "broadcast"}

// stepSend is the sender's account of one rate step. Its counters are
// written by the callers of the step.
type stepSend struct {
	sent            atomic.Int64 // calls that succeeded
	errors          atomic.Int64
	skipped         atomic.Int64            // due calls dropped: every caller was busy
	expected        atomic.Int64            // deliveries the successful calls should make
	serverDelivered atomic.Int64            // sum of the responses' delivered
	kinds           [pushKinds]atomic.Int64 // successful calls by kind
	calls           shardedHist             // call latency, sharded by caller
	probes          *probeSend              // nil without --probe-rate

	errOnce  sync.Once
	firstErr string // written once under errOnce

	elapsed time.Duration // written by runStep after the callers are done
}

func (s *stepSend) fail(err error) {
	s.errors.Add(1)
	s.errOnce.Do(func() { s.firstErr = err.Error() })
}

// runningTotals are the run's sends so far, for the progress line.
type runningTotals struct {
	sent     atomic.Int64
	expected atomic.Int64
}

// runStep sends at rate calls per second for dur, from d.callers
// goroutines fed by a pacer (for the stream scenario, requests on a
// stream per caller). A call that comes due while every caller is busy is
// skipped and counted, not queued: the step measures what the server
// sustains at that rate, not how long a backlog takes to clear.
func (d *driver) runStep(ctx context.Context, step int, rate float64, dur time.Duration, totals *runningTotals) *stepSend {
	s := &stepSend{}
	// The pacer emits the calls due each millisecond back to back. An
	// idle unary caller takes its token as it comes; a stream sender is
	// seldom idle, so its tokens wait here, up to a window's worth.
	backlog := d.callers
	if d.scenario == ScenarioStream {
		backlog *= d.window
	}
	due := make(chan struct{}, backlog)
	start := time.Now()
	var wg sync.WaitGroup
	if d.probeRate > 0 {
		s.probes = &probeSend{}
		wg.Go(func() { d.runProbes(ctx, step, dur, s, totals) })
	}
	for id := range d.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d.scenario == ScenarioStream {
				d.streamCaller(ctx, id, step, start.Add(dur), due, s, totals)
				return
			}
			d.caller(ctx, id, step, due, s, totals)
		}()
	}
	newPacer(rate, dur).run(ctx, func(int) {
		select {
		case due <- struct{}{}:
		default:
			s.skipped.Add(1)
		}
	})
	// The pacer's last call comes due 1/rate before the step's end; the
	// step lasts its whole length so that steps compare.
	end := time.NewTimer(time.Until(start.Add(dur)))
	select {
	case <-end.C:
	case <-ctx.Done():
	}
	end.Stop()
	close(due)
	wg.Wait()
	s.elapsed = time.Since(start)
	return s
}

// caller makes one call per token until due is closed.
func (d *driver) caller(ctx context.Context, id, step int, due <-chan struct{}, s *stepSend, totals *runningTotals) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(d.tag)<<16|uint64(step)))
	// One payload buffer per caller: gRPC has marshalled it by the time
	// the call returns, so the next call may overwrite it.
	payload := newPayload(d.payload, d.tag, step)
	msg := &pushv1.Message{Topic: "bench", Payload: payload}
	for range due {
		if ctx.Err() != nil {
			continue // drain the tokens; the run is ending
		}
		t0 := time.Now()
		stamp(payload, t0)
		// A call under way when the run is interrupted runs to its end:
		// cancelled, its deliveries would arrive without being counted as
		// sent.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		kind, expected, delivered, err := d.call(cctx, rng, msg)
		cancel()
		if err != nil {
			s.fail(err)
			continue
		}
		s.kinds[kind].Add(1)
		s.calls.record(id, int64(time.Since(t0)))
		s.sent.Add(1)
		s.expected.Add(expected)
		s.serverDelivered.Add(int64(delivered))
		totals.sent.Add(1)
		totals.expected.Add(expected)
	}
}

// call makes one push of the scenario and returns its kind, the
// deliveries it should make to the fleet and those the server says it
// queued.
func (d *driver) call(ctx context.Context, rng *rand.Rand, msg *pushv1.Message) (int, int64, uint64, error) {
	kind := kindBroadcast
	switch d.scenario {
	case ScenarioUsers:
		kind = kindUsers
	case ScenarioGroups:
		kind = kindGroups
	case ScenarioSoak:
		// The soak's mix: 60% to users (a third of them churning), 30% to
		// groups, 10% broadcast.
		switch k := rng.IntN(10); {
		case k < 6 || d.groups == 0 && k < 9:
			kind = kindUsers
			if d.churn > 0 && k%3 == 0 {
				u := churnUser(rng.IntN(d.churn))
				r, err := d.api.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{u}, Message: msg})
				return kind, 0, r.GetDelivered(), err // the churner counts what it gets
			}
		case k < 9:
			kind = kindGroups
		}
	}
	switch kind {
	case kindUsers:
		user, expected := d.pickUser(rng)
		r, err := d.api.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{user}, Message: msg})
		return kind, expected, r.GetDelivered(), err
	case kindGroups:
		g := rng.IntN(min(d.groups, d.conns))
		r, err := d.api.PushToGroups(ctx, &pushv1.PushToGroupsRequest{Groups: []string{groupOf(g, d.groups)}, Message: msg})
		return kind, clientsOf(g, d.groups, d.conns), r.GetDelivered(), err
	default:
		r, err := d.api.Broadcast(ctx, &pushv1.BroadcastRequest{Message: msg})
		return kind, d.connected, r.GetDelivered(), err
	}
}

// pickUser picks the user of a push to one user, and how many clients it
// reaches: a random one of the fleet's, or with offline one no client
// holds.
func (d *driver) pickUser(rng *rand.Rand) (string, int64) {
	if d.offline {
		return offlineUser(rng.IntN(d.users)), 0
	}
	u := rng.IntN(min(d.users, d.conns))
	return userOf(u, d.users), clientsOf(u, d.users, d.conns)
}

// clientsOf is how many of conns clients have key j when client i has key
// i%k: the clients a push to user (or group) j reaches.
func clientsOf(j, k, conns int) int64 {
	n := conns / k
	if j < conns%k {
		n++
	}
	return int64(n)
}
