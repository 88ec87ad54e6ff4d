package tokens_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/server/tokens"
)

// FuzzVerify feeds Verify arbitrary strings: it must never panic, and it
// must either return sane claims or a refusal callers can branch on. Under
// plain `go test` only the seeds run; everything here is fixed (keys from a
// constant seed, a fixed clock) so those runs are deterministic.
func FuzzVerify(f *testing.F) {
	ed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	v, err := tokens.NewVerifier(f.Context(), tokens.Options{
		Secret:       testSecret,
		PublicKeyPEM: pemOf(f, ed.Public()),
		Now:          at(t0),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)

	c := claims()
	c["groups"] = []string{"staff"}
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, c, nil))
	f.Add(sign(f, jwt.SigningMethodEdDSA, ed, c, map[string]any{"kid": "k"}))
	f.Add(unsignedNone(f, c))
	f.Add(sign(f, jwt.SigningMethodHS256, pemOf(f, ed.Public()), c, nil))
	f.Add("")
	f.Add("garbage")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJncm91cHMiOlsxXX0.x")

	f.Fuzz(func(t *testing.T, token string) {
		got, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, tokens.ErrInvalidToken) && !errors.Is(err, tokens.ErrMissingToken) {
				t.Fatalf("err = %v wraps neither ErrInvalidToken nor ErrMissingToken", err)
			}
			return
		}
		if got.UserID == "" || got.ExpiresAt.IsZero() || !t0.Before(got.ExpiresAt) {
			t.Fatalf("accepted claims %+v", got)
		}
		for _, g := range got.Groups {
			if g == "" {
				t.Fatal("accepted an empty group")
			}
		}
	})
}
