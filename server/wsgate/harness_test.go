package wsgate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/internal/wstest"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/tokens"
)

// fakeVerifier accepts tokens "user:<id>" (and "no user", without one) and
// refuses the rest, counting every call, so that tests can see which
// refusals came before it.
type fakeVerifier struct{ calls atomic.Int64 }

func (v *fakeVerifier) Verify(token string) (tokens.Claims, error) {
	v.calls.Add(1)
	if user, ok := strings.CutPrefix(token, "user:"); ok && user != "" {
		return tokens.Claims{UserID: user, ExpiresAt: time.Now().Add(time.Hour)}, nil
	}
	if token == "no user" {
		// Passes the verifier, but the push service refuses the session.
		return tokens.Claims{ExpiresAt: time.Now().Add(time.Hour)}, nil
	}
	if strings.HasPrefix(token, "expired:") {
		return tokens.Claims{}, tokens.ErrExpired
	}
	return tokens.Claims{}, errors.New("bad token")
}

// testGate is a Gateway served by a real http.Server on 127.0.0.1:0,
// with a real push service, stopped at cleanup.
type testGate struct {
	g   *Gateway
	svc *pushsvc.Service
	ver *fakeVerifier
	reg *prometheus.Registry
	url string
	// clientTLS is what clients need to trust the server; nil without TLS.
	clientTLS *tls.Config
}

func startGate(t *testing.T, mutate func(*Options)) *testGate {
	t.Helper()
	return startGateOn(t, mutate, false)
}

func startGateOn(t *testing.T, mutate func(*Options), withTLS bool) *testGate {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := pushsvc.New(pushsvc.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGate{svc: svc, ver: &fakeVerifier{}, reg: prometheus.NewRegistry()}
	// Every client dials from loopback: limit it like any other IP.
	opts := Options{Service: svc, Verifier: tg.ver, Registerer: tg.reg, Logger: log, DisableCompression: true, LimitLoopback: true}
	if mutate != nil {
		mutate(&opts)
	}
	if tg.g, err = New(opts); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	tg.url = "ws://" + ln.Addr().String() + "/ws"
	if withTLS {
		var serverTLS *tls.Config
		serverTLS, tg.clientTLS = selfSignedTLS(t)
		ln = tls.NewListener(ln, serverTLS)
		tg.url = "wss://" + ln.Addr().String() + "/ws"
	}
	srv := &http.Server{Handler: tg.g, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(tg.g.Listener(ln))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		tg.g.Close()
		_ = svc.Close()
	})
	return tg
}

// selfSignedTLS returns a server configuration with a certificate for
// 127.0.0.1 and a client configuration that trusts it.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsgate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	return server, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// metric returns the value of the counter or gauge name whose labels
// include the given name=value pairs.
func (tg *testGate) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := tg.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// waitUntil polls cond until it holds, failing after a deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// waitReleased waits until no connection holds a slot in any count, as
// after every connection has closed.
func (tg *testGate) waitReleased(t *testing.T) {
	t.Helper()
	waitUntil(t, "connection counts back to zero", func() bool {
		return tg.g.perIP.keys() == 0 && tg.g.perUser.keys() == 0 && tg.g.slots.Load() == 0 && tg.g.Connections() == 0
	})
}

// push pushes payload to user, who must have one connection.
func (tg *testGate) push(t *testing.T, user, payload string) { tg.pushN(t, user, payload, 1) }

// pushN pushes payload to user, who must have n connections.
func (tg *testGate) pushN(t *testing.T, user, payload string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := tg.svc.PushToUsers(ctx, []string{user}, pushsvc.Message{Topic: "t", Payload: []byte(payload)})
	if err != nil || res.Delivered != n {
		t.Fatalf("push to %s: delivered %d, %v", user, res.Delivered, err)
	}
}

// client is a raw WebSocket client that decodes every ServerFrame.
type client = wstest.Client

type dialOpts struct {
	from     string // local IP on the loopback network; "" for the default
	header   http.Header
	query    string // appended to the URL after "?"
	compress bool   // offer permessage-deflate
	silent   bool   // answer no protocol ping
}

// dial connects with token as a bearer header (when not empty). A refused
// handshake returns the response and an error.
func (tg *testGate) dial(t *testing.T, token string, o dialOpts) (*client, *http.Response, error) {
	t.Helper()
	url := tg.url
	if o.query != "" {
		url += "?" + o.query
	}
	return wstest.Dial(t, wstest.Options{URL: url, Token: token, Header: o.header, From: o.from, Compress: o.compress, Silent: o.silent, TLS: tg.clientTLS})
}

// mustDial connects as user and reads the Welcome.
func (tg *testGate) mustDial(t *testing.T, user string, o dialOpts) *client {
	t.Helper()
	c, resp, err := tg.dial(t, "user:"+user, o)
	if err != nil {
		t.Fatalf("dial %s: %v (%s)", user, err, status(resp))
	}
	if w := c.Next(t).GetWelcome(); w == nil || w.GetUserId() != user {
		t.Fatalf("first frame is not a Welcome for %s", user)
	}
	return c
}

// refused dials and checks the handshake is refused with code, and with a
// Retry-After of at least a second when retry is set.
func (tg *testGate) refused(t *testing.T, token string, o dialOpts, code int, retry bool) {
	t.Helper()
	_, resp, err := tg.dial(t, token, o)
	if err == nil {
		t.Fatalf("upgraded; want %d", code)
	}
	if resp == nil || resp.StatusCode != code {
		t.Fatalf("response %s, want %d", status(resp), code)
	}
	if ra := resp.Header.Get("Retry-After"); retry && (ra == "" || ra == "0") {
		t.Errorf("%d without a Retry-After", code)
	} else if !retry && ra != "" {
		t.Errorf("%d with Retry-After %s", code, ra)
	}
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

func ping(nonce uint64) *clientv1.ClientFrame {
	return &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: nonce}}}
}

// receivesInOrder checks c gets the pushes want, in order, with
// consecutive offsets.
func receivesInOrder(t *testing.T, c *client, want []string) {
	t.Helper()
	var last uint64
	for i, w := range want {
		p := c.NextPush(t)
		if string(p.GetPayload()) != w || (i > 0 && p.GetOffset() != last+1) {
			t.Fatalf("push %d: got %q at offset %d after %d, want %q", i, p.GetPayload(), p.GetOffset(), last, w)
		}
		last = p.GetOffset()
	}
}

func newTestService(t testing.TB) *pushsvc.Service {
	t.Helper()
	svc, err := pushsvc.New(pushsvc.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// newTestGateway is a Gateway that serves nothing, for tests of its parts.
func newTestGateway(t testing.TB) *Gateway {
	t.Helper()
	g, err := New(Options{Service: newTestService(t), Verifier: &fakeVerifier{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func mustMarshal(f *clientv1.ClientFrame) []byte {
	b, err := proto.Marshal(f)
	if err != nil {
		panic(err)
	}
	return b
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
