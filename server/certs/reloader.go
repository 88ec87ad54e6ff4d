package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoCertificates means a CA file held no certificate.
var ErrNoCertificates = errors.New("certs: no certificates found")

// Reloader serves the current certificate of a cert/key file pair.
type Reloader struct {
	// immutable after New
	certFile, keyFile string
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // guards modTime; serialises reloads
	modTime [2]time.Time
}

// New loads the pair once; a pair that does not load is an error naming
// the files.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the pair again and, when it loads, serves it from the next
// handshake on.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	mods, err := r.stat()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("certs: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cur.Store(&cert)
	r.modTime = mods
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
		r.log.Info("tls certificate loaded", "file", r.certFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	return nil
}

func (r *Reloader) stat() ([2]time.Time, error) {
	var out [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return out, fmt.Errorf("certs: %w", err)
		}
		out[i] = fi.ModTime()
	}
	return out, nil
}

// GetCertificate is a tls.Config.GetCertificate that serves the current
// pair.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Watch reloads the pair whenever either file's modification time
// changes, checking every interval, until ctx ends. A failed reload is
// logged and the current pair kept.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mods, err := r.stat()
		r.mu.Lock()
		changed := err == nil && mods != r.modTime
		r.mu.Unlock()
		if changed {
			if err := r.Reload(); err != nil {
				r.log.Warn("tls certificate reload failed; keeping the current one", "err", err)
			}
		}
	}
}

// LoadPool reads a PEM file of CA certificates.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w in %s", ErrNoCertificates, file)
	}
	return pool, nil
}
