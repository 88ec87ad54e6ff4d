package grpcapi_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

// testKey is the API key test servers accept.
const testKey = "test-key-0123456789"

// setup tunes a test server.
type setup struct {
	// opts are the API's options; Service and Logger (a discarding one)
	// are filled in when nil, and APIKeys is {testKey} unless Insecure is
	// set.
	opts grpcapi.Options
	// tls, when set, makes the server speak TLS with it.
	tls *tls.Config
	// register registers extra services, such as the panicking one.
	register func(*grpc.Server)
	// tune, when set, adjusts the API before the server is built.
	tune func(*grpcapi.API)
	// serverOpts are added to the API's server options.
	serverOpts []grpc.ServerOption
}

// apiServer is a gRPC server on a loopback port serving the API the way
// the herald process does: its interceptors, health and reflection.
type apiServer struct {
	addr   string
	svc    *pushsvc.Service
	api    *grpcapi.API
	client pushv1.PushServiceClient // authenticated with testKey
}

// startAPI serves the API alone, over a pushsvc.Service and no node (the
// server package's tests run whole nodes, with internal/nodetest), on
// 127.0.0.1 port 0 until the test ends.
func startAPI(t *testing.T, s setup) *apiServer {
	t.Helper()
	opts := s.opts
	if opts.Service == nil {
		svc, err := pushsvc.New(pushsvc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		opts.Service = svc
	}
	if opts.Logger == nil {
		// Failed calls log at info and above; the tests make many on
		// purpose.
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if !opts.Insecure && opts.APIKeys == nil {
		opts.APIKeys = []string{testKey}
	}
	api, err := grpcapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}

	if s.tune != nil {
		s.tune(api)
	}
	serverOpts := append(api.ServerOptions(), s.serverOpts...)
	if s.tls != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(s.tls)))
	}
	gs := grpc.NewServer(serverOpts...)
	api.Register(gs)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	reflection.Register(gs)
	if s.register != nil {
		s.register(gs)
	}
	api.InitializeMetrics(gs)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(api.Listener(ln)) }()
	t.Cleanup(func() {
		api.Shutdown()
		gs.GracefulStop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	ts := &apiServer{addr: ln.Addr().String(), svc: opts.Service, api: api}
	if s.tls == nil {
		ts.client = pushv1.NewPushServiceClient(dial(t, ts.addr, testKey))
	}
	return ts
}

// dial connects to addr in plaintext, sending key as a bearer token on
// every call unless it is empty.
func dial(t *testing.T, addr, key string, extra ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(grpcapi.Bearer(key)))
	}
	conn, err := grpc.NewClient(addr, append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// testContext bounds every call a test makes.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// message is a valid message for pushes.
func message() *pushv1.Message {
	return &pushv1.Message{Topic: "chat", Payload: []byte("hello")}
}
