package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// raiseFileLimit lifts the soft open-files limit to the hard one (every
// client is a file) and returns the limit now in force.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return raised.Cur
		}
	}
	return lim.Cur
}

// fileMargin is the files a process keeps for itself beyond its clients:
// the executable's own, gRPC, pipes to workers, /proc reads.
const fileMargin = 256

// maxClientsPerProcess is the most clients one process opens: the limit
// less the margin, and never more than 18,000 so that a box with a 20k
// hard limit (this one) keeps headroom.
func maxClientsPerProcess(limit uint64) int {
	n := int(min(limit, 1<<20)) - fileMargin
	return max(1, min(n, 18000))
}

// readRSS returns the VmRSS of process pid in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// readCPU returns the user+system CPU time process pid has used.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may hold spaces and parentheses: the
	// fields worth reading start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: malformed times", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// metricsClient keeps no idle connection: a scrape happens twice a run,
// and a pooled connection would outlive it.
var metricsClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// readHostCPU returns the busy CPU time of the whole machine, all cores
// together, from the first line of /proc/stat: everything but idle and
// iowait.
func readHostCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: malformed")
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // guest time is already in user
			break
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// serverMemory is what the server's /metrics says about its memory.
type serverMemory struct {
	HeapInuse  int64 `json:"heap_inuse_bytes"`
	StackInuse int64 `json:"stack_inuse_bytes"`
	RSS        int64 `json:"resident_bytes"`
	Goroutines int64 `json:"goroutines"`
}

// scrapeMemory reads the Go runtime's and the process's gauges from the
// server's Prometheus endpoint.
func scrapeMemory(ctx context.Context, adminURL string) (serverMemory, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := strings.TrimSuffix(adminURL, "/")
	if !strings.HasSuffix(u, "/metrics") {
		u += "/metrics"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return serverMemory{}, err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return serverMemory{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return serverMemory{}, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return parseMemory(resp.Body)
}

func parseMemory(r io.Reader) (serverMemory, error) {
	var m serverMemory
	want := map[string]*int64{
		"go_memstats_heap_inuse_bytes":  &m.HeapInuse,
		"go_memstats_stack_inuse_bytes": &m.StackInuse,
		"process_resident_memory_bytes": &m.RSS,
		"go_goroutines":                 &m.Goroutines,
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if dst := want[name]; ok && dst != nil {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err == nil {
				*dst = int64(v)
			}
		}
	}
	return m, sc.Err()
}
