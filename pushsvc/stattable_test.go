package pushsvc

import (
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestStatTableIsConsistent: each row of statTable names its own number
// and its own Prometheus series, numbers that share a metric agree on it,
// and every number of Stats (but Uptime) has a row.
func TestStatTableIsConsistent(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var st Stats
	names := make(map[string]bool)
	series := make(map[string]bool)
	fields := make(map[*uint64]string) // the Stats field each row is about
	firstOf := make(map[string]StatDef)
	for _, d := range statTable {
		if !snake.MatchString(d.Name) || names[d.Name] {
			t.Errorf("%q: a name must be snake_case and unique", d.Name)
		}
		names[d.Name] = true
		if d.Kind != Counter && d.Kind != Gauge {
			t.Errorf("%s: kind %d, want Counter or Gauge", d.Name, d.Kind)
		}
		// The Prometheus convention, which our metric names follow.
		if !strings.HasPrefix(d.Metric, "herald_") || strings.HasSuffix(d.Metric, "_total") != (d.Kind == Counter) {
			t.Errorf("%s: metric %q: want herald_..., ending in _total for a counter only", d.Name, d.Metric)
		}
		if d.Help == "" {
			t.Errorf("%s: no help", d.Name)
		}
		if s := d.Metric + "{" + d.MetricKind + "}"; series[s] {
			t.Errorf("%s: series %s is another number's too", d.Name, s)
		} else {
			series[s] = true
		}
		if first, ok := firstOf[d.Metric]; !ok {
			firstOf[d.Metric] = d
		} else if first.Help != d.Help || first.Kind != d.Kind || first.MetricKind == "" || d.MetricKind == "" {
			t.Errorf("%s and %s share %s: they must share help and kind, and each have a MetricKind", first.Name, d.Name, d.Metric)
		}
		p := d.field(&st)
		if other, ok := fields[p]; ok {
			t.Errorf("%s and %s are the same field of Stats", other, d.Name)
		}
		fields[p] = d.Name
	}
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Name == "Uptime" {
			continue
		}
		if _, ok := fields[v.Field(i).Addr().Interface().(*uint64)]; !ok {
			t.Errorf("Stats.%s has no row in statTable", f.Name)
		}
	}
}

// TestStatTableReadsEveryCounter: each counter the service increments is
// read by one row of statTable, and by one only.
func TestStatTableReadsEveryCounter(t *testing.T) {
	svc := newTestService(t, Options{})
	c := reflect.ValueOf(&svc.stats).Elem()
	const base = 1000 // above the gauges, which are 0 here
	for i := range c.NumField() {
		f := c.Field(i)
		// The fields are unexported: reach them by address.
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Interface().(*atomic.Uint64).Store(base + uint64(i))
	}
	readBy := make(map[uint64]string)
	for d, v := range svc.Stats(ctx(t)).All() {
		if v < base {
			continue
		}
		if other, ok := readBy[v]; ok {
			t.Errorf("%s and %s read the same counter", other, d.Name)
		}
		readBy[v] = d.Name
	}
	for i := range c.NumField() {
		if _, ok := readBy[base+uint64(i)]; !ok {
			t.Errorf("counters.%s is read by no row of statTable", c.Type().Field(i).Name)
		}
	}
}

// TestTotalSumsAsDeclared: the cluster's value of a number is the sum of
// the nodes' or, for groups, the largest; its uptime is the longest.
func TestTotalSumsAsDeclared(t *testing.T) {
	var a, b Stats
	for i, d := range statTable {
		*d.field(&a) = uint64(i + 1)
		*d.field(&b) = uint64(10 * (i + 1))
	}
	a.Uptime, b.Uptime = time.Hour, time.Minute
	got := Total([]NodeStats{{NodeID: "a", Stats: a}, {NodeID: "b", Stats: b}})
	for i, d := range statTable {
		want := uint64(11 * (i + 1))
		if d.Sum == SumMax {
			want = uint64(10 * (i + 1))
		}
		if v := *d.field(&got); v != want {
			t.Errorf("%s: total %d, want %d", d.Name, v, want)
		}
	}
	if got.Groups != b.Groups || got.Connections != a.Connections+b.Connections || got.Uptime != time.Hour {
		t.Errorf("total %+v: want the larger groups, the sum of connections, the longer uptime", got)
	}
}
