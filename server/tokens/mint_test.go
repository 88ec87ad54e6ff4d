package tokens_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-push/herald/server/tokens"
)

func TestMintRoundTrip(t *testing.T) {
	v := newVerifier(t, tokens.Options{Secret: testSecret, Audience: "herald", Issuer: "herald-dev"})
	tok, err := tokens.Mint(testSecret, tokens.MintClaims{
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
	v := newVerifier(t, tokens.Options{Secret: testSecret})
	tok, err := tokens.Mint(testSecret, tokens.MintClaims{UserID: "alice", TTL: time.Minute, Now: at(t0.Add(-time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(tok)
	checkRefused(t, err, tokens.ErrExpired)
}

func TestMintRefusesBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		secret []byte
		c      tokens.MintClaims
	}{
		"empty secret": {nil, tokens.MintClaims{UserID: "alice", TTL: time.Hour}},
		"no user":      {testSecret, tokens.MintClaims{TTL: time.Hour}},
		"zero ttl":     {testSecret, tokens.MintClaims{UserID: "alice"}},
		"empty group":  {testSecret, tokens.MintClaims{UserID: "alice", TTL: time.Hour, Groups: []string{""}}},
	} {
		t.Run(name, func(t *testing.T) {
			if tok, err := tokens.Mint(tc.secret, tc.c); err == nil {
				t.Fatalf("minted %q", tok)
			}
		})
	}
}
