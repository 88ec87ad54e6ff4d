package tokens

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// DevCredentials are the loopback dev mode's generated client-token secret
// and gRPC API key, shared between `herald serve` and `herald token`
// through one file so a minted token is accepted by the running server.
type DevCredentials struct {
	// JWTSecret is the HS256 secret, 32 random bytes (base64 in the file).
	JWTSecret []byte `json:"jwt_secret"`
	// APIKey is the gRPC callers' key, "hk_dev_" plus random base32.
	APIKey string `json:"api_key"`
}

const (
	devSecretBytes = 32
	devKeyBytes    = 20 // 160 bits: 32 base32 characters
	devKeyPrefix   = "hk_dev_"
	// devFileMax bounds what LoadOrCreateDevCredentials reads; a real
	// file is about 120 bytes.
	devFileMax = 64 << 10
)

// DefaultDevCredentialsPath is $HERALD_DEV_DIR/dev-credentials.json when
// that variable is set, else herald/dev-credentials.json under
// os.UserConfigDir.
func DefaultDevCredentialsPath() (string, error) {
	if dir := os.Getenv("HERALD_DEV_DIR"); dir != "" {
		return filepath.Join(dir, "dev-credentials.json"), nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("tokens: dev credentials: no user config dir (set HERALD_DEV_DIR): %w", err)
	}
	return filepath.Join(dir, "herald", "dev-credentials.json"), nil
}

// LoadOrCreateDevCredentials reads the credentials at path or, when the
// file does not exist, generates them and writes them there with mode 0600
// (creating the directory with 0700). created reports the latter. A file
// readable by other users, or not valid credentials, is an error naming
// the path rather than something to overwrite: it may belong to a server
// that is running.
func LoadOrCreateDevCredentials(path string) (creds DevCredentials, created bool, err error) {
	creds, err = loadDevCredentials(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return creds, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return DevCredentials{}, false, fmt.Errorf("tokens: dev credentials %s: %w", path, err)
	}
	creds, err = newDevCredentials()
	if err != nil {
		return DevCredentials{}, false, err
	}
	switch err := writeNew(path, creds); {
	case err == nil:
		return creds, true, nil
	case errors.Is(err, fs.ErrExist):
		// Another process (`herald token` racing `herald serve`) won;
		// use its credentials so both agree.
		creds, err = loadDevCredentials(path)
		return creds, false, err
	default:
		return DevCredentials{}, false, fmt.Errorf("tokens: dev credentials %s: %w", path, err)
	}
}

func loadDevCredentials(path string) (DevCredentials, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return DevCredentials{}, err
		}
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials %s: not a regular file", path)
	}
	// Windows reports no Unix permission bits worth checking.
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials %s: mode %#o lets other users read the secret; run `chmod 600 %s` (or delete it to regenerate)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, devFileMax))
	if err != nil {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials %s: %w", path, err)
	}
	var c DevCredentials
	if err := json.Unmarshal(data, &c); err != nil {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials %s: bad JSON (delete it to regenerate): %w", path, err)
	}
	if len(c.JWTSecret) < MinSecretBytes || c.APIKey == "" {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials %s: needs jwt_secret of at least %d bytes and api_key (delete it to regenerate)", path, MinSecretBytes)
	}
	return c, nil
}

func newDevCredentials() (DevCredentials, error) {
	secret := make([]byte, devSecretBytes)
	key := make([]byte, devKeyBytes)
	if _, err := rand.Read(secret); err != nil {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return DevCredentials{}, fmt.Errorf("tokens: dev credentials: %w", err)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return DevCredentials{
		JWTSecret: secret,
		APIKey:    devKeyPrefix + strings.ToLower(enc.EncodeToString(key)),
	}, nil
}

// writeNew writes creds to path only if path does not exist yet. It writes
// a temporary file and hard-links it into place, so a concurrent reader
// sees either no file or a complete one, and a concurrent writer gets
// fs.ErrExist instead of overwriting. Where hard links are unsupported it
// falls back to an exclusive create.
func writeNew(path string, creds DevCredentials) error {
	data, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dev-credentials-*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	err = os.Link(tmp.Name(), path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
