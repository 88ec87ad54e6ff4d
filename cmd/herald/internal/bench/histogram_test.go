package bench

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"
)

// within reports whether got is within the histogram's precision (one
// bucket, 1/64 of the value) of want.
func within(got, want int64) bool {
	return math.Abs(float64(got-want)) <= float64(want)/subCount+1
}

func TestBucketsAreContinuousAndMonotone(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<20 + 1, maxValue - 1, maxValue} {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d < previous %d", v, b, prev)
		}
		prev = b
		if hi := bucketHigh(b); hi < v {
			t.Fatalf("bucketHigh(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if b > 0 && bucketHigh(b-1) >= v {
			t.Fatalf("value %d also fits bucket %d", v, b-1)
		}
	}
	if got := bucketOf(math.MaxInt64); got != numBuckets-1 {
		t.Fatalf("huge value in bucket %d, want the last (%d)", got, numBuckets-1)
	}
	if got := bucketOf(-5); got != 0 {
		t.Fatalf("negative value in bucket %d, want 0", got)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	// 1..10,000 microseconds, each once: the q-quantile is q*10,000 µs.
	var h shardedHist
	for i := int64(1); i <= 10000; i++ {
		h.record(int(i), i*int64(time.Microsecond))
	}
	s := h.snapshot()
	if s.total != 10000 {
		t.Fatalf("total = %d, want 10000", s.total)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 5000}, {0.9, 9000}, {0.99, 9900}, {0.999, 9990}, {1, 10000}} {
		want := c.want * int64(time.Microsecond)
		if got := s.quantile(c.q); !within(got, want) {
			t.Errorf("quantile(%v) = %v, want %v within 1/64", c.q, time.Duration(got), time.Duration(want))
		}
	}
	if s.max != 10000*int64(time.Microsecond) {
		t.Errorf("max = %d, want exactly 10ms", s.max)
	}
	sum := s.summary()
	if math.Abs(sum.MeanMs-5.0005) > 1e-9 {
		t.Errorf("mean = %v ms, want 5.0005", sum.MeanMs)
	}
}

func TestHistogramSkewed(t *testing.T) {
	// 990 fast values and 10 slow ones: p99 is fast, p99.9 is slow.
	var h shardedHist
	for i := range 990 {
		h.record(i, int64(2*time.Millisecond))
	}
	for i := range 10 {
		h.record(i, int64(300*time.Millisecond))
	}
	s := h.snapshot()
	if got := s.quantile(0.99); !within(got, int64(2*time.Millisecond)) {
		t.Errorf("p99 = %v, want 2ms", time.Duration(got))
	}
	if got := s.quantile(0.999); got != int64(300*time.Millisecond) {
		t.Errorf("p99.9 = %v, want 300ms (capped at the exact max)", time.Duration(got))
	}
	var empty histSnapshot
	if empty.quantile(0.5) != 0 || empty.summary() != (Latency{}) {
		t.Error("an empty histogram reports values")
	}
}

func TestHistogramConcurrentMergeAndJSON(t *testing.T) {
	var h shardedHist
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.record(g, int64(i+1)*int64(time.Microsecond))
			}
		}()
	}
	wg.Wait()
	if n := h.count(); n != 8000 {
		t.Fatalf("count = %d, want 8000", n)
	}
	// Through JSON and back, merged with itself: twice the counts, the
	// same quantiles.
	s := h.snapshot()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back histSnapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.merge(s)
	if back.total != 16000 || back.max != s.max || back.sum != 2*s.sum {
		t.Fatalf("merged: total %d max %d sum %d; want 16000, %d, %d", back.total, back.max, back.sum, s.max, 2*s.sum)
	}
	if back.quantile(0.5) != s.quantile(0.5) {
		t.Fatalf("p50 changed through JSON: %d vs %d", back.quantile(0.5), s.quantile(0.5))
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	var h shardedHist
	if n := testing.AllocsPerRun(1000, func() { h.record(3, 12345) }); n != 0 {
		t.Fatalf("record allocates %v times", n)
	}
}
