package tokens_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/server/tokens"
)

func TestVerifyAlgorithms(t *testing.T) {
	k := testKeys()
	rsaPEM := tokens.Options{PublicKeyPEM: pemOf(t, &k.rsa.PublicKey)}
	for _, tc := range []struct {
		method jwt.SigningMethod
		key    any
		opts   tokens.Options
	}{
		{jwt.SigningMethodHS256, testSecret, tokens.Options{Secret: testSecret}},
		{jwt.SigningMethodHS384, testSecret, tokens.Options{Secret: testSecret}},
		{jwt.SigningMethodHS512, testSecret, tokens.Options{Secret: testSecret}},
		{jwt.SigningMethodRS256, k.rsa, rsaPEM},
		{jwt.SigningMethodRS384, k.rsa, rsaPEM},
		{jwt.SigningMethodRS512, k.rsa, rsaPEM},
		{jwt.SigningMethodES256, k.p256, tokens.Options{PublicKeyPEM: pemOf(t, &k.p256.PublicKey)}},
		{jwt.SigningMethodES384, k.p384, tokens.Options{PublicKeyPEM: pemOf(t, &k.p384.PublicKey)}},
		{jwt.SigningMethodES512, k.p521, tokens.Options{PublicKeyPEM: pemOf(t, &k.p521.PublicKey)}},
		{jwt.SigningMethodEdDSA, k.ed, tokens.Options{PublicKeyPEM: pemOf(t, k.ed.Public())}},
	} {
		t.Run(tc.method.Alg(), func(t *testing.T) {
			v := newVerifier(t, tc.opts)
			c := claims()
			c["groups"] = []string{"staff", "beta"}
			got, err := v.Verify(sign(t, tc.method, tc.key, c, nil))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := tokens.Claims{UserID: "alice", Groups: []string{"staff", "beta"}, ExpiresAt: t0.Add(time.Hour), IssuedAt: t0}
			if got.UserID != want.UserID || !slices.Equal(got.Groups, want.Groups) ||
				!got.ExpiresAt.Equal(want.ExpiresAt) || !got.IssuedAt.Equal(want.IssuedAt) {
				t.Fatalf("claims = %+v; want %+v", got, want)
			}
		})
	}
}

// TestVerifyAllSources checks that with every key kind configured at once
// each token still finds its own key.
func TestVerifyAllSources(t *testing.T) {
	k := testKeys()
	v := newVerifier(t, tokens.Options{Secret: testSecret, PublicKeyPEM: pemOf(t, &k.rsa.PublicKey)})
	for _, tok := range []string{
		sign(t, jwt.SigningMethodHS256, testSecret, claims(), nil),
		sign(t, jwt.SigningMethodRS256, k.rsa, claims(), nil),
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

func TestVerifyRefusals(t *testing.T) {
	k := testKeys()
	rsaPEM := pemOf(t, &k.rsa.PublicKey)
	other256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secretOnly := tokens.Options{Secret: testSecret}
	pemOnly := tokens.Options{PublicKeyPEM: rsaPEM}
	both := tokens.Options{Secret: testSecret, PublicKeyPEM: rsaPEM}
	withAud := tokens.Options{Secret: testSecret, Audience: "herald", Issuer: "https://id.example"}
	hs := func(mod func(jwt.MapClaims)) string {
		c := claims()
		mod(c)
		return sign(t, jwt.SigningMethodHS256, testSecret, c, nil)
	}
	for _, tc := range []struct {
		name  string
		opts  tokens.Options
		token string
		want  error
	}{
		{"empty", secretOnly, "", tokens.ErrMissingToken},
		{"garbage", secretOnly, "not a token", tokens.ErrMalformed},
		{"three garbage segments", secretOnly, "a.b.c", tokens.ErrMalformed},
		{"too long", secretOnly, strings.Repeat("a", tokens.MaxTokenBytes+1), tokens.ErrMalformed},
		{"alg none, secret configured", secretOnly, unsignedNone(t, claims()), tokens.ErrAlgorithm},
		{"alg none, PEM configured", pemOnly, unsignedNone(t, claims()), tokens.ErrAlgorithm},
		// The classic confusion attack: the public key, which is public,
		// used as an HMAC secret.
		{"HS256 keyed with the PEM, PEM configured", pemOnly, sign(t, jwt.SigningMethodHS256, rsaPEM, claims(), nil), tokens.ErrAlgorithm},
		{"HS256 keyed with the PEM, both configured", both, sign(t, jwt.SigningMethodHS256, rsaPEM, claims(), nil), tokens.ErrSignature},
		{"RS256, only a secret configured", secretOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(), nil), tokens.ErrAlgorithm},
		{"ES256 against a P-384 key", tokens.Options{PublicKeyPEM: pemOf(t, &k.p384.PublicKey)}, sign(t, jwt.SigningMethodES256, k.p256, claims(), nil), tokens.ErrAlgorithm},
		{"ES256 by another key", tokens.Options{PublicKeyPEM: pemOf(t, &k.p256.PublicKey)}, sign(t, jwt.SigningMethodES256, other256, claims(), nil), tokens.ErrSignature},
		{"HS256 wrong secret", secretOnly, sign(t, jwt.SigningMethodHS256, []byte("another secret, also 32 bytes ok"), claims(), nil), tokens.ErrSignature},
		{"expired", secretOnly, hs(func(c jwt.MapClaims) { c["exp"] = t0.Add(-time.Hour).Unix() }), tokens.ErrExpired},
		{"nbf in the future", secretOnly, hs(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Minute).Unix() }), tokens.ErrNotYetValid},
		{"missing sub", secretOnly, hs(func(c jwt.MapClaims) { delete(c, "sub") }), tokens.ErrClaims},
		{"empty sub", secretOnly, hs(func(c jwt.MapClaims) { c["sub"] = "" }), tokens.ErrClaims},
		{"numeric sub", secretOnly, hs(func(c jwt.MapClaims) { c["sub"] = 42 }), tokens.ErrMalformed},
		{"missing exp", secretOnly, hs(func(c jwt.MapClaims) { delete(c, "exp") }), tokens.ErrClaims},
		{"missing aud", withAud, hs(func(c jwt.MapClaims) { c["iss"] = "https://id.example" }), tokens.ErrClaims},
		{"missing iss", withAud, hs(func(c jwt.MapClaims) { c["aud"] = "herald" }), tokens.ErrClaims},
		{"wrong aud", withAud, hs(func(c jwt.MapClaims) { c["aud"] = "other"; c["iss"] = "https://id.example" }), tokens.ErrAudience},
		{"wrong iss", withAud, hs(func(c jwt.MapClaims) { c["aud"] = "herald"; c["iss"] = "https://evil.example" }), tokens.ErrIssuer},
		// A fresh token would not fix the audience, so that reason wins.
		{"wrong aud and expired", withAud, hs(func(c jwt.MapClaims) {
			c["aud"] = "other"
			c["iss"] = "https://id.example"
			c["exp"] = t0.Add(-time.Hour).Unix()
		}), tokens.ErrAudience},
		{"groups a string", secretOnly, hs(func(c jwt.MapClaims) { c["groups"] = "staff" }), tokens.ErrClaims},
		{"groups of numbers", secretOnly, hs(func(c jwt.MapClaims) { c["groups"] = []any{"staff", 7} }), tokens.ErrClaims},
		{"groups with an empty name", secretOnly, hs(func(c jwt.MapClaims) { c["groups"] = []string{"staff", ""} }), tokens.ErrClaims},
		{"groups an object", secretOnly, hs(func(c jwt.MapClaims) { c["groups"] = map[string]any{"staff": true} }), tokens.ErrClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, tc.opts)
			c, err := v.Verify(tc.token)
			checkRefused(t, err, tc.want)
			if c.UserID != "" {
				t.Fatalf("refusal returned claims %+v", c)
			}
			if tc.want != tokens.ErrExpired && errors.Is(err, tokens.ErrExpired) {
				t.Fatalf("err = %v also claims expiry", err)
			}
		})
	}
}

