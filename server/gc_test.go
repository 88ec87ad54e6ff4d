package server

import (
	"errors"
	"io/fs"
	"math"
	"runtime/debug"
	"testing"
)

// files is a readFile over a map.
func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := m[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// keepGC restores the collector's settings when the test ends.
func keepGC(t *testing.T) {
	percent, limit := gcPercent(), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

// TuneGC leaves GOGC at 100 without a memory limit and sets 400 under one
// (GOMEMLIMIT, or 90% of the cgroup's), and leaves what the environment
// sets alone.
func TestTuneGC(t *testing.T) {
	const gib = 1 << 30
	v2 := map[string]string{
		"/proc/self/cgroup": "0::/system.slice/herald.service\n",
		"/sys/fs/cgroup/system.slice/herald.service/memory.max": "2147483648\n",
	}
	for _, c := range []struct {
		name        string
		env         map[string]string
		files       map[string]string
		envLimit    int64 // as the runtime would have read GOMEMLIMIT
		wantPercent int
		wantFrom    string
		wantLimit   int64
		wantLimitBy string
	}{
		{name: "no limit", wantPercent: 100, wantFrom: "herald", wantLimit: math.MaxInt64},
		{name: "cgroup v2", files: v2, wantPercent: 400, wantFrom: "herald", wantLimit: 2 * gib * 9 / 10, wantLimitBy: "cgroup"},
		{name: "cgroup v2 without a limit", files: map[string]string{
			"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n",
		}, wantPercent: 100, wantFrom: "herald", wantLimit: math.MaxInt64},
		{name: "cgroup v1 in a container", files: map[string]string{
			"/proc/self/cgroup":                           "12:pids:/docker/abc\n4:memory:/docker/abc\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
		}, wantPercent: 400, wantFrom: "herald", wantLimit: gib * 9 / 10, wantLimitBy: "cgroup"},
		{name: "cgroup v1 without a limit", files: map[string]string{
			"/proc/self/cgroup": "4:memory:/\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, wantPercent: 100, wantFrom: "herald", wantLimit: math.MaxInt64},
		{name: "GOMEMLIMIT", env: map[string]string{"GOMEMLIMIT": "1GiB"}, files: v2, envLimit: gib,
			wantPercent: 400, wantFrom: "herald", wantLimit: gib, wantLimitBy: "GOMEMLIMIT"},
		{name: "GOGC", env: map[string]string{"GOGC": "50"}, files: v2,
			wantPercent: 50, wantFrom: "GOGC", wantLimit: 2 * gib * 9 / 10, wantLimitBy: "cgroup"},
	} {
		t.Run(c.name, func(t *testing.T) {
			keepGC(t)
			// What the runtime does with the environment at start.
			debug.SetGCPercent(100)
			if c.env["GOGC"] == "50" {
				debug.SetGCPercent(50)
			}
			debug.SetMemoryLimit(math.MaxInt64)
			if c.envLimit != 0 {
				debug.SetMemoryLimit(c.envLimit)
			}
			got := TuneGC(env(c.env), files(c.files))
			want := GCSettings{Percent: c.wantPercent, PercentFrom: c.wantFrom, MemoryLimit: c.wantLimit, LimitFrom: c.wantLimitBy}
			if got != want {
				t.Errorf("TuneGC = %+v, want %+v", got, want)
			}
			if p := gcPercent(); p != c.wantPercent {
				t.Errorf("GOGC in force %d, want %d", p, c.wantPercent)
			}
			if l := debug.SetMemoryLimit(-1); l != c.wantLimit {
				t.Errorf("memory limit in force %d, want %d", l, c.wantLimit)
			}
		})
	}
}

// Unreadable or malformed cgroup files mean no limit.
func TestCgroupMemoryLimitUnreadable(t *testing.T) {
	for _, m := range []map[string]string{
		{},
		{"/proc/self/cgroup": "garbage"},
		{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "lots\n"},
		{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "-5\n"},
	} {
		if limit, ok := cgroupMemoryLimit(files(m)); ok {
			t.Errorf("%v: limit %d, want none", m, limit)
		}
	}
	if _, ok := cgroupMemoryLimit(func(string) ([]byte, error) { return nil, errors.New("denied") }); ok {
		t.Error("a limit from files that cannot be read")
	}
}
