package server_test

import (
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
)

// The gRPC capacity settings: flags, HERALD_ twins, validation.
func TestGRPCCapacitySettings(t *testing.T) {
	cfg := server.Defaults()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--grpc-max-connections", "7", "--grpc-max-streams-per-connection", "0"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HERALD_GRPC_REQUEST_TIMEOUT": "3s", "HERALD_GRPC_MAX_CONNECTIONS": "9"}
	if err := server.ApplyEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCMaxConnections != 7 || cfg.GRPCMaxStreamsPerConnection != 0 || cfg.GRPCRequestTimeout != 3*time.Second {
		t.Errorf("got %d, %d, %v; want 7 (the flag wins), 0, 3s", cfg.GRPCMaxConnections, cfg.GRPCMaxStreamsPerConnection, cfg.GRPCRequestTimeout)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid settings: %v", err)
	}

	for _, tc := range []struct {
		mutate func(*server.Config)
		want   string
	}{
		{func(c *server.Config) { c.GRPCMaxConnections = -1 }, "--grpc-max-connections: -1 must be >= 0"},
		{func(c *server.Config) { c.GRPCMaxStreamsPerConnection = -1 }, "--grpc-max-streams-per-connection: -1 must be >= 0"},
		{func(c *server.Config) { c.GRPCMaxStreamsPerConnection = 1 << 33 }, "--grpc-max-streams-per-connection: 8589934592 must be at most 4294967295"},
		{func(c *server.Config) { c.GRPCRequestTimeout = -time.Second }, "--grpc-request-timeout: -1s must be >= 0"},
	} {
		c := server.Defaults()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate: %v, want %q", err, tc.want)
		}
	}
}

// --grpc-max-connections reaches the gRPC listener: with 1, a second
// connection is closed as soon as it is accepted.
func TestGRPCMaxConnections(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) { c.GRPCMaxConnections = 1 }})
	addr := env.GRPCAddr
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// The server's SETTINGS frame shows it accepted the connection.
	_ = first.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := first.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(first, make([]byte, 9)); err != nil {
		t.Fatalf("the first connection: %v", err)
	}

	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := second.Read(make([]byte, 1)); err == nil {
		t.Errorf("the second connection read %d bytes, want it closed", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the second connection is still open")
	}
}
