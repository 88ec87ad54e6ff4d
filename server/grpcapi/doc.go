// Package grpcapi is Herald's gRPC adapter: it serves
// herald.push.v1.PushService over one pushsvc.Service and supplies the
// interceptors every call passes through (Prometheus metrics, logging
// through log/slog, panic recovery, API-key authentication).
//
// It is a thin skin over pushsvc: a method validates its request, converts
// it to pushsvc types, calls the service and converts the answer back. It
// holds no state of its own beyond its options, and it is the one place
// where pushsvc's domain errors become gRPC status codes (see toStatus).
// Malformed requests get InvalidArgument with the offending field named,
// e.g. "user_ids[3]: must not be empty".
//
// The server process owns the grpc.Server: it builds it with
// API.ServerOptions, registers the API with API.Register, registers health
// and reflection itself, then calls API.InitializeMetrics. Health skips the
// API key; reflection, like PushService, asks for it.
//
// Concurrency: an API is safe for concurrent use by any number of calls; it
// is immutable after New except for the shutdown signal that ends
// WatchStats streams.
package grpcapi
