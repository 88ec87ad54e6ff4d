package grpcapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Authentication, scopes and rate limits. The tap (tap.go) runs
// authenticate when a stream opens: it identifies the caller, refuses a
// method outside its scopes and leaves the caller in the stream's
// context; the ratelimit interceptor takes a token from that caller's
// bucket (callerLimiter).

// caller is who makes a call: the holder of one API key, or of one
// verified client certificate.
type caller struct {
	// immutable after creation
	scopes  Scope
	limiter *rate.Limiter // nil: not rate limited

	pushStreams atomic.Int64 // PushStream calls open (openPushStream)
}

// callers identifies callers. It is immutable after New except for the
// certificate callers, which come and go with the certificates presented.
type callers struct {
	keys []apiKey // empty with ClientCertOnly
	rate RateLimit

	mu     sync.Mutex
	byCert map[string]*caller // by the certificate's raw subject; guarded by mu
}

// apiKey is a configured key: its SHA-256 and its caller.
type apiKey struct {
	sum    [sha256.Size]byte
	caller *caller
}

func newCallers(opts *Options) *callers {
	cs := &callers{rate: opts.RateLimit, byCert: make(map[string]*caller)}
	for _, spec := range opts.APIKeys {
		k, _ := ParseAPIKey(spec) // Options.validate has checked each
		cs.keys = append(cs.keys, apiKey{sum: sha256.Sum256([]byte(k.Key)), caller: cs.newCaller(k.Scopes)})
	}
	return cs
}

func (cs *callers) newCaller(scopes Scope) *caller {
	c := &caller{scopes: scopes}
	if cs.rate.enabled() {
		c.limiter = rate.NewLimiter(rate.Limit(cs.rate.PerSecond), cs.rate.Burst)
	}
	return c
}

// byKey returns the caller holding key, or nil. It compares digests
// rather than keys: subtle.ConstantTimeCompare returns early on a length
// mismatch, which would leak each key's length. Every key is compared and
// the match is selected without branching, so the time taken does not
// tell which key matched, or whether one did.
func (cs *callers) byKey(key string) *caller {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range cs.keys {
		eq := subtle.ConstantTimeCompare(sum[:], cs.keys[i].sum[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil
	}
	return cs.keys[found].caller
}

// byCertificate returns the caller for a verified certificate's raw
// subject. The configured CA signed every such certificate, so the map
// grows no larger than the set of certificates the operator issued.
func (cs *callers) byCertificate(subject string) *caller {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.byCert[subject]
	if !ok {
		c = cs.newCaller(ScopeAll)
		cs.byCert[subject] = c
	}
	return c
}

// authenticate accepts a caller with a verified TLS client certificate or
// with "authorization: Bearer <key>" naming one of the API keys, if method
// is within its scopes. ctx carries the request headers and the peer.
func (a *API) authenticate(ctx context.Context, method string) (*caller, error) {
	c, err := a.identify(ctx)
	if err != nil {
		return nil, err
	}
	if need := requiredScope(method); need != 0 && c.scopes&need == 0 {
		return nil, status.Errorf(codes.PermissionDenied, "%s needs an API key with scope %s; this key has scope %q",
			method, need.anyOf(), c.scopes)
	}
	return c, nil
}

func (a *API) identify(ctx context.Context) (*caller, error) {
	if subject, ok := verifiedClientCert(ctx); ok {
		return a.callers.byCertificate(subject), nil
	}
	if len(a.callers.keys) == 0 {
		return nil, status.Error(codes.Unauthenticated, "this server accepts only callers with a client certificate its CA signed (mutual TLS)")
	}
	key, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, `missing API key: send metadata "authorization: Bearer <api key>"`)
	}
	c := a.callers.byKey(key)
	if c == nil {
		return nil, status.Error(codes.Unauthenticated, "invalid API key")
	}
	return c, nil
}

// verifiedClientCert returns the raw subject of the client certificate the
// peer presented, if the server's TLS config verified it (mTLS). Chains
// are only filled in when the server asked for and checked the
// certificate.
func verifiedClientCert(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	return string(ti.State.VerifiedChains[0][0].RawSubject), true
}

// callerLimiter is the ratelimit interceptor's Limiter: each caller spends
// from its own bucket, so one flooding key does not slow the others.
type callerLimiter struct {
	exceeded error // what the interceptor tells a refused caller
}

func newCallerLimiter(r RateLimit) callerLimiter {
	return callerLimiter{exceeded: fmt.Errorf("rate limit exceeded: %g calls/s per API key, burst %d", r.PerSecond, r.Burst)}
}

// Limit refuses the call when its caller's bucket is empty. Calls without
// a caller (health checks) are not limited.
func (l callerLimiter) Limit(ctx context.Context) error {
	if c := callerFrom(ctx); c != nil && c.limiter != nil && !c.limiter.Allow() {
		return l.exceeded
	}
	return nil
}
