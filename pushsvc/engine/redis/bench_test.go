package redis_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
	"github.com/herald-push/herald/pushsvc/engine/memory"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// benchNode starts a Redis engine whose Deliver calls deliver; mod may
// adjust its options.
func benchNode(b *testing.B, url, id string, deliver func(*engine.Publication) int, mod ...func(*redis.Options)) *redis.Engine {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := redis.Options{
		URL: url, NodeID: id, HistorySize: 1000, HistoryTTL: 5 * time.Minute,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: enginetest.Handler{OnDeliver: deliver},
	}
	for _, m := range mod {
		m(&opts)
	}
	e, err := redis.New(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

func one(*engine.Publication) int { return 1 }

// BenchmarkPublish measures one Publish until every node has delivered it
// and its count is back: in-process for memory, one round trip through
// Redis plus the counts for Redis. Besides the time, each Redis case
// reports what a publish costs: redis-reads/op, the reads Redis made from
// client sockets (one per round trip a connection makes, whatever number of
// commands it carries: a pipeline is one), redis-cpu-µs/op, Redis's own
// CPU, and cpu-µs/op, this process's (the nodes and the benchmark).
//
//	go test -run '^$' -bench BenchmarkPublish -benchmem ./pushsvc/engine/redis/
func BenchmarkPublish(b *testing.B) {
	payload := make([]byte, 256)
	msg := engine.Message{ID: "0123456789abcdef", Topic: "bench", Payload: payload}
	ctx := context.Background()

	b.Run("memory", func(b *testing.B) {
		e, err := memory.New(memory.Options{HistorySize: 1000, HistoryTTL: 5 * time.Minute, Handler: enginetest.Handler{OnDeliver: one}})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		for b.Loop() {
			if _, _, err := e.Publish(ctx, "user:bench", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	srv := redistest.Start(b)
	b.Run("redis/1-node", func(b *testing.B) {
		a := benchNode(b, srv.URL, "b1", one)
		cost := startCost(b, srv.URL)
		for b.Loop() {
			if _, _, err := a.Publish(ctx, "user:bench1", msg); err != nil {
				b.Fatal(err)
			}
		}
		cost.report(b, b.N)
	})
	b.Run("redis/1-node-parallel", func(b *testing.B) {
		a := benchNode(b, srv.URL, "b4", one)
		cost := startCost(b, srv.URL)
		var n atomic.Int64
		b.SetParallelism(32) // 32 publishers per core, as concurrent gRPC calls would be
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				n.Add(1)
				if _, _, err := a.Publish(ctx, "user:bench4-"+strconv.Itoa(i%64), msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
		cost.report(b, int(n.Load()))
	})
	b.Run("redis/2-nodes", func(b *testing.B) {
		a := benchNode(b, srv.URL, "b2a", one)
		benchNode(b, srv.URL, "b2b", one)
		cost := startCost(b, srv.URL)
		for b.Loop() {
			if _, n, err := a.Publish(ctx, "user:bench2", msg); err != nil || n != 2 {
				b.Fatalf("publish: %d %v", n, err)
			}
		}
		cost.report(b, b.N)
	})
	// Each node's count, and with LocalDelivered the publishing node's
	// only: the difference is what exact counts cost.
	for _, local := range []bool{false, true} {
		name := map[bool]string{false: "redis/2-nodes-parallel", true: "redis/2-nodes-parallel-local"}[local]
		b.Run(name, func(b *testing.B) {
			a := benchNode(b, srv.URL, name+"-a", one, func(o *redis.Options) { o.LocalDelivered = local })
			benchNode(b, srv.URL, name+"-b", one)
			cost := startCost(b, srv.URL)
			var n atomic.Int64
			b.SetParallelism(8) // 8 publishers per core, as concurrent gRPC calls would be
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n.Add(1)
					if _, _, err := a.Publish(ctx, "user:bench3", msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cost.report(b, int(n.Load()))
		})
	}
}

// cost is what Redis and this process had spent when a benchmark started.
type cost struct {
	raw                  *goredis.Client
	reads, redisCPU, cpu time.Duration // reads is a count
}

// startCost notes the costs so far; report gives what was spent since,
// per publish.
func startCost(b *testing.B, url string) cost {
	b.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	c := cost{raw: goredis.NewClient(o)}
	b.Cleanup(func() { _ = c.raw.Close() })
	c.reads, c.redisCPU = c.redis(b)
	c.cpu = processCPU()
	return c
}

func (c cost) report(b *testing.B, n int) {
	b.Helper()
	b.StopTimer()
	cpu := processCPU() - c.cpu
	reads, redisCPU := c.redis(b)
	if n == 0 {
		return
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(n) }
	b.ReportMetric(per(reads-c.reads), "redis-reads/op")
	b.ReportMetric(per(redisCPU-c.redisCPU)/1e3, "redis-cpu-µs/op")
	b.ReportMetric(per(cpu)/1e3, "cpu-µs/op")
}

// redis reads total_reads_processed and used_cpu_sys+used_cpu_user from
// the server's INFO.
func (c cost) redis(b *testing.B) (reads, cpu time.Duration) {
	info, err := c.raw.Info(context.Background(), "stats", "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		f, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "total_reads_processed":
			reads = time.Duration(f)
		case "used_cpu_sys", "used_cpu_user":
			cpu += time.Duration(f * float64(time.Second))
		}
	}
	return reads, cpu
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRemoteDeliverLatency measures, for each push, the time from
// Publish's start on node a to Deliver on node b, and reports the 50th and
// 99th percentiles. Run it over a few thousand pushes:
//
//	go test -run '^$' -bench BenchmarkRemoteDeliverLatency -benchtime 5000x ./pushsvc/engine/redis/
func BenchmarkRemoteDeliverLatency(b *testing.B) {
	srv := redistest.Start(b)
	for _, publishers := range []int{1, 16} {
		name := map[int]string{1: "sequential", 16: "16-publishers"}[publishers]
		b.Run(name, func(b *testing.B) {
			var mu sync.Mutex
			lat := make([]time.Duration, 0, 10000)
			recv := func(p *engine.Publication) int {
				d := time.Since(p.Time)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				return 1
			}
			a := benchNode(b, srv.URL, name+"-a", func(*engine.Publication) int { return 0 })
			benchNode(b, srv.URL, name+"-b", recv)
			ctx := context.Background()
			msg := engine.Message{ID: "0123456789abcdef", Topic: "bench", Payload: make([]byte, 256)}
			if publishers == 1 {
				for b.Loop() {
					if _, _, err := a.Publish(ctx, "user:lat", msg); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				// RunParallel starts GOMAXPROCS*p goroutines.
				b.SetParallelism(max(publishers/runtime.GOMAXPROCS(0), 1))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, _, err := a.Publish(ctx, "user:lat", msg); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkPositions measures one Positions read of the streams a typical
// session follows at connect (its user, broadcast and two groups), on a
// standalone Redis and on a Redis Cluster of three masters, where the
// pipeline is split by master and sent in parallel.
//
//	go test -run '^$' -bench BenchmarkPositions ./pushsvc/engine/redis/
func BenchmarkPositions(b *testing.B) {
	streams := []string{"user:alice", "broadcast", "group:news", "group:team"}
	run := func(b *testing.B, url string) {
		a := benchNode(b, url, "pos", one)
		ctx := context.Background()
		for _, s := range streams {
			if _, _, err := a.Publish(ctx, s, engine.Message{Topic: "t"}); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if _, err := a.Positions(ctx, streams); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("standalone", func(b *testing.B) { run(b, redistest.Start(b).URL) })
	b.Run("cluster", func(b *testing.B) { run(b, redistest.StartCluster(b).URL) })
}
