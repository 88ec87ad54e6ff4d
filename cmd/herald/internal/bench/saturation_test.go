package bench

import (
	"bytes"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"1":         {1},
		"0-3":       {0, 1, 2, 3},
		"0-1,4,6-7": {0, 1, 4, 6, 7},
		"2,2":       {2},
	} {
		set, err := parseCPUList(in)
		if got := slices.Sorted(maps.Keys(set)); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "3-1", "1-", "-1", "1,,2"} {
		if _, err := parseCPUList(in); err == nil {
			t.Errorf("parseCPUList(%q) accepted", in)
		}
	}
	if set, err := readAllowedCPUs(os.Getpid()); err != nil || len(set) == 0 {
		t.Errorf("readAllowedCPUs(self) = %v, %v", set, err)
	}
}

func TestJudgeSaturation(t *testing.T) {
	one, two := cpuSet{1: {}}, cpuSet{0: {}, 1: {}}
	sec := time.Second
	for _, tc := range []struct {
		name      string
		used      []time.Duration
		allowed   []cpuSet
		saturated bool
	}{
		{"one process on one CPU, busy", []time.Duration{950 * time.Millisecond}, []cpuSet{one}, true},
		{"one process on one CPU, room", []time.Duration{600 * time.Millisecond}, []cpuSet{one}, false},
		// Three processes sharing one CPU: each is below it, together they fill it.
		{"processes sharing a CPU", []time.Duration{300 * time.Millisecond, 320 * time.Millisecond, 330 * time.Millisecond}, []cpuSet{one, one, one}, true},
		{"processes spread over two CPUs", []time.Duration{500 * time.Millisecond, 600 * time.Millisecond}, []cpuSet{two, two}, false},
		// One process pinned alone to its CPU is the bottleneck, whatever the others do.
		{"one pinned process busy", []time.Duration{950 * time.Millisecond, 0}, []cpuSet{{0: {}}, {1: {}}}, true},
		{"affinity unknown", []time.Duration{sec}, []cpuSet{nil}, false},
	} {
		s := judgeSaturation(tc.used, tc.allowed, 1)
		if s.saturated != tc.saturated {
			t.Errorf("%s: %+v, want saturated %v", tc.name, s, tc.saturated)
		}
	}
}

// A saturated step says so in the table.
func TestReportSaysWhenTheBenchIsSaturated(t *testing.T) {
	rep := &Report{Params: Params{Scenario: ScenarioStream}, Steps: []StepReport{
		{Rate: 1000, BenchCPUCores: 0.97, BenchCPUs: 1, BenchSaturated: true, BenchBusiestShare: 0.97},
		{Rate: 2000, BenchCPUCores: 0.5, BenchCPUs: 1},
	}}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "step 1: bench saturated (0.97 cores busy of the 1 CPUs it may use, its busiest process 97% of its own): the figures are a floor") ||
		strings.Contains(out, "step 2: bench saturated") {
		t.Errorf("table:\n%s\nwant step 1, and only it, marked saturated", out)
	}
}
