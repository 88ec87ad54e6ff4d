package redistest

import "testing"

// Backend is a kind of Redis deployment that Herald runs on.
type Backend struct {
	// Name names the subtest: "standalone" or "cluster".
	Name string
	// Start starts a Redis of this kind for t, stopped at t's cleanup,
	// and returns the URL to give the nodes.
	Start func(t testing.TB) string
}

// Backends are a standalone server and a Redis Cluster of three masters,
// where fan-out goes over sharded pub/sub with a subscription per
// partition and the keys of one request may live on different masters.
var Backends = []Backend{
	{"standalone", func(t testing.TB) string { return Start(t).URL }},
	{"cluster", func(t testing.TB) string { return StartCluster(t).URL }},
}

// EachBackend runs f as one subtest per backend, each with its own Redis.
func EachBackend(t *testing.T, f func(t *testing.T, redisURL string)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) { f(t, b.Start(t)) })
	}
}
