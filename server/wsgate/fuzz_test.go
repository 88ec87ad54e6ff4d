package wsgate

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
)

// hijackFails is a ResponseWriter whose connection cannot be taken over,
// as when the client has gone: the gateway's upgrade fails there, and it
// records whether the gateway tried.
type hijackFails struct {
	*httptest.ResponseRecorder
	tried bool
}

func (h *hijackFails) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.tried = true
	return nil, nil, errors.New("no connection to hijack")
}

// FuzzHandshake sends arbitrary upgrade requests through ServeHTTP: none
// may panic, upgrade, or leave a slot taken, and each is either refused
// with 400, 401, 403, 429 or 503 (with Retry-After for the last two) or
// passes every check and reaches the upgrade.
func FuzzHandshake(f *testing.F) {
	type seed struct{ method, target, remote, authz, origin, key, version, upgrade, connection, ext string }
	good := seed{"GET", "/ws", "192.0.2.1:5000", "Bearer user:alice", "", "dGhlIHNhbXBsZSBub25jZQ==", "13", "websocket", "Upgrade", "permessage-deflate"}
	seeds := []seed{good}
	for _, mutate := range []func(*seed){
		func(s *seed) { s.target = "/ws?token=user:bob&resume=1"; s.authz = "" },
		func(s *seed) { s.authz = "Bearer expired:x" },
		func(s *seed) { s.authz = "Basic dXNlcjpwYXNz" },
		func(s *seed) { s.authz = "" },
		func(s *seed) { s.origin = "https://app.example.com" },
		func(s *seed) { s.origin = "https://a.example.org:8443" },
		func(s *seed) { s.origin = "https://evil.test" },
		func(s *seed) { s.origin = "null" },
		func(s *seed) { s.method = "POST" },
		func(s *seed) { s.key = "" },
		func(s *seed) { s.version = "8" },
		func(s *seed) { s.upgrade = "h2c" },
		func(s *seed) { s.connection = "keep-alive, Upgrade" },
		func(s *seed) { s.connection = "close" },
		func(s *seed) { s.remote = "[2001:db8::1]:443" },
		func(s *seed) { s.remote = "@" },
		func(s *seed) { s.target = "/ws?token=%zz" },
	} {
		s := good
		mutate(&s)
		seeds = append(seeds, s)
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.remote, s.authz, s.origin, s.key, s.version, s.upgrade, s.connection, s.ext)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := newTestService(f)
	gate := func(perSecond float64) *Gateway {
		g, err := New(Options{
			Service: svc, Verifier: &fakeVerifier{}, Logger: log, DisableCompression: true,
			AllowedOrigins: []string{"https://app.example.com", "https://*.example.org:8443"},
			MaxConnections: 1, MaxConnectionsPerUser: 1, MaxConnectionsPerIP: 1,
			MaxHandshakesPerIPPerSecond: perSecond, LimitLoopback: perSecond < 1,
		})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(g.Close)
		return g
	}
	// One that lets nearly everything through to the token and the
	// upgrade, and one that refuses all but the first handshake per IP.
	gates := []*Gateway{gate(1e6), gate(0.001)}

	f.Fuzz(func(t *testing.T, method, target, remote, authz, origin, key, version, upgrade, connection, ext string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // net/http answers 400 before any handler
		}
		for _, g := range gates {
			r := &http.Request{
				Method: method, URL: u, RequestURI: target, Host: "herald.test",
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{}, Body: http.NoBody, RemoteAddr: remote,
			}
			for k, v := range map[string]string{
				"Authorization": authz, "Origin": origin, "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": version,
				"Upgrade": upgrade, "Connection": connection, "Sec-WebSocket-Extensions": ext,
			} {
				if v != "" {
					r.Header.Set(k, v)
				}
			}
			w := &hijackFails{ResponseRecorder: httptest.NewRecorder()}
			g.ServeHTTP(w, r)

			switch code := w.Code; {
			case w.tried:
				if w.Body.Len() != 0 {
					t.Errorf("wrote %d %q after the upgrade failed", code, w.Body)
				}
			case code == 400 || code == 401 || code == 403:
			case code == 429 || code == 503:
				if n, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || n < 1 {
					t.Errorf("%d with Retry-After %q", code, w.Header().Get("Retry-After"))
				}
			default:
				t.Errorf("answered %d, want a refusal (400, 401, 403, 429, 503) or an upgrade attempt", code)
			}
			if g.Connections() != 0 || g.slots.Load() != 0 || g.perIP.keys() != 0 || g.perUser.keys() != 0 {
				t.Fatalf("after a failed handshake: %d connections, %d slots, %d IPs, %d users counted",
					g.Connections(), g.slots.Load(), g.perIP.keys(), g.perUser.keys())
			}
		}
	})
}

// TestUpgradeWithoutHijacker: a ResponseWriter that cannot hand over its
// connection (not HTTP/1) gets a 500, and the slots are given back.
func TestUpgradeWithoutHijacker(t *testing.T) {
	g, err := New(Options{Service: newTestService(t), Verifier: &fakeVerifier{}, DisableCompression: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxConnections: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r := httptest.NewRequest(http.MethodGet, "/ws?token=user:alice", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	if w.Code != http.StatusInternalServerError {
		t.Errorf("answered %d, want 500", w.Code)
	}
	if g.slots.Load() != 0 || g.perIP.keys() != 0 || g.perUser.keys() != 0 {
		t.Error("slots kept after the upgrade failed")
	}
}
