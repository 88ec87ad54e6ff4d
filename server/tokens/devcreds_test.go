package tokens_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/server/tokens"
)

func TestDevCredentialsCreatedAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "herald")
	path := filepath.Join(dir, "dev-credentials.json")

	first, created, err := tokens.LoadOrCreateDevCredentials(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	if len(first.JWTSecret) != 32 || !strings.HasPrefix(first.APIKey, "hk_dev_") || len(first.APIKey) < len("hk_dev_")+26 {
		t.Fatalf("credentials = %d-byte secret, key %q", len(first.JWTSecret), first.APIKey)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode = %#o; want %#o", p, got, want)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".dev-credentials-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	second, created, err := tokens.LoadOrCreateDevCredentials(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if string(second.JWTSecret) != string(first.JWTSecret) || second.APIKey != first.APIKey {
		t.Fatal("second call did not reuse the stored credentials")
	}

	// What `herald token` mints with them, the dev server accepts.
	v := newVerifier(t, tokens.Options{Secret: second.JWTSecret})
	tok, err := tokens.Mint(first.JWTSecret, tokens.MintClaims{UserID: "alice", TTL: time.Hour, Now: at(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestDevCredentialsConcurrentCreate: `herald serve` and `herald token`
// started together for the first time must still agree.
func TestDevCredentialsConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev-credentials.json")
	const n = 8
	got := make([]tokens.DevCredentials, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], _, errs[i] = tokens.LoadOrCreateDevCredentials(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if got[i].APIKey != got[0].APIKey {
			t.Fatalf("call %d got different credentials", i)
		}
	}
}

func TestDevCredentialsRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{"world readable", `{"jwt_secret":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=","api_key":"hk_dev_x"}`, 0o644},
		{"group readable", `{"jwt_secret":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=","api_key":"hk_dev_x"}`, 0o640},
		{"bad JSON", `{"jwt_secret":`, 0o600},
		{"short secret", `{"jwt_secret":"c2hvcnQ=","api_key":"hk_dev_x"}`, 0o600},
		{"no api key", `{"jwt_secret":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}`, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dev-credentials.json")
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // umask may have trimmed it
				t.Fatal(err)
			}
			_, _, err := tokens.LoadOrCreateDevCredentials(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %q does not name %s", err, path)
			}
			// The file is reported, never replaced.
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Fatal("file was rewritten")
			}
		})
	}
}

func TestDefaultDevCredentialsPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HERALD_DEV_DIR", dir)
	if got, err := tokens.DefaultDevCredentialsPath(); err != nil || got != filepath.Join(dir, "dev-credentials.json") {
		t.Fatalf("with HERALD_DEV_DIR: %q, %v", got, err)
	}
	t.Setenv("HERALD_DEV_DIR", "")
	t.Setenv("XDG_CONFIG_HOME", dir) // os.UserConfigDir on Unix
	cfg, err := os.UserConfigDir()
	if err != nil {
		t.Skip("no user config dir:", err)
	}
	if got, err := tokens.DefaultDevCredentialsPath(); err != nil || got != filepath.Join(cfg, "herald", "dev-credentials.json") {
		t.Fatalf("without HERALD_DEV_DIR: %q, %v", got, err)
	}
}
