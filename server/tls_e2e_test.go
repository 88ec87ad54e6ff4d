package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/grpcapi"
	"github.com/herald-push/herald/server/tokens"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for name (a server for 127.0.0.1
// or a client).
func (ca *testCA) issue(t *testing.T, name string, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLSAndMutualTLS: wss and gRPC over TLS, a client certificate in
// place of an API key, and a certificate swapped without a restart.
func TestTLSAndMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	c1, k1 := ca.issue(t, "herald one", 2, false)
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k1)
	writeFile(t, caFile, ca.pem)
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) {
		c.TLSCert, c.TLSKey, c.GRPCClientCA = certFile, keyFile, caFile
	}})
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	// wss: the handshake, Welcome and a push.
	wssURL := "wss://" + env.Server.Addrs().WS + "/ws"
	c, _, err := dialWS(t, wssURL, env.Token(t, "alice"), dialOpts{tls: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	if c.Next(t).GetWelcome() == nil {
		t.Fatal("no welcome over wss")
	}

	// gRPC with a client certificate and no API key.
	cc, ck := ca.issue(t, "backend", 3, true)
	pair, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(env.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := pushv1.NewPushServiceClient(conn).PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", "over tls")})
	if err != nil || res.GetDelivered() != 1 {
		t.Fatalf("push with a client certificate: %v %v", res, err)
	}
	if p := c.NextPush(t); string(p.GetPayload()) != "over tls" {
		t.Errorf("push = %v", p)
	}

	// Neither certificate nor key: Unauthenticated.
	plain, err := grpc.NewClient(env.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := pushv1.NewPushServiceClient(plain).GetStats(testCtx(t), &pushv1.GetStatsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no certificate, no key: %v", err)
	}

	// Swap the certificate: the next handshake sees it.
	c2, k2 := ca.issue(t, "herald two", 4, false)
	writeFile(t, certFile, c2)
	writeFile(t, keyFile, k2)
	if err := env.Server.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	tc, err := tls.Dial("tcp", env.Server.Addrs().WS, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "herald two" {
		t.Errorf("after reload the server presents %q", cn)
	}
}

// A node with a client CA and no API key accepts client certificates
// only: it adds no dev API key, even where a dev credentials file holds
// one, so that key (which `herald token --api-key` prints) is refused.
func TestMutualTLSOnlyNodeHasNoDevKey(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	c1, k1 := ca.issue(t, "herald", 2, false)
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k1)
	writeFile(t, caFile, ca.pem)
	devFile := filepath.Join(dir, "dev.json")
	dev, _, err := tokens.LoadOrCreateDevCredentials(devFile)
	if err != nil {
		t.Fatal(err)
	}
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) {
		c.TLSCert, c.TLSKey, c.GRPCClientCA = certFile, keyFile, caFile
		c.APIKeys = nil
		c.DevCredentials = devFile
	}})
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	dialTLS := func(opts ...grpc.DialOption) pushv1.PushServiceClient {
		t.Helper()
		conn, err := grpc.NewClient(env.GRPCAddr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return pushv1.NewPushServiceClient(conn)
	}

	withDevKey := dialTLS(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})),
		grpc.WithPerRPCCredentials(grpcapi.Bearer(dev.APIKey)))
	if _, err := withDevKey.GetStats(testCtx(t), &pushv1.GetStatsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the dev API key on an mTLS-only node: %v, want Unauthenticated", err)
	}

	cc, ck := ca.issue(t, "backend", 3, true)
	pair, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	withCert := dialTLS(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})))
	if _, err := withCert.GetStats(testCtx(t), &pushv1.GetStatsRequest{}); err != nil {
		t.Errorf("a client certificate on an mTLS-only node: %v", err)
	}
}
