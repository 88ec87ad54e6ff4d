package bench

import (
	"context"
	"fmt"
	"time"
)

// stepAccount is the sender's side of one step with the server's
// counters around it.
type stepAccount struct {
	send      *stepSend
	rate      float64
	serverCPU time.Duration
	benchCPU  time.Duration // all its processes together
	bench     saturation
	hostCPU   time.Duration // the whole machine
	server    *ServerDelta
}

// runSteps runs the rate steps in order.
func (r *run) runSteps(ctx context.Context) []stepAccount {
	cfg := r.cfg
	d := &driver{
		api: r.api, scenario: cfg.Scenario, payload: cfg.Payload, tag: r.tag,
		callers: cfg.Callers, conns: cfg.Conns, users: cfg.Users, groups: cfg.Groups, churn: cfg.Churn,
		connected: r.rep.Connect.Connected, offline: cfg.Offline, window: cfg.Window, probeRate: cfg.ProbeRate,
	}
	var out []stepAccount
	for i, rate := range cfg.Rates {
		if ctx.Err() != nil {
			break
		}
		r.setPhase(fmt.Sprintf("step %d/%d at %g/s", i+1, len(cfg.Rates), rate))
		cpus := r.benchCPUSets()
		srv0, bench0, host0 := r.serverCPU(), r.benchCPU(), hostCPU()
		st0, _ := r.serverStats(ctx)
		s := d.runStep(ctx, i, rate, cfg.Step, &r.totals)
		st1, _ := r.serverStats(ctx)
		a := stepAccount{send: s, rate: rate, serverCPU: r.serverCPU() - srv0, hostCPU: hostCPU() - host0}
		used := r.benchCPU()
		for j := range used {
			used[j] -= bench0[j]
			a.benchCPU += used[j]
		}
		a.bench = judgeSaturation(used, cpus, s.elapsed.Seconds())
		if st0 != nil && st1 != nil {
			a.server = &ServerDelta{
				MessagesOut:             st1.GetMessagesOut() - st0.GetMessagesOut(),
				BytesOutRaw:             st1.GetBytesOutRaw() - st0.GetBytesOutRaw(),
				BytesOutWire:            st1.GetBytesOutWire() - st0.GetBytesOutWire(),
				Drops:                   st1.GetDrops() - st0.GetDrops(),
				SlowConsumerDisconnects: st1.GetSlowConsumerDisconnects() - st0.GetSlowConsumerDisconnects(),
			}
		}
		out = append(out, a)
	}
	return out
}

// merge adds up the shares' accounts and the sender's into the report.
func (r *run) merge(results []shareResult, sends []stepAccount) {
	rep := r.rep
	steps := make([]histSnapshot, len(r.cfg.Rates))
	for _, res := range results {
		for k, v := range res.DialErrors {
			if rep.Connect.Errors == nil {
				rep.Connect.Errors = map[string]int{}
			}
			rep.Connect.Errors[k] += v
		}
		for k, v := range res.ServerCloses {
			if rep.ServerCloses == nil {
				rep.ServerCloses = map[string]int{}
			}
			rep.ServerCloses[k] += v
		}
		rep.BadFrames += res.BadFrames
		rep.Foreign += res.Foreign
		for i := range min(len(steps), len(res.Steps)) {
			steps[i].merge(res.Steps[i])
		}
	}
	for i, a := range sends {
		s := a.send
		secs := s.elapsed.Seconds()
		calls := s.calls.snapshot()
		sr := StepReport{
			Rate: a.rate, Seconds: secs,
			Sent: s.sent.Load(), Skipped: s.skipped.Load(), Errors: s.errors.Load(), FirstError: s.firstErr,
			CallLatency: calls.summary(),
			Expected:    s.expected.Load(), ServerDelivered: s.serverDelivered.Load(),
			Received: int64(steps[i].total), Latency: steps[i].summary(),
			Server: a.server,
		}
		if s.probes != nil {
			sr.Probes = s.probes.report(r.cfg.ProbeRate)
		}
		if r.cfg.Scenario == ScenarioSoak {
			sr.PushCalls = map[string]int64{}
			for k, name := range kindNames {
				sr.PushCalls[name] = s.kinds[k].Load()
			}
		}
		if secs > 0 {
			sr.CallsPerSec = float64(sr.Sent) / secs
			sr.DeliveriesPerSec = float64(sr.Received) / secs
			sr.ServerCPUCores = a.serverCPU.Seconds() / secs
			sr.BenchCPUCores = a.benchCPU.Seconds() / secs
			sr.BenchCPUs, sr.BenchSaturated, sr.BenchBusiestShare = a.bench.cpus, a.bench.saturated, a.bench.busiest
			if r.cfg.ServerPID != 0 && a.hostCPU > 0 {
				sr.OtherCPUCores = max(0, (a.hostCPU-a.serverCPU-a.benchCPU).Seconds()/secs)
			}
		}
		if sr.Expected > 0 {
			sr.Completeness = 100 * float64(sr.Received) / float64(sr.Expected)
		}
		if sr.Received > 0 && a.serverCPU > 0 {
			sr.ServerCPUNsPerDelivery = float64(a.serverCPU.Nanoseconds()) / float64(sr.Received)
		}
		rep.Steps = append(rep.Steps, sr)
	}
}
