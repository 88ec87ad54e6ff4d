package bench

import (
	"encoding/json"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear (HDR-style): exact below 2*subCount, then 64
// buckets per power of two, so a bucket is at most 1/64 (1.6%) of its
// value wide. Values are nanoseconds up to 2^40 (about 18 minutes); larger
// ones land in the last bucket. 2,240 counters cover that range.
const (
	subBits    = 6
	subCount   = 1 << subBits
	maxBits    = 40
	numBuckets = (maxBits-subBits)*subCount + subCount
	maxValue   = 1<<maxBits - 1
)

// bucketOf maps a value to its bucket.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	if v > maxValue {
		v = maxValue
	}
	u := uint64(v)
	if u < 2*subCount {
		return int(u)
	}
	e := bits.Len64(u) - (subBits + 1)
	return (e+1)*subCount + int(u>>e) - subCount
}

// bucketHigh is the largest value that lands in bucket i.
func bucketHigh(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	e := i/subCount - 1
	m := int64(i%subCount + subCount)
	return (m+1)<<e - 1
}

// histogram counts values with atomic adds only: recording allocates
// nothing and takes no lock. It is safe for concurrent use.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(v)
	// The maximum changes rarely once a step is under way: read first so the
	// common case is a plain load, not a contended CAS.
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// addTo adds the histogram's counts to s.
func (h *histogram) addTo(s *histSnapshot) {
	s.ensure()
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			s.counts[i] += c
			s.total += c
		}
	}
	s.sum += h.sum.Load()
	s.max = max(s.max, h.max.Load())
}

// histShards spreads recorders over separate histograms so that goroutines
// on different cores rarely add to the same cache line.
const histShards = 16

// shardedHist is histShards histograms; a recorder picks one by a stable
// number of its own (a client index).
type shardedHist struct {
	shards [histShards]histogram
}

func (h *shardedHist) record(shard int, v int64) {
	h.shards[uint(shard)%histShards].record(v)
}

// count is the number of values recorded so far.
func (h *shardedHist) count() uint64 {
	var n uint64
	for i := range h.shards {
		for j := range h.shards[i].counts {
			n += h.shards[i].counts[j].Load()
		}
	}
	return n
}

func (h *shardedHist) snapshot() histSnapshot {
	var s histSnapshot
	for i := range h.shards {
		h.shards[i].addTo(&s)
	}
	return s
}

// histSnapshot is a plain copy of a histogram, for merging and reporting.
// It travels between worker and parent as sparse JSON.
type histSnapshot struct {
	counts []uint64 // nil while empty
	total  uint64
	sum    int64
	max    int64
}

func (s *histSnapshot) ensure() {
	if s.counts == nil {
		s.counts = make([]uint64, numBuckets)
	}
}

func (s *histSnapshot) merge(o histSnapshot) {
	if o.total == 0 {
		return
	}
	s.ensure()
	for i, c := range o.counts {
		s.counts[i] += c
	}
	s.total += o.total
	s.sum += o.sum
	s.max = max(s.max, o.max)
}

// quantile returns the value at quantile q (0 < q <= 1): the upper bound of
// the bucket holding the ceil(q*total)-th value, capped at the exact
// maximum. It is 0 for an empty histogram.
func (s *histSnapshot) quantile(q float64) int64 {
	if s.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.total)))
	rank = max(1, min(rank, s.total))
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			return min(bucketHigh(i), s.max)
		}
	}
	return s.max
}

type histJSON struct {
	Total   uint64      `json:"n"`
	Sum     int64       `json:"sum"`
	Max     int64       `json:"max"`
	Buckets [][2]uint64 `json:"b,omitempty"` // [bucket, count], non-zero only
}

// MarshalJSON writes the non-zero buckets only: a step's latencies fill a
// few dozen of the 2,240.
func (s histSnapshot) MarshalJSON() ([]byte, error) {
	j := histJSON{Total: s.total, Sum: s.sum, Max: s.max}
	for i, c := range s.counts {
		if c != 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote, ignoring buckets out of range.
func (s *histSnapshot) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = histSnapshot{sum: j.Sum, max: j.Max}
	for _, bc := range j.Buckets {
		if bc[0] >= numBuckets {
			continue
		}
		s.ensure()
		s.counts[bc[0]] += bc[1]
		s.total += bc[1]
	}
	return nil
}

// Latency summarises a latency distribution in milliseconds.
type Latency struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }

func (s *histSnapshot) summary() Latency {
	if s.total == 0 {
		return Latency{}
	}
	return Latency{
		Count:  s.total,
		MeanMs: ms(s.sum / int64(s.total)),
		P50Ms:  ms(s.quantile(0.50)),
		P90Ms:  ms(s.quantile(0.90)),
		P99Ms:  ms(s.quantile(0.99)),
		P999Ms: ms(s.quantile(0.999)),
		MaxMs:  ms(s.max),
	}
}
