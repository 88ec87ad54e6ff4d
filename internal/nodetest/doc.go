// Package nodetest starts real Herald nodes for tests: server.New with
// server.Config on loopback port 0, running in the test's process, with a
// gRPC client dialled over a real socket. Every package whose tests need a
// whole node (server's external tests, client, cmd/herald and its bench)
// starts it here, so there is one way to do it:
//
//	n := nodetest.Start(t, nodetest.Options{})
//	c := n.Connect(t, "alice")            // a WebSocket past its Welcome
//	n.API.PushToUsers(ctx, req)           // authenticated with n.Creds.APIKey
//
// Start fills the defaults (fresh Creds, a 1 s drain, the log in the
// test's under -v) and Options.Config changes any setting after them;
// Options.RedisURL runs the node on Redis, and StartCluster starts several
// on one Redis with shared Creds. The node is stopped, its Run has
// returned and its client is closed when the test ends (Node.Stop does it
// earlier), so goleak finds nothing behind.
//
// Creds are what a cluster shares: a client token is Creds.Token, a
// process started with internal/heraldproc takes Creds.Env. The API key
// goes on every call as grpcapi.Bearer, the same type the herald commands
// use: tests have no bearer type of their own.
//
// server/grpcapi's tests serve the gRPC API alone, with a fake or tuned
// service and no node; they keep their harness, with grpcapi.Bearer.
// server/wsgate's do the same with the gateway.
//
// # Naming the files of a package's tests
//
//   - main_test.go holds TestMain and nothing else.
//   - harness_test.go holds the package's test support: the starting of
//     what its tests run against, fakes, dial and wait helpers. Never
//     "helpers", "util" or support in main_test.go.
//   - <what>_e2e_test.go holds end-to-end tests: they run a whole node
//     (this package or a herald process) and reach it over real sockets.
//   - <what>_test.go holds every other test, and <what>_bench_test.go (or
//     bench_test.go) benchmarks.
package nodetest
