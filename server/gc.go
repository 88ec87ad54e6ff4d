package server

import (
	"bufio"
	"bytes"
	"math"
	"path"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Garbage collection for a node. Go's collector marks the live heap once
// per cycle and starts a cycle each time the program has allocated
// GOGC% of the live heap since the last: the collector's CPU is about
// proportional to the bytes allocated divided by GOGC, whatever the size
// of the heap, and the heap peaks at (1 + GOGC/100) times what is live.
// GOMEMLIMIT, a soft limit on the memory the runtime holds, makes the
// collector run as often as it must to stay under it, so that a large
// GOGC cannot take a node past its container's memory.
//
// A push call leaves about 7.7 KB of garbage, most of it grpc-go's
// (header fields, metadata, stream state), and a node's live heap is
// mostly its connections (about 7 KiB each) and its history. With
// 10,000 connections at 10,000 calls/s on one core (users scenario), the
// collector took 15% of the CPU at GOGC=100, 7% at 200 and 2% at 400.
// An idle connection's RSS grows with GOGC: 12.5 KiB at 100, 13.7 at 200
// (10,000 connections, same session). On a quiet machine the unary path
// meets its targets at GOGC=100 (15.7k calls/s on one core, delivery
// p99 6.5 ms at 2,000 calls/s; 16.1k and 10.6 ms at 200), so a node
// keeps Go's default and its idle memory.
//
// So, unless the environment sets them: under a memory limit (GOMEMLIMIT,
// or a cgroup's, of which the node takes 90%), GOGC is 400, the limit
// keeping the heap within the memory given; without one, Go's default
// (100) stands. GOGC=200 in the environment halves the collector's share
// of a loaded node for about 1 KiB more RSS per idle connection.
const (
	gcPercentDefault      = 100
	gcPercentUnderLimit   = 400
	cgroupMemoryLimitUsed = 0.9
)

// GCSettings are the collector's settings TuneGC left in force, and
// where each came from, for the start log.
type GCSettings struct {
	// Percent is GOGC; From says who chose it: "GOGC" (the environment)
	// or "herald".
	Percent     int
	PercentFrom string
	// MemoryLimit is the soft memory limit in bytes, math.MaxInt64 for
	// none; LimitFrom is "GOMEMLIMIT", "cgroup" or "" (none).
	MemoryLimit int64
	LimitFrom   string
}

// TuneGC sets the collector for a node (see above) where getenv does not
// give GOGC or GOMEMLIMIT, reading the cgroup's memory limit with
// readFile, and returns the settings in force. The runtime has applied
// the environment's own settings already.
func TuneGC(getenv func(string) string, readFile func(string) ([]byte, error)) GCSettings {
	var s GCSettings
	s.MemoryLimit = debug.SetMemoryLimit(-1)
	switch limit, ok := cgroupMemoryLimit(readFile); {
	case getenv("GOMEMLIMIT") != "":
		s.LimitFrom = "GOMEMLIMIT"
	case ok:
		s.MemoryLimit = int64(float64(limit) * cgroupMemoryLimitUsed)
		s.LimitFrom = "cgroup"
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	if getenv("GOGC") != "" {
		s.Percent, s.PercentFrom = gcPercent(), "GOGC"
		return s
	}
	s.Percent, s.PercentFrom = gcPercentDefault, "herald"
	if s.LimitFrom != "" {
		s.Percent = gcPercentUnderLimit
	}
	debug.SetGCPercent(s.Percent)
	return s
}

// gcPercent returns GOGC as in force.
func gcPercent() int {
	m := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(m)
	return int(m[0].Value.Uint64())
}

// cgroupMemoryLimit returns the memory limit of the cgroup this process
// runs in, v2 (memory.max) or v1 (memory.limit_in_bytes), if it has one.
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	self, err := readFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	// Lines are "id:controllers:path"; v2's is "0::path", v1's memory
	// controller "N:memory:path" (or with other controllers).
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = "/sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			dir, file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		// The cgroup's own directory; in a container whose cgroup
		// namespace hides the path, the mount's root is the cgroup.
		for _, f := range []string{path.Join(dir, parts[2], file), path.Join(dir, file)} {
			if limit, ok := readLimit(readFile, f); ok {
				return limit, true
			}
		}
	}
	return 0, false
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a cgroup memory limit file: a number of bytes, or
// "max" (v2) or a number near math.MaxInt64 (v1) for none.
func readLimit(readFile func(string) ([]byte, error), file string) (int64, bool) {
	b, err := readFile(file)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0, false
	}
	return n, true
}
