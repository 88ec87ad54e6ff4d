package bench

import (
	"strings"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:9090", true},
		{"127.0.0.5:9090", true},
		{"localhost:9090", true},
		{"LocalHost:9090", true},
		{"[::1]:9090", true},
		{"10.0.0.1:9090", false},
		{"example.com:9090", false},
		{"0.0.0.0:9090", false},
		{"[::]:9090", false},
		{"192.168.1.10:9090", false},
		{"localhost.example.com:9090", false},
	} {
		err := checkHostPort("grpc-addr", c.addr)
		if (err == nil) != c.ok {
			t.Errorf("checkHostPort(%q) = %v, want ok=%v", c.addr, err, c.ok)
		}
		if err != nil && c.ok == false && !strings.Contains(err.Error(), "loopback") {
			t.Errorf("checkHostPort(%q): error %q does not say why", c.addr, err)
		}
	}
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"ws://127.0.0.5:8080/ws", true},
		{"ws://localhost:8080/ws", true},
		{"ws://[::1]:8080/ws", true},
		{"ws://10.0.0.1:8080/ws", false},
		{"ws://example.com/ws", false},
		{"wss://127.0.0.1/ws", false}, // the bench speaks plain ws only
		{"http://127.0.0.1:8080/ws", false},
	} {
		if err := checkURL("ws-url", c.url, "ws"); (err == nil) != c.ok {
			t.Errorf("checkURL(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
	}
}

func TestValidateRefusesRemoteTargets(t *testing.T) {
	cfg := Config{WSURL: "ws://example.com/ws", GRPCAddr: "10.0.0.1:9090", AdminURL: "http://10.0.0.1:8081", JWTSecret: "s", APIKey: "k"}
	cfg.fill()
	err := cfg.Validate()
	if err == nil {
		t.Fatal("remote targets accepted")
	}
	for _, flag := range []string{"--ws-url", "--grpc-addr", "--admin-url"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s: %v", flag, err)
		}
	}
	good := Config{JWTSecret: "s", APIKey: "k"}
	good.fill()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
}