// TestVerifyLeeway: the leeway covers clock skew on nbf, where skew would
// refuse a brand-new token; exp gets none, because the WebSocket layer ends
// a connection at exp: a token just past it is refused (401) instead of
// being upgraded and cut at once with 4001.
func TestVerifyLeeway(t *testing.T) {
	expAtT0 := claims()
	expAtT0["exp"] = t0.Unix()
	nbfAtT0 := claims()
	nbfAtT0["nbf"] = t0.Unix()
	for _, tc := range []struct {
		name   string
		c      jwt.MapClaims
		leeway time.Duration
		now    time.Time
		want   error // nil: accepted
	}{
		{"a second before exp", expAtT0, 0, t0.Add(-time.Second), nil},
		{"at exp", expAtT0, 0, t0, tokens.ErrExpired},
		{"a second past exp, within the default leeway", expAtT0, 0, t0.Add(time.Second), tokens.ErrExpired},
		{"2m past exp, within a 5m leeway", expAtT0, 5 * time.Minute, t0.Add(2 * time.Minute), tokens.ErrExpired},
		{"nbf 20s ahead, within the default leeway", nbfAtT0, 0, t0.Add(-20 * time.Second), nil},
		{"nbf 40s ahead, beyond the default leeway", nbfAtT0, 0, t0.Add(-40 * time.Second), tokens.ErrNotYetValid},
		{"nbf 20s ahead, beyond a 5s leeway", nbfAtT0, 5 * time.Second, t0.Add(-20 * time.Second), tokens.ErrNotYetValid},
		{"nbf 2m ahead, within a 5m leeway", nbfAtT0, 5 * time.Minute, t0.Add(-2 * time.Minute), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, testSecret, tc.c, nil)
			v := newVerifier(t, tokens.Options{Secret: testSecret, Leeway: tc.leeway, Now: at(tc.now)})
			_, err := v.Verify(tok)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			checkRefused(t, err, tc.want)
		})
	}
}

func TestVerifyOptionalClaims(t *testing.T) {
	v := newVerifier(t, tokens.Options{Secret: testSecret, Audience: "herald", Issuer: "https://id.example"})
	c := claims()
	c["aud"] = []string{"billing", "herald"}
	c["iss"] = "https://id.example"
	c["groups"] = nil // written by encoders of nil slices: no groups
	delete(c, "iat")
	got, err := v.Verify(sign(t, jwt.SigningMethodHS512, testSecret, c, nil))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Groups != nil || !got.IssuedAt.IsZero() {
		t.Fatalf("claims = %+v; want no groups and zero IssuedAt", got)
	}
}
