package tokens

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// DefaultLeeway is the clock skew allowed on nbf when Options.Leeway is
// zero: token issuers and Herald nodes rarely agree to the second, and a
// brand-new token refused for two seconds of skew is a support call. exp
// gets no leeway: a connection ends at exp, so a token past it is refused
// (401) rather than upgraded and cut at once (4001).
const DefaultLeeway = 30 * time.Second

// MinSecretBytes is the shortest HMAC secret NewVerifier accepts. RFC 7518
// §3.2 asks for a key at least as long as the hash (32 bytes for HS256);
// anything shorter can be brute-forced offline from a single token.
const MinSecretBytes = 32

// Options configure a Verifier. At least one of Secret, PublicKeyPEM and
// JWKSURL must be set; all the others are optional.
type Options struct {
	// Secret is the HMAC key for HS256, HS384 and HS512 tokens. At least
	// MinSecretBytes long.
	Secret []byte
	// PublicKeyPEM is one RSA (2048 bits or more), ECDSA (P-256, P-384,
	// P-521) or Ed25519 public key, as a PUBLIC KEY, RSA PUBLIC KEY or
	// CERTIFICATE PEM block. It accepts RS256/384/512, the ES algorithm of
	// its curve, or EdDSA respectively.
	PublicKeyPEM []byte
	// JWKSURL is an https URL (plain http only to a loopback host) serving
	// a JWK Set. Keys are fetched at NewVerifier, refreshed every 15
	// minutes, and refetched (at most once a minute) when a token names an
	// unknown kid.
	JWKSURL string
	// Audience, when set, must be one of the token's aud values.
	Audience string
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Leeway is the clock skew allowed on nbf (not on exp: see
	// DefaultLeeway); zero means DefaultLeeway. Negative is an error.
	Leeway time.Duration
	// Now replaces time.Now, for tests. Nil means time.Now.
	Now func() time.Time
	// Logger receives JWKS refresh failures. Nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with its zero values filled in; the one place
// defaults live.
func (o Options) withDefaults() Options {
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// validate checks o; every error names the field. It does not parse the
// PEM key; NewVerifier does, with the same naming.
func (o Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("tokens: Options."+format, args...)) }
	if len(o.Secret) == 0 && len(o.PublicKeyPEM) == 0 && o.JWKSURL == "" {
		bad("Secret: no client-token key configured: set Secret, PublicKeyPEM or JWKSURL")
	}
	if len(o.Secret) > 0 {
		if err := CheckSecret(o.Secret); err != nil {
			bad("Secret: %w", err)
		}
	}
	// Configuring the public key as the secret as well would recreate the
	// very confusion attack the separate parsers prevent.
	if len(o.Secret) > 0 && len(o.PublicKeyPEM) > 0 && bytes.Equal(bytes.TrimSpace(o.Secret), bytes.TrimSpace(o.PublicKeyPEM)) {
		bad("Secret: must not be the public key given as PublicKeyPEM")
	}
	if o.JWKSURL != "" {
		if err := CheckJWKSURL(o.JWKSURL); err != nil {
			bad("JWKSURL: %w", err)
		}
	}
	if o.Leeway < 0 {
		bad("Leeway %v: must not be negative", o.Leeway)
	}
	return errors.Join(errs...)
}

// CheckSecret refuses an HMAC secret shorter than MinSecretBytes. It does
// not quote the secret.
func CheckSecret(secret []byte) error {
	if n := len(secret); n < MinSecretBytes {
		return fmt.Errorf("%d bytes is too short; use at least %d random bytes (e.g. `openssl rand -hex 32`)", n, MinSecretBytes)
	}
	return nil
}

// CheckJWKSURL accepts https URLs, and plain http only to a loopback host:
// keys fetched in the clear could be swapped by anyone on the path, which
// would let them mint tokens for any user.
func CheckJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: plain http is allowed only to a loopback host; use https", raw)
	default:
		return fmt.Errorf("%q: scheme must be https", raw)
	}
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
