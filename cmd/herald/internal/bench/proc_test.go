package bench

import (
	"os"
	"strings"
	"testing"
)

func TestProcReaders(t *testing.T) {
	if rss, err := readRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("readRSS(self) = %d, %v", rss, err)
	}
	if _, err := readCPU(os.Getpid()); err != nil {
		t.Errorf("readCPU(self): %v", err)
	}
	if d, err := readHostCPU(); err != nil || d <= 0 {
		t.Errorf("readHostCPU() = %v, %v", d, err)
	}
	if _, err := readRSS(-1); err == nil {
		t.Error("readRSS of no process succeeded")
	}
}

func TestParseMemory(t *testing.T) {
	const text = `# HELP go_memstats_heap_inuse_bytes Number of bytes in in-use spans.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.2345678e+07
go_memstats_stack_inuse_bytes 655360
go_goroutines 10016
process_resident_memory_bytes 1.5e+08
go_memstats_heap_inuse_bytes_total 1
`
	m, err := parseMemory(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := serverMemory{HeapInuse: 12345678, StackInuse: 655360, RSS: 150000000, Goroutines: 10016}
	if m != want {
		t.Fatalf("parseMemory = %+v, want %+v", m, want)
	}
}

// Worker processes: a run with probes holds its clients in workers unless
// --workers says otherwise, so that a probe's reply never waits behind
// this process's receiving; without probes, a fleet that fits stays here.
func TestWorkerCount(t *testing.T) {
	const limit = 20000
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"fits, no probes", Config{Conns: 10000}, 0},
		{"fits, probes", Config{Conns: 10000, ProbeRate: 20}, probeWorkers},
		{"probes, --workers 1", Config{Conns: 10000, ProbeRate: 20, Workers: 1}, 0},
		{"probes, --workers 3", Config{Conns: 10000, ProbeRate: 20, Workers: 3}, 3},
	} {
		got, err := workerCount(tc.cfg, limit)
		if err != nil || got != tc.want {
			t.Errorf("%s: workerCount = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}
