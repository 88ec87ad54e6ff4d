package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/server"
)

// TestSoakEndToEnd runs a few seconds of soak against a real server: the
// churning clients connect, leave in each way and resume without a gap,
// every kind of push is sent and the steady clients get all theirs, the
// server is sampled before, during and after, and its goroutines come back
// to their baseline once the clients have gone.
func TestSoakEndToEnd(t *testing.T) {
	cfg := startTarget(t, func(c *server.Config) {
		c.Pprof = true // lets the soak force a GC
		// History is released a TTL after the last push: short, so that
		// the heap can come back within the settle.
		c.HistoryTTL = time.Second
	})
	cfg.Scenario = ScenarioSoak
	cfg.Conns = 20
	cfg.Users = 10
	cfg.Churn = 6
	cfg.Rates = []float64{60}
	cfg.Duration = 3 * time.Second
	cfg.Settle = 8 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err) // also when goroutines or heap are not back
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	// The test process is the server, the load generator and, under
	// -race, the race detector's memory: its RSS says nothing of the
	// server's and may not come back; the heap and goroutines do.
	for _, p := range rep.Problems {
		if !strings.HasPrefix(p, "RSS not back") {
			t.Errorf("problem: %s", p)
		}
	}

	checkComplete(t, rep, 20, 0)
	s := rep.Soak
	if s == nil {
		t.Fatal("no soak report")
	}
	if calls := rep.Steps[0].PushCalls; calls["users"] == 0 || calls["groups"] == 0 || calls["broadcast"] == 0 {
		t.Errorf("push calls by kind %v: want every kind", calls)
	}
	c := s.Churn
	if c.Cycles < int64(cfg.Churn) || c.Welcomed == 0 || c.CleanCloses == 0 || c.AbruptCloses == 0 || c.EarlyCloses == 0 {
		t.Errorf("churn %+v: want cycles and every way of leaving", c)
	}
	if c.Failed != 0 || len(c.ServerCloses) != 0 || c.BadFrames != 0 {
		t.Errorf("churn %+v: want no failure, no close by the server, no bad frame", c)
	}
	if c.Resumes == 0 || c.ResumeResults == 0 || c.StreamsRecovered == 0 || c.Pushes == 0 {
		t.Errorf("churn %+v: want resumes that recover streams, and pushes", c)
	}
	if c.Gaps != 0 || c.Duplicates != 0 {
		t.Errorf("churn saw %d gaps and %d duplicates: resume must replay each missed push once", c.Gaps, c.Duplicates)
	}
	if !s.Baseline.AfterGC || s.Baseline.Goroutines == 0 || s.Baseline.HeapInuse == 0 || s.Baseline.RSS == 0 {
		t.Errorf("baseline %+v: want figures after a forced GC", s.Baseline)
	}
	if len(s.Samples) == 0 || s.Samples[0].Connections < int64(cfg.Conns) {
		t.Errorf("samples during the load %+v: want at least one with the clients connected", s.Samples)
	}
	if s.After.Phase != "after" || s.After.Connections != 0 || !s.After.AfterGC {
		t.Errorf("after sample %+v: want one with no connection left, after a GC", s.After)
	}
	// The test process is the server too: its goroutines are the server's
	// plus this test's, which are the same before and after.
	if !s.GoroutinesBack || !s.HeapBack {
		t.Errorf("goroutines %d -> %d, heap %d -> %d: not back within %+v", s.Baseline.Goroutines, s.After.Goroutines, s.Baseline.HeapInuse, s.After.HeapInuse, s.Tolerance)
	}
	for _, want := range []string{"soak: ", "resume: ", "baseline", "goroutines yes"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

// TestSoakVerdict: the tolerance of each figure, at its edge.
func TestSoakVerdict(t *testing.T) {
	base := SoakSample{Goroutines: 30, HeapInuse: 40 << 20, RSS: 32 << 20}
	tol := toleranceFor(base)
	if tol.Goroutines != 5 || tol.HeapBytes != 10<<20 || tol.RSSBytes != 16<<20 {
		t.Fatalf("tolerance %+v: want +5 goroutines, a quarter of the 40 MiB heap, the 16 MiB RSS minimum", tol)
	}
	for _, tc := range []struct {
		s             SoakSample
		g, heap, rssB bool
	}{
		{SoakSample{Goroutines: 35, HeapInuse: 50 << 20, RSS: 48 << 20}, true, true, true},
		{SoakSample{Goroutines: 36, HeapInuse: 50<<20 + 1, RSS: 48<<20 + 1}, false, false, false},
		{SoakSample{Goroutines: 10, HeapInuse: 1, RSS: 1}, true, true, true},
	} {
		g, h, r := tol.back(base, tc.s)
		if g != tc.g || h != tc.heap || r != tc.rssB {
			t.Errorf("back(%+v) = %v %v %v, want %v %v %v", tc.s, g, h, r, tc.g, tc.heap, tc.rssB)
		}
	}
}

// TestSoakRefusesWhatItCannotDo: the soak needs /metrics and one process.
func TestSoakRefusesWhatItCannotDo(t *testing.T) {
	cfg := Config{Scenario: ScenarioSoak, JWTSecret: "s", APIKey: "k", Workers: 2, Flood: 1}
	cfg.fill()
	err := cfg.Validate()
	for _, want := range []string{"--admin-url: required", "--workers:", "--flood or --stuck"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}
