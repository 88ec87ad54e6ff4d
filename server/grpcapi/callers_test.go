package grpcapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

func TestAuthRejectsMissingAndWrongKeys(t *testing.T) {
	ts := startAPI(t, setup{})
	for _, tc := range []struct {
		name string
		key  string
	}{
		{"no key", ""},
		{"wrong key", "not-the-key"},
		{"key prefix", testKey[:len(testKey)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pushv1.NewPushServiceClient(dial(t, ts.addr, tc.key))
			_, err := c.GetStats(testContext(t), &pushv1.GetStatsRequest{})
			wantCode(t, err, codes.Unauthenticated)

			// Streams are guarded too.
			st, err := c.WatchStats(testContext(t), &pushv1.WatchStatsRequest{})
			if err == nil {
				_, err = st.Recv()
			}
			wantCode(t, err, codes.Unauthenticated)
		})
	}
}

func TestAuthRejectsOtherSchemes(t *testing.T) {
	ts := startAPI(t, setup{})
	c := pushv1.NewPushServiceClient(dial(t, ts.addr, ""))
	ctx := metadata.AppendToOutgoingContext(testContext(t), "authorization", "Basic "+testKey)
	_, err := c.GetStats(ctx, &pushv1.GetStatsRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

func TestAuthAcceptsAnyConfiguredKey(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{APIKeys: []string{"old-key", "new-key"}}})
	for _, key := range []string{"old-key", "new-key"} {
		c := pushv1.NewPushServiceClient(dial(t, ts.addr, key))
		if _, err := c.GetStats(testContext(t), &pushv1.GetStatsRequest{}); err != nil {
			t.Errorf("key %q: %v", key, err)
		}
	}
}

func TestHealthNeedsNoKey(t *testing.T) {
	ts := startAPI(t, setup{})
	h := healthpb.NewHealthClient(dial(t, ts.addr, ""))
	res, err := h.Check(testContext(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("status %v, want SERVING", res.GetStatus())
	}
}

func TestReflectionNeedsKey(t *testing.T) {
	ts := startAPI(t, setup{})
	list := func(key string) (*reflectionpb.ServerReflectionResponse, error) {
		c := reflectionpb.NewServerReflectionClient(dial(t, ts.addr, key))
		st, err := c.ServerReflectionInfo(testContext(t))
		if err != nil {
			return nil, err
		}
		// Send reports io.EOF when the server has already ended the call;
		// Recv then tells why.
		if err := st.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
		}); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return st.Recv()
	}

	_, err := list("")
	wantCode(t, err, codes.Unauthenticated)

	res, err := list(testKey)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range res.GetListServicesResponse().GetService() {
		found = found || s.GetName() == pushv1.PushService_ServiceDesc.ServiceName
	}
	if !found {
		t.Errorf("reflection lists %v, want %s among them", res.GetListServicesResponse().GetService(), pushv1.PushService_ServiceDesc.ServiceName)
	}
}

// Reflection serves push.proto with its validation rules and the
// validate.proto they need, so grpcurl describe shows the constraints.
func TestReflectionServesTheRules(t *testing.T) {
	ts := startAPI(t, setup{})
	c := reflectionpb.NewServerReflectionClient(dial(t, ts.addr, testKey))
	st, err := c.ServerReflectionInfo(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	files := func(req *reflectionpb.ServerReflectionRequest) []*descriptorpb.FileDescriptorProto {
		t.Helper()
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		res, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := res.GetErrorResponse(); e != nil {
			t.Fatalf("reflection: %v", e)
		}
		var out []*descriptorpb.FileDescriptorProto
		for _, raw := range res.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := new(descriptorpb.FileDescriptorProto)
			if err := proto.Unmarshal(raw, fd); err != nil {
				t.Fatal(err)
			}
			out = append(out, fd)
		}
		return out
	}
	push := files(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: pushv1.PushService_ServiceDesc.ServiceName,
	}})
	if len(push) == 0 || !slices.Contains(push[0].GetDependency(), "buf/validate/validate.proto") {
		t.Fatalf("push.proto served without its validate.proto import: %v", push)
	}
	var hasRules bool
	for _, m := range push[0].GetMessageType() {
		if m.GetName() == "PushToUsersRequest" {
			hasRules = proto.HasExtension(m.GetField()[0].GetOptions(), validate.E_Field)
		}
	}
	if !hasRules {
		t.Error("PushToUsersRequest.user_ids is served without its rules")
	}
	if v := files(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileByFilename{
		FileByFilename: "buf/validate/validate.proto",
	}}); len(v) == 0 || v[0].GetPackage() != "buf.validate" {
		t.Errorf("validate.proto not served: %v", v)
	}
}

func TestInsecureNeedsNoKey(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{Insecure: true}})
	c := pushv1.NewPushServiceClient(dial(t, ts.addr, ""))
	if _, err := c.GetStats(testContext(t), &pushv1.GetStatsRequest{}); err != nil {
		t.Fatal(err)
	}
}

// A client certificate the server verified stands in for the API key.
func TestAuthAcceptsVerifiedClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	ts := startAPI(t, setup{tls: &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientCAs:    pki.pool,
		// Callers without a certificate may still use a key.
		ClientAuth: tls.VerifyClientCertIfGiven,
		MinVersion: tls.VersionTLS13,
	}})
	dialTLS := func(certs ...tls.Certificate) pushv1.PushServiceClient {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pki.pool, Certificates: certs, MinVersion: tls.VersionTLS13})
		conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return pushv1.NewPushServiceClient(conn)
	}

	if _, err := dialTLS(pki.client).GetStats(testContext(t), &pushv1.GetStatsRequest{}); err != nil {
		t.Errorf("with a client certificate: %v", err)
	}
	_, err := dialTLS().GetStats(testContext(t), &pushv1.GetStatsRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate.
type testPKI struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage, ips ...net.IP) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "test leaf"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		pool:   pool,
		server: leaf(2, x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1)),
		client: leaf(3, x509.ExtKeyUsageClientAuth),
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Errorf("code %v (%v), want %v", got, err, code)
	}
}
