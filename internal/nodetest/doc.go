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
// One rule for every package, held by TestFileNamesFollowTheRule:
//
//   - main_test.go holds TestMain (and what only it uses), and no other
//     file does.
//   - harness_test.go holds the package's test support: the starting of
//     what its tests run against, dial and wait helpers;
//     harness_<what>_test.go a second kind, such as a fake server. Never
//     "helpers" or "util".
//   - <what>_e2e_test.go holds end-to-end tests: a file that runs a whole
//     node (imports nodetest or internal/heraldproc) is named so, unless
//     it is support or benchmarks.
//   - <what>_test.go holds every other test, bench_test.go or
//     <what>_bench_test.go benchmarks, and export_test.go what a package
//     exports to its external tests.
package nodetest
