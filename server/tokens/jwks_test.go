package tokens_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/server/tokens"
)

// jwksServer serves body on 127.0.0.1 (httptest's default) and counts the
// fetches.
func jwksServer(t *testing.T, status int, body []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// testJWKS is the public JWK Set of the test keys, plus a symmetric key
// that must never verify anything.
func testJWKS(t *testing.T) []byte {
	t.Helper()
	k := testKeys()
	store := jwkset.NewMemoryStorage()
	ctx := context.Background()
	for _, j := range []struct {
		key any
		kid string
		alg jwkset.ALG
	}{
		{&k.rsa.PublicKey, "rsa-1", jwkset.AlgRS256},
		{&k.p256.PublicKey, "ec-1", jwkset.AlgES256},
		{k.ed.Public(), "ed-1", ""},
		{testSecret, "oct-1", jwkset.AlgHS256},
	} {
		jwk, err := jwkset.NewJWKFromKey(j.key, jwkset.JWKOptions{
			Marshal:  jwkset.JWKMarshalOptions{Private: true}, // oct keys are "private"
			Metadata: jwkset.JWKMetadataOptions{KID: j.kid, ALG: j.alg},
		})
		if err != nil {
			t.Fatalf("JWK %s: %v", j.kid, err)
		}
		if err := store.KeyWrite(ctx, jwk); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := store.JSONPrivate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifyJWKS(t *testing.T) {
	k := testKeys()
	srv, hits := jwksServer(t, http.StatusOK, testJWKS(t))
	v := newVerifier(t, tokens.Options{JWKSURL: srv.URL + "/jwks.json"})

	t.Run("accepted", func(t *testing.T) {
		for _, tok := range []string{
			sign(t, jwt.SigningMethodRS256, k.rsa, claims(), map[string]any{"kid": "rsa-1"}),
			sign(t, jwt.SigningMethodES256, k.p256, claims(), map[string]any{"kid": "ec-1"}),
			sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), map[string]any{"kid": "ed-1"}),
			sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), nil), // no kid: every fitting key is tried
		} {
			if c, err := v.Verify(tok); err != nil || c.UserID != "alice" {
				t.Errorf("Verify = %+v, %v", c, err)
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			token string
			want  error
		}{
			{"unknown kid", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), map[string]any{"kid": "rsa-2"}), tokens.ErrUnknownKey},
			{"ES256 token naming an Ed25519 key", sign(t, jwt.SigningMethodES256, k.p256, claims(), map[string]any{"kid": "ed-1"}), tokens.ErrUnknownKey},
			{"HS256 with the JWKS's symmetric key", sign(t, jwt.SigningMethodHS256, testSecret, claims(), map[string]any{"kid": "oct-1"}), tokens.ErrAlgorithm},
			{"alg none", unsignedNone(t, claims()), tokens.ErrAlgorithm},
			{"ES384 with no fitting key", sign(t, jwt.SigningMethodES384, k.p384, claims(), nil), tokens.ErrUnknownKey},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := v.Verify(tc.token)
				checkRefused(t, err, tc.want)
			})
		}
	})
	// The unknown kid cost one refetch (rotation support), not more.
	if n := hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times; want 2 (start + one unknown-kid refresh)", n)
	}
}

func TestJWKSStartFailures(t *testing.T) {
	ok, _ := jwksServer(t, http.StatusOK, testJWKS(t))
	down, _ := jwksServer(t, http.StatusInternalServerError, []byte("{}"))
	empty, _ := jwksServer(t, http.StatusOK, []byte(`{"keys":[]}`))
	// Valid keys after 2 MiB of padding: accepted only if the cap failed.
	padded := append([]byte(`{"pad":"`+strings.Repeat("x", 2<<20)+`",`), testJWKS(t)[1:]...)
	huge, _ := jwksServer(t, http.StatusOK, padded)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		url  string
	}{
		{"server error", context.Background(), down.URL},
		{"no keys", context.Background(), empty.URL},
		{"oversized", context.Background(), huge.URL},
		{"unreachable", context.Background(), gone.URL},
		{"context cancelled", cancelled, ok.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(tc.ctx, 10*time.Second)
			defer cancel()
			v, err := tokens.NewVerifier(ctx, tokens.Options{JWKSURL: tc.url})
			if err == nil {
				v.Close()
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "tokens: Options.JWKSURL:") {
				t.Fatalf("err = %q; want it to name Options.JWKSURL", err)
			}
		})
	}
}

// TestJWKSCloseIsIdempotent relies on TestMain's leak check to see the
// refresh goroutine end.
func TestJWKSCloseIsIdempotent(t *testing.T) {
	srv, _ := jwksServer(t, http.StatusOK, testJWKS(t))
	v, err := tokens.NewVerifier(context.Background(), tokens.Options{JWKSURL: srv.URL, Now: at(t0)})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	v.Close()
	// Cached keys keep working after Close.
	if _, err := v.Verify(sign(t, jwt.SigningMethodEdDSA, testKeys().ed, claims(), map[string]any{"kid": "ed-1"})); err != nil {
		t.Fatalf("Verify after Close: %v", err)
	}
}

// TestVerifyConcurrent exercises the concurrency contract under -race.
func TestVerifyConcurrent(t *testing.T) {
	k := testKeys()
	srv, _ := jwksServer(t, http.StatusOK, testJWKS(t))
	v := newVerifier(t, tokens.Options{Secret: testSecret, JWKSURL: srv.URL})
	toks := []string{
		sign(t, jwt.SigningMethodHS256, testSecret, claims(), nil),
		sign(t, jwt.SigningMethodRS256, k.rsa, claims(), map[string]any{"kid": "rsa-1"}),
		sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), nil),
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 30 {
				if _, err := v.Verify(toks[i%len(toks)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
