package client_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/internal/nodetest"
)

// BenchmarkReconnectStorm measures a restart under load: N SDK clients
// (default 5,000; HERALD_STORM_CLIENTS overrides) on a node that is killed
// and started again on the same port. It reports the time until every
// client is back and the restarted server's peak CPU. Run:
//
//	go test ./client -run '^$' -bench ReconnectStorm -benchtime 1x
func BenchmarkReconnectStorm(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("HERALD_STORM_CLIENTS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		stormOnce(b, n)
	}
}

func stormOnce(b *testing.B, n int) {
	cr := nodetest.NewCreds()
	first := startHerald(b, cr)
	var connected atomic.Int64
	clients := make([]*client.Client, n)
	for i := range clients {
		tok := cr.Token(b, fmt.Sprintf("u%d", i))
		c, err := client.New(client.Options{
			URL:   "ws://" + first.ws + "/ws",
			Token: func(context.Context) (string, error) { return tok, nil },
			OnState: func(sc client.StateChange) {
				switch sc.State {
				case client.StateConnected:
					connected.Add(1)
				case client.StateReconnecting:
					if sc.Attempt <= 1 {
						connected.Add(-1)
					}
				}
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, c := range clients {
			_ = c.Close(ctx)
		}
	}()
	waitCount(b, &connected, int64(n), 2*time.Minute)

	_ = first.Cmd.Process.Signal(syscall.SIGKILL)
	<-first.Exited
	waitCount(b, &connected, 0, time.Minute)
	start := time.Now()
	second := startHerald(b, cr, "--ws-addr", first.ws)
	peak := make(chan float64, 1)
	stop := make(chan struct{})
	go func() { peak <- samplePeakCPU(second.Cmd.Process.Pid, stop) }()
	waitCount(b, &connected, int64(n), 2*time.Minute)
	back := time.Since(start)
	close(stop)
	p := <-peak
	b.ReportMetric(back.Seconds(), "s-until-all-back")
	b.ReportMetric(p, "peak-cpu-%")
	b.Logf("%d clients back %v after the restart; server peak CPU %.0f%%", n, back.Round(time.Millisecond), p)
	_ = second.Cmd.Process.Signal(syscall.SIGKILL)
	<-second.Exited
}

func waitCount(b *testing.B, v *atomic.Int64, want int64, within time.Duration) {
	deadline := time.After(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for v.Load() != want {
		select {
		case <-deadline:
			b.Fatalf("%d connected, want %d", v.Load(), want)
		case <-tick.C:
		}
	}
}

// samplePeakCPU samples /proc/PID/stat every 250ms until stop and returns
// the highest CPU use seen, in percent of one core.
func samplePeakCPU(pid int, stop <-chan struct{}) float64 {
	const every = 250 * time.Millisecond
	ticks := func() float64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		return ut + st // clock ticks, 100 per second on Linux
	}
	t := time.NewTicker(every)
	defer t.Stop()
	prev, prevAt, peak := ticks(), time.Now(), 0.0
	for {
		select {
		case <-stop:
			return peak
		case <-t.C:
			cur, now := ticks(), time.Now()
			// Ticks are coarse (10ms): measure over the real interval.
			peak = max(peak, (cur-prev)/100/now.Sub(prevAt).Seconds()*100)
			prev, prevAt = cur, now
		}
	}
}
