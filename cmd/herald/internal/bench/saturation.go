package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The load generator is saturated when it had no CPU to spare during a
// step: then what it measured is what it could send and receive, a floor
// of what the server does, not the server's limit. It is judged per step
// from each bench process's CPU time (/proc/PID/stat) against the CPUs the
// process may run on (its affinity: `taskset -c 1` gives one):
// saturated when the processes together used saturatedShare of the CPUs
// they may use between them, or one of them did of its own (the parent
// alone, say, sending every call while the workers idle).
const saturatedShare = 0.9

// saturation is how busy the load generator was over one step.
type saturation struct {
	cpus      int     // CPUs the bench processes may use between them
	busiest   float64 // the highest share of its own CPUs one process used
	total     float64 // the share of cpus the processes used together
	saturated bool
}

// judgeSaturation judges a step of secs seconds in which process i used
// used[i] of CPU time and could run on allowed[i].
func judgeSaturation(used []time.Duration, allowed []cpuSet, secs float64) saturation {
	var s saturation
	union := cpuSet{}
	var sum time.Duration
	for i, u := range used {
		sum += u
		if i >= len(allowed) || len(allowed[i]) == 0 || secs <= 0 {
			continue
		}
		for c := range allowed[i] {
			union[c] = struct{}{}
		}
		s.busiest = max(s.busiest, u.Seconds()/secs/float64(len(allowed[i])))
	}
	s.cpus = len(union)
	if s.cpus > 0 && secs > 0 {
		s.total = sum.Seconds() / secs / float64(s.cpus)
	}
	s.saturated = s.total >= saturatedShare || s.busiest >= saturatedShare
	return s
}

// cpuSet is a set of CPU numbers.
type cpuSet map[int]struct{}

// benchCPUSets are the CPUs each bench process may run on, in benchPIDs
// order; an entry is nil when it cannot be read.
func (r *run) benchCPUSets() []cpuSet {
	pids := r.benchPIDs()
	out := make([]cpuSet, len(pids))
	for i, pid := range pids {
		out[i], _ = readAllowedCPUs(pid)
	}
	return out
}

// readAllowedCPUs reads the CPUs process pid may run on, from the
// Cpus_allowed_list line of /proc/PID/status ("0-3,8").
func readAllowedCPUs(pid int) (cpuSet, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return parseCPUList(strings.TrimSpace(rest))
		}
	}
	return nil, fmt.Errorf("/proc/%d/status: no Cpus_allowed_list", pid)
}

// parseCPUList parses a Linux CPU list: numbers and ranges joined by
// commas, as in "0-3,8,10-11".
func parseCPUList(s string) (cpuSet, error) {
	set := cpuSet{}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if isRange && err == nil {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b-a > 1<<16 {
			return nil, fmt.Errorf("CPU list %q: bad element %q", s, part)
		}
		for c := a; c <= b; c++ {
			set[c] = struct{}{}
		}
	}
	if len(set) == 0 {
		return nil, errors.New("empty CPU list")
	}
	return set, nil
}
