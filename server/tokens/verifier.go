package tokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the tokens Verify looks at. golang-jwt decodes a
// token's claims before it checks the signature, so without a bound anyone
// could make every handshake parse megabytes of JSON; 16 KiB is twice the
// header size common proxies allow and holds hundreds of groups.
const MaxTokenBytes = 16 << 10

// Verifier checks client tokens against the configured keys.
type Verifier struct {
	// immutable after NewVerifier
	sources []*source // in trial order: HMAC, PEM, JWKS
	jwks    *jwksSource
	now     func() time.Time

	closeOnce sync.Once
}

// source is one kind of key with a parser that accepts only its algorithms.
type source struct {
	methods []string
	parser  *jwt.Parser
	keyFunc jwt.Keyfunc
}

// NewVerifier validates opts and builds a Verifier. With a JWKS URL it
// fetches the key set before returning and fails if that fetch does; ctx
// bounds that first fetch only, and the refresh goroutine then runs until
// Close.
func NewVerifier(ctx context.Context, opts Options) (*Verifier, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	v := &Verifier{now: opts.Now}
	if len(opts.Secret) > 0 {
		// Copy: the caller's slice must not change what we verify with.
		secret := slices.Clone(opts.Secret)
		v.sources = append(v.sources, &source{
			methods: hmacMethods,
			parser:  newParser(opts, hmacMethods),
			keyFunc: func(t *jwt.Token) (any, error) {
				if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
					return nil, refuse(ErrAlgorithm, fmt.Errorf("%s needs an asymmetric key", t.Method.Alg()))
				}
				return secret, nil
			},
		})
	}
	if len(opts.PublicKeyPEM) > 0 {
		key, methods, err := parsePublicKeyPEM(opts.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("tokens: Options.PublicKeyPEM: %w", err)
		}
		v.sources = append(v.sources, &source{
			methods: methods,
			parser:  newParser(opts, methods),
			keyFunc: func(t *jwt.Token) (any, error) {
				if !keyFits(t.Method, key) {
					return nil, refuse(ErrAlgorithm, fmt.Errorf("%s does not fit the configured public key", t.Method.Alg()))
				}
				return key, nil
			},
		})
	}
	if opts.JWKSURL != "" {
		j, err := newJWKSSource(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("tokens: Options.JWKSURL: %w", err)
		}
		v.jwks = j
		v.sources = append(v.sources, &source{
			methods: jwksMethods,
			parser:  newParser(opts, jwksMethods),
			keyFunc: j.keyFunc,
		})
	}
	return v, nil
}

// newParser builds the parser of one key source. WithValidMethods is what
// makes "alg: none" and cross-kind algorithms fail inside golang-jwt too,
// should a token ever reach the wrong source. The leeway applies to nbf
// here; Verify checks exp without it (see checkExpiry).
func newParser(opts Options, methods []string) *jwt.Parser {
	p := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	}
	if opts.Audience != "" {
		p = append(p, jwt.WithAudience(opts.Audience))
	}
	if opts.Issuer != "" {
		p = append(p, jwt.WithIssuer(opts.Issuer))
	}
	return jwt.NewParser(p...)
}

// Verify checks token's signature and claims and returns the claims. Every
// error wraps ErrMissingToken (empty token) or ErrInvalidToken plus a
// reason such as ErrExpired. Safe for concurrent use.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissingToken
	}
	if len(token) > MaxTokenBytes {
		return Claims{}, refuse(ErrMalformed, fmt.Errorf("longer than %d bytes", MaxTokenBytes))
	}
	alg, err := peekAlg(token)
	if err != nil {
		return Claims{}, refuse(ErrMalformed, err)
	}
	// Dispatch on alg so each token meets only the keys made for its
	// algorithm: an HS256 token never sees the PEM key, whatever it claims.
	var last error
	for _, s := range v.sources {
		if !slices.Contains(s.methods, alg) {
			continue
		}
		c, err := s.verify(token)
		if err == nil {
			if err := v.checkExpiry(c); err != nil {
				return Claims{}, err
			}
			return c, nil
		}
		last = err
		// Only a key mismatch is worth trying the next source for; any
		// other verdict (bad claims, expired) would be the same there.
		if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrUnknownKey) {
			break
		}
	}
	if last == nil {
		return Claims{}, refuse(ErrAlgorithm, fmt.Errorf("no configured key accepts alg %q", clip(alg)))
	}
	return Claims{}, last
}

func (s *source) verify(token string) (Claims, error) {
	var tc tokenClaims
	if _, err := s.parser.ParseWithClaims(token, &tc, s.keyFunc); err != nil {
		return Claims{}, classify(err)
	}
	return tc.claims(), nil
}

// checkExpiry refuses a token whose exp has passed, with no leeway. The
// WebSocket layer closes a connection when exp passes, so a token the
// leeway let through would be upgraded and cut a moment later with 4001,
// where the client should have had a 401 and refreshed first. Skew between
// the issuer's clock and ours can only shorten a token's life by the skew;
// on nbf, where skew would refuse a brand-new token, the leeway stays.
func (v *Verifier) checkExpiry(c Claims) error {
	if now := v.now(); !now.Before(c.ExpiresAt) {
		return refuse(ErrExpired, fmt.Errorf("exp %s is not after now (%s)",
			c.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	return nil
}

// classify maps a golang-jwt error to one refusal. Reasons that a new
// token would not cure (audience, issuer, claims) win over expiry, so a
// client is not told to refresh into the same refusal.
func classify(err error) error {
	// Our own key functions already chose the reason.
	var te *tokenError
	if errors.As(err, &te) {
		return te
	}
	var ce claimError
	if errors.As(err, &ce) {
		return refuse(ErrClaims, ce)
	}
	for _, m := range []struct{ jwt, reason error }{
		{jwt.ErrTokenMalformed, ErrMalformed},
		{jwt.ErrTokenSignatureInvalid, ErrSignature},
		{jwt.ErrTokenUnverifiable, ErrUnknownKey},
		{jwt.ErrTokenRequiredClaimMissing, ErrClaims},
		{jwt.ErrTokenInvalidAudience, ErrAudience},
		{jwt.ErrTokenInvalidIssuer, ErrIssuer},
		{jwt.ErrTokenNotValidYet, ErrNotYetValid},
		{jwt.ErrTokenExpired, ErrExpired},
	} {
		if errors.Is(err, m.jwt) {
			return refuse(m.reason, err)
		}
	}
	return refuse(ErrInvalidToken, err)
}

// peekAlg reads the alg header without touching the claims.
func peekAlg(token string) (string, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", errors.New("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	if h.Alg == "" {
		return "", errors.New("header: no alg")
	}
	return h.Alg, nil
}

// clip shortens attacker-supplied text before it reaches an error message.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Close stops the JWKS refresh goroutine, if any. Tokens keep verifying
// against the keys already fetched. Close is idempotent.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		if v.jwks != nil {
			v.jwks.close()
		}
	})
}
