package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
)

// Listeners and TLS.
var listenSettings = []setting{
	&spec[string]{
		Flag: "ws-addr", Help: "WebSocket listener (GET /ws)",
		Field:   func(c *Config) *string { return &c.WSAddr },
		Default: "127.0.0.1:8080",
		Checks:  []func(string) string{hostPort},
	},
	&spec[string]{
		Flag: "grpc-addr", Help: "gRPC listener (herald.push.v1.PushService)",
		Field:   func(c *Config) *string { return &c.GRPCAddr },
		Default: "127.0.0.1:9090",
		Checks:  []func(string) string{hostPort},
	},
	&spec[string]{
		Flag: "admin-addr", Help: "admin HTTP listener: /metrics, /healthz, /readyz, and /debug/pprof with --pprof",
		Field:   func(c *Config) *string { return &c.AdminAddr },
		Default: "127.0.0.1:8081",
		Checks:  []func(string) string{hostPort},
	},
	&spec[string]{
		Flag: "tls-cert", Help: "TLS certificate (PEM) for wss and gRPC, with --tls-key; reloaded on SIGHUP or when the file changes",
		Field:  func(c *Config) *string { return &c.TLSCert },
		Checks: []func(string) string{ifSet(openable)},
	},
	&spec[string]{
		Flag: "tls-key", Help: "TLS private key (PEM) of --tls-cert",
		Field:  func(c *Config) *string { return &c.TLSKey },
		Checks: []func(string) string{ifSet(openable)},
	},
	&spec[string]{
		Flag: "grpc-client-ca", Help: "CA (PEM) whose client certificates may call gRPC without an API key (mutual TLS)",
		Field:  func(c *Config) *string { return &c.GRPCClientCA },
		Checks: []func(string) string{ifSet(openable)},
	},
	&spec[bool]{
		Flag: "pprof", Help: "serve /debug/pprof on the admin address",
		Field: func(c *Config) *bool { return &c.Pprof },
	},
}

// hostPort refuses an address that is not host:port.
func hostPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "is not host:port: " + err.Error()
	}
	return ""
}

// openable refuses a file that cannot be opened.
func openable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot be opened: %w", err)
	}
	return f.Close()
}
