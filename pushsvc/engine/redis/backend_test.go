package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/redistest"
)

// backend is a Redis that a test runs against: a standalone server or a
// Redis Cluster.
type backend struct {
	url     string
	server  *redistest.Server  // standalone only
	cluster *redistest.Cluster // Redis Cluster only
}

// eachBackend runs f as two subtests, against a standalone Redis and
// against a Redis Cluster of three masters, each started for it.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("standalone", func(t *testing.T) {
		s := redistest.Start(t)
		f(t, backend{url: s.URL, server: s})
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		f(t, backend{url: c.URL, cluster: c})
	})
}

// raw is a plain client of the backend, for looking at Redis directly.
func (b backend) raw(t testing.TB) goredis.UniversalClient {
	t.Helper()
	if b.cluster == nil {
		return rawClient(t, b.url)
	}
	return rawClusterClient(t, b.cluster)
}

// rawClusterClient is a plain client of a Redis Cluster.
func rawClusterClient(t testing.TB, c *redistest.Cluster) *goredis.ClusterClient {
	t.Helper()
	o, err := goredis.ParseClusterURL(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	cc := goredis.NewClusterClient(o)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}
