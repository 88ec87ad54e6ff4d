package certs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-push/herald/server/certs"
)

// writePair writes a self-signed pair named cn, with a distinct mtime.
func writePair(t *testing.T, certFile, keyFile, cn string, mtime time.Time) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	for f, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func commonName(t *testing.T, r *certs.Reloader) string {
	t.Helper()
	c, _ := r.GetCertificate(&tls.ClientHelloInfo{})
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

func TestWatchReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, cf, kf, "one", time.Now().Add(-time.Hour))
	r, err := certs.New(cf, kf, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	writePair(t, cf, kf, "two", time.Now())
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for commonName(t, r) != "two" {
		select {
		case <-deadline:
			t.Fatal("watch did not pick up the new pair")
		case <-tick.C:
		}
	}
}

func TestBadPairKeepsCurrent(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, cf, kf, "good", time.Now())
	r, err := certs.New(cf, kf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cf, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("a broken pair reloaded")
	}
	if cn := commonName(t, r); cn != "good" {
		t.Errorf("serving %q after a failed reload", cn)
	}
	if _, err := certs.New(cf, kf, nil); err == nil {
		t.Error("New accepted a broken pair")
	}
	if _, err := certs.LoadPool(kf); !errors.Is(err, certs.ErrNoCertificates) {
		t.Errorf("LoadPool of a key file: %v", err)
	}
}
