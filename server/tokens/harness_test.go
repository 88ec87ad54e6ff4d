package tokens_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/server/tokens"
)

// t0 is the fixed "now" of these tests; verifiers get it through
// Options.Now so no test depends on the wall clock.
var t0 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// testSecret is 32 bytes, the minimum a Verifier accepts.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

type keySet struct {
	rsa  *rsa.PrivateKey
	p256 *ecdsa.PrivateKey
	p384 *ecdsa.PrivateKey
	p521 *ecdsa.PrivateKey
	ed   ed25519.PrivateKey
}

// testKeys generates the key pairs once per test binary: a 2048-bit RSA
// key takes a noticeable fraction of a second under -race.
var testKeys = sync.OnceValue(func() keySet {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var k keySet
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

// pemOf PEM-encodes a public key as PKIX "PUBLIC KEY".
func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims returns valid claims for alice at t0, to be altered per case.
func claims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "alice",
		"iat": t0.Unix(),
		"exp": t0.Add(time.Hour).Unix(),
	}
}

// sign signs c with method and key, setting the extra header fields.
func sign(t testing.TB, method jwt.SigningMethod, key any, c jwt.Claims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// unsignedNone is an "alg: none" token, which golang-jwt makes only when
// told it is unsafe.
func unsignedNone(t testing.TB, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t testing.TB, opts tokens.Options) *tokens.Verifier {
	t.Helper()
	if opts.Now == nil {
		opts.Now = at(t0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := tokens.NewVerifier(ctx, opts)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// checkRefused asserts err is a refusal with the given reason.
func checkRefused(t testing.TB, err, reason error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %v", reason)
	}
	if !errors.Is(err, reason) {
		t.Fatalf("err = %v; want %v", err, reason)
	}
	if reason != tokens.ErrMissingToken && !errors.Is(err, tokens.ErrInvalidToken) {
		t.Fatalf("err = %v does not wrap ErrInvalidToken", err)
	}
}
