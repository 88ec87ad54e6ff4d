// Package tokens verifies the JWTs that WebSocket clients present, mints
// HS256 tokens for the `herald token` command and tests, and keeps the
// loopback dev mode's generated credentials.
//
// A [Verifier] accepts tokens signed with any of up to three configured key
// sources: an HMAC secret (HS256/384/512), one PEM public key (RS256/384/512,
// ES256/384/512 by curve, EdDSA) and a JWKS URL whose keys keyfunc fetches,
// caches and refreshes. Every source has its own parser whose accepted
// algorithms are fixed by the kind of key, and a token reaches a source only
// when its "alg" header names one of them, so "alg: none" and algorithm
// confusion (an RSA public key used as an HMAC secret) cannot verify.
//
// Every refusal wraps [ErrInvalidToken] plus one reason ([ErrExpired],
// [ErrSignature], ...) so the WebSocket layer answers 401 for all of them
// and still tells "expired" apart in logs and metrics.
//
// Concurrency: a Verifier is immutable after [NewVerifier] apart from the
// JWKS cache, which keyfunc guards itself; Verify is safe for concurrent use
// and never blocks on the network except for a rate-limited, time-bounded
// JWKS refresh when a token names an unknown key id. [Verifier.Close] stops
// the JWKS refresh goroutine.
package tokens
