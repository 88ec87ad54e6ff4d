package bench

import (
	"context"
	"os"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// serverStats asks the server for its counters; nil without an API key.
func (r *run) serverStats(ctx context.Context) (*pushv1.Stats, error) {
	if r.api == nil || ctx.Err() != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	resp, err := r.api.GetStats(ctx, &pushv1.GetStatsRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetStats(), nil
}

// serverCPU is the server's CPU time so far, or 0 without --server-pid.
func (r *run) serverCPU() time.Duration {
	if r.cfg.ServerPID == 0 {
		return 0
	}
	d, _ := readCPU(r.cfg.ServerPID)
	return d
}

// benchPIDs are the load generator's processes: this one and its
// workers.
func (r *run) benchPIDs() []int {
	pids := []int{os.Getpid()}
	for _, s := range r.shares {
		if w, ok := s.(*cancelOnFinish); ok {
			pids = append(pids, w.cmd.Process.Pid)
		}
	}
	return pids
}

// benchCPU is the CPU time each of the load generator's processes has
// used so far, in benchPIDs order.
func (r *run) benchCPU() []time.Duration {
	pids := r.benchPIDs()
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		out[i], _ = readCPU(pid)
	}
	return out
}

// hostCPU is the machine's busy CPU time so far, or 0 when unknown.
func hostCPU() time.Duration {
	d, _ := readHostCPU()
	return d
}

// memSample is the server's memory at one moment, from /proc and /metrics.
type memSample struct {
	rss     int64
	metrics serverMemory
}

func (r *run) sampleMemory(ctx context.Context) memSample {
	var m memSample
	if r.cfg.ServerPID != 0 {
		rss, err := readRSS(r.cfg.ServerPID)
		if err != nil {
			r.problem("--server-pid: %v", err)
		}
		m.rss = rss
	}
	if r.cfg.AdminURL != "" && ctx.Err() == nil {
		mm, err := scrapeMemory(ctx, r.cfg.AdminURL)
		if err != nil {
			r.problem("--admin-url: %v", err)
		}
		m.metrics = mm
		if m.rss == 0 {
			m.rss = mm.RSS
		}
	}
	return m
}

func memoryReport(before, after memSample, conns int64) *MemoryReport {
	if after.rss == 0 && after.metrics.HeapInuse == 0 {
		return nil
	}
	per := func(a, b int64) float64 {
		if conns == 0 || a == 0 || b == 0 {
			return 0
		}
		return float64(b-a) / float64(conns)
	}
	return &MemoryReport{
		RSSBefore: before.rss, RSSAfter: after.rss, RSSPerConn: per(before.rss, after.rss),
		HeapBefore: before.metrics.HeapInuse, HeapAfter: after.metrics.HeapInuse,
		HeapPerConn: per(before.metrics.HeapInuse, after.metrics.HeapInuse),
		StackBefore: before.metrics.StackInuse, StackAfter: after.metrics.StackInuse,
		StackPerConn:     per(before.metrics.StackInuse, after.metrics.StackInuse),
		GoroutinesBefore: before.metrics.Goroutines, GoroutinesAfter: after.metrics.Goroutines,
		GoroutinesPerConn: per(before.metrics.Goroutines, after.metrics.Goroutines),
	}
}
