package auth_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-push/herald/server/auth"
)

func TestMintRoundTrip(t *testing.T) {
	v := newVerifier(t, auth.Options{Secret: testSecret, Audience: "herald", Issuer: "herald-dev"})
	tok, err := auth.Mint(testSecret, auth.MintClaims{
		UserID: "alice", Groups: []string{"staff"}, TTL: time.Hour,
		Audience: "herald", Issuer: "herald-dev", Now: at(t0),
	})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.UserID != "alice" || !slices.Equal(c.Groups, []string{"staff"}) ||
		!c.ExpiresAt.Equal(t0.Add(time.Hour)) || !c.IssuedAt.Equal(t0) {
		t.Fatalf("claims = %+v", c)
	}
}

func TestMintExpiredIsRefused(t *testing.T) {
	v := newVerifier(t, auth.Options{Secret: testSecret})
	tok, err := auth.Mint(testSecret, auth.MintClaims{UserID: "alice", TTL: time.Minute, Now: at(t0.Add(-time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(tok)
	checkRefused(t, err, auth.ErrExpired)
}

func TestMintRefusesBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		secret []byte
		c      auth.MintClaims
	}{
		"empty secret": {nil, auth.MintClaims{UserID: "alice", TTL: time.Hour}},
		"no user":      {testSecret, auth.MintClaims{TTL: time.Hour}},
		"zero ttl":     {testSecret, auth.MintClaims{UserID: "alice"}},
		"empty group":  {testSecret, auth.MintClaims{UserID: "alice", TTL: time.Hour, Groups: []string{""}}},
	} {
		t.Run(name, func(t *testing.T) {
			if tok, err := auth.Mint(tc.secret, tc.c); err == nil {
				t.Fatalf("minted %q", tok)
			}
		})
	}
}
