package redis_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
	"github.com/herald-push/herald/pushsvc/engine/memory"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// benchNode starts a Redis engine whose Deliver calls deliver.
func benchNode(b *testing.B, url, id string, deliver func(*engine.Publication) int) *redis.Engine {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := redis.New(ctx, redis.Options{
		URL: url, NodeID: id, HistorySize: 1000, HistoryTTL: 5 * time.Minute,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: enginetest.Handler{OnDeliver: deliver},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

func one(*engine.Publication) int { return 1 }

// BenchmarkPublish measures one Publish until every node has delivered it
// and its count is back: in-process for memory, one round trip through
// Redis plus the counts for Redis.
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
		for b.Loop() {
			if _, _, err := a.Publish(ctx, "user:bench1", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis/2-nodes", func(b *testing.B) {
		a := benchNode(b, srv.URL, "b2a", one)
		benchNode(b, srv.URL, "b2b", one)
		for b.Loop() {
			if _, n, err := a.Publish(ctx, "user:bench2", msg); err != nil || n != 2 {
				b.Fatalf("publish: %d %v", n, err)
			}
		}
	})
	b.Run("redis/2-nodes-parallel", func(b *testing.B) {
		a := benchNode(b, srv.URL, "b3a", one)
		benchNode(b, srv.URL, "b3b", one)
		b.SetParallelism(8) // 8 publishers per core, as concurrent gRPC calls would be
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := a.Publish(ctx, "user:bench3", msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
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
