// Package grpcapi is Herald's gRPC adapter: it serves
// herald.push.v1.PushService over one pushsvc.Service and supplies the
// interceptors every call passes through (Prometheus metrics, logging
// through log/slog, panic recovery, API-key authentication with scopes, a
// rate limit per key, request validation).
//
// It is a thin skin over pushsvc: a method converts its request to pushsvc
// types, calls the service and converts the answer back. It holds no state
// of its own beyond its options, a token bucket per caller and the
// shutdown signal, and it is the one place where pushsvc's domain errors
// become gRPC status codes (see toStatus).
//
// Requests are validated before a method runs, by an interceptor, against
// the protovalidate rules written in push.proto and then against the
// configured Limits, which may only tighten them (validate.go). PushStream
// validates each of its requests itself, and takes a rate-limit token for
// each, so that a bad request gets its own result while the stream goes
// on (pushstream.go); its flow control, a window of requests read ahead
// of their results, is in pushwindow.go. Malformed
// requests get InvalidArgument with each offending field named, e.g.
// "user_ids[3]: must be at least 1 characters". A call outside its API
// key's scopes gets PermissionDenied naming the missing scope (keys.go);
// a caller over its rate limit, or a request over the message size limit,
// gets ResourceExhausted.
//
// The server process owns the grpc.Server: it builds it with
// API.ServerOptions (required: they carry authentication and validation),
// registers the API with API.Register, registers health and reflection
// itself, then calls API.InitializeMetrics. Health skips the API key;
// reflection, like PushService, asks for it, in any scope.
//
// Concurrency: an API is safe for concurrent use by any number of calls;
// it is immutable after New except for the per-caller token buckets
// (rate.Limiter is safe for concurrent use) and PushStream counts
// (atomic), the map of client-certificate callers (guarded by a mutex)
// and the shutdown signal that ends WatchStats and PushStream calls.
package grpcapi
