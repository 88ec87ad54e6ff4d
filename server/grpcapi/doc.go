// Package grpcapi is Herald's gRPC adapter: it serves
// herald.push.v1.PushService over one pushsvc.Service and supplies what
// every call passes through: a tap that authenticates each stream as it
// opens (API key with scopes, or a verified client certificate), bounds
// on connections and streams, and the interceptors (Prometheus metrics,
// a log of failed and slow calls through log/slog, panic recovery, a rate
// limit per key, request validation).
//
// It is a thin skin over pushsvc: a method converts its request to pushsvc
// types, calls the service and converts the answer back. It holds no state
// of its own beyond its options, a token bucket per caller, the counts of
// open connections, WatchStats and WatchEvents streams, and the shutdown
// signal, and it
// is the one place where pushsvc's domain errors become gRPC status codes
// (see toStatus).
//
// Nothing a caller holds is unbounded (Capacity). grpc-go reads a unary
// call's whole request before any interceptor runs, so authentication
// happens earlier, in the tap (tap.go), which grpc-go runs when a stream's
// headers arrive: a stream without a valid key, or outside its key's
// scopes, is refused there with Unauthenticated or PermissionDenied and
// never gets a goroutine (one with a deadline is refused by the first
// interceptor instead, see tap). A stream let through must send its
// request within Capacity.RequestTimeout. Connections are capped per node by the
// listener from API.Listener, streams per connection by HTTP/2 SETTINGS,
// idle and silent connections are closed, ping floods cut off
// (transport.go), and WatchStats and WatchEvents streams are capped per
// node and per caller (watchers.go).
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
// key's scopes gets PermissionDenied naming the scopes that allow it (keys.go);
// a caller over its rate limit, a request over the message size limit, a
// WatchStats or WatchEvents stream over its cap, or a WatchEvents watcher
// too slow for its buffer gets ResourceExhausted; a WatchEvents cursor
// past the event log's retention gets FailedPrecondition. A call its
// caller ended (cancelled, or its deadline passed) is logged at debug.
//
// Callers authenticate with an API key or a client certificate; with
// Options.ClientCertOnly (a node with a client CA and no keys) only with a
// certificate.
//
// The server process owns the grpc.Server: it builds it with
// API.ServerOptions (required: they carry the tap, the bounds and the
// interceptors), serves it on API.Listener's wrapping of its listener,
// registers the API with API.Register, registers health and reflection
// itself, then calls API.InitializeMetrics. Health skips the API key;
// reflection, like PushService, asks for it, in any scope.
//
// Concurrency: an API is safe for concurrent use by any number of calls;
// it is immutable after New except for the per-caller token buckets
// (rate.Limiter is safe for concurrent use) and PushStream counts
// (atomic), the map of client-certificate callers (guarded by a mutex),
// the WatchStats and WatchEvents counts and the listener's set of open
// connections (each guarded by its own mutex; none is held while another
// is taken), the call metrics' series of each method (a sync.Map, added
// to on a method's first call), and the shutdown signal that ends
// WatchStats, WatchEvents and PushStream calls. The tap runs in a
// connection's reader goroutine under grpc-go's lock of that connection:
// it takes only the certificate-callers mutex, and briefly.
package grpcapi
