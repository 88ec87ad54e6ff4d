package server

import (
	"errors"

	"flag"
	"fmt"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
	"github.com/herald-push/herald/server/wsgate"
	"math"
	"net"
	"os"
	"strings"
	"time"
)

// Config is the whole configuration of `herald serve`. Each field is one
// flag, named in its `flag` comment, with a HERALD_ environment twin (for
// example --ws-addr and HERALD_WS_ADDR). The zero Config filled by
// Defaults is the zero-configuration single node on loopback.
type Config struct {
	WSAddr    string // ws-addr
	GRPCAddr  string // grpc-addr
	AdminAddr string // admin-addr

	JWTSecret    string   // jwt-secret
	JWTPublicKey string   // jwt-public-key (PEM file)
	JWKSURL      string   // jwks-url
	JWTAudience  string   // jwt-audience
	JWTIssuer    string   // jwt-issuer
	APIKeys      []string // api-key (comma-separated)

	HeartbeatInterval time.Duration // heartbeat-interval
	HandshakeTimeout  time.Duration // handshake-timeout
	DrainTimeout      time.Duration // drain-timeout
	HistorySize       int           // history-size
	HistoryTTL        time.Duration // history-ttl
	SendQueueBytes    int           // send-queue-bytes
	MaxBatchBytes     int           // max-batch-bytes
	SlowPolicy        string        // slow-consumer-policy: disconnect or drop-oldest
	MaxFrameBytes     int           // max-frame-bytes
	MaxConnections    int           // max-connections
	Compression       bool          // compression
	NodeID            string        // node-id
	Pprof             bool          // pprof

	RedisURL                 string   // redis-url
	TLSCert                  string   // tls-cert
	TLSKey                   string   // tls-key
	GRPCClientCA             string   // grpc-client-ca
	AllowedOrigins           []string // allowed-origins
	MaxConnectionsPerUser    int      // max-connections-per-user
	MaxConnectionsPerIP      int      // max-connections-per-ip
	ClientFramesPerSecond    float64  // client-frames-per-second
	HandshakesPerIPPerSecond float64  // handshakes-per-ip-per-second

	// DevCredentials is where the loopback dev mode keeps its generated
	// JWT secret and API key (dev-credentials).
	DevCredentials string

	// gRPC callers' limits.
	GRPCRateLimit       float64 // grpc-rate-limit (calls/s per API key; 0: default; inf: off)
	GRPCRateBurst       int     // grpc-rate-burst
	GRPCMaxMessageBytes int     // grpc-max-message-bytes
	MaxPayloadBytes     int     // max-payload-bytes
	MaxUserIDs          int     // max-user-ids
	MaxGroups           int     // max-groups

	// What gRPC callers may hold open (0: no limit); see grpcapi.Capacity
	// for the reasons behind the defaults.
	GRPCMaxConnections          int           // grpc-max-connections
	GRPCMaxStreamsPerConnection int           // grpc-max-streams-per-connection
	GRPCRequestTimeout          time.Duration // grpc-request-timeout
}

// Defaults returns the zero-configuration settings.
func Defaults() Config {
	return Config{
		WSAddr:            "127.0.0.1:8080",
		GRPCAddr:          "127.0.0.1:9090",
		AdminAddr:         "127.0.0.1:8081",
		HeartbeatInterval: 25 * time.Second,
		HandshakeTimeout:  5 * time.Second,
		DrainTimeout:      30 * time.Second,
		HistorySize:       1000,
		HistoryTTL:        5 * time.Minute,
		SendQueueBytes:    1 << 20,
		MaxFrameBytes:     64 << 10,
		Compression:       true,
		SlowPolicy:        "disconnect",

		MaxConnectionsPerUser:    wsgate.DefaultMaxConnectionsPerUser,
		MaxConnectionsPerIP:      wsgate.DefaultMaxConnectionsPerIP,
		ClientFramesPerSecond:    wsgate.DefaultClientFramesPerSecond,
		HandshakesPerIPPerSecond: wsgate.DefaultMaxHandshakesPerIPPerSecond,

		GRPCMaxConnections:          grpcapi.DefaultMaxConnections,
		GRPCMaxStreamsPerConnection: grpcapi.DefaultMaxStreamsPerConnection,
		GRPCRequestTimeout:          grpcapi.DefaultRequestTimeout,
	}
}

// RegisterFlags binds every setting to a flag of fs, with c's values as
// defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.WSAddr, "ws-addr", c.WSAddr, "WebSocket listen address (GET /ws)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address (herald.push.v1.PushService)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin HTTP address: /metrics, /healthz, /readyz")
	fs.StringVar(&c.JWTSecret, "jwt-secret", c.JWTSecret, "HMAC key for client tokens (HS256/384/512)")
	fs.StringVar(&c.JWTPublicKey, "jwt-public-key", c.JWTPublicKey, "PEM file with the public key for client tokens (RS/ES/EdDSA)")
	fs.StringVar(&c.JWKSURL, "jwks-url", c.JWKSURL, "JWKS URL with the keys for client tokens")
	fs.StringVar(&c.JWTAudience, "jwt-audience", c.JWTAudience, "required aud claim of client tokens")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", c.JWTIssuer, "required iss claim of client tokens")
	fs.Func("api-key", "comma-separated API keys for gRPC callers; KEY:push, KEY:admin or KEY:push+admin limits a key to scopes (none: all)", listSetter(&c.APIKeys))
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", c.HeartbeatInterval, "interval of server pings; a peer silent for 3 intervals is dropped")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", c.HandshakeTimeout, "time a connection has to complete the WebSocket upgrade")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "window over which connections are closed on shutdown")
	fs.IntVar(&c.HistorySize, "history-size", c.HistorySize, "pushes kept per stream for resume")
	fs.DurationVar(&c.HistoryTTL, "history-ttl", c.HistoryTTL, "how long a push stays resumable")
	fs.IntVar(&c.SendQueueBytes, "send-queue-bytes", c.SendQueueBytes, "bytes a connection may have queued before it is a slow consumer")
	fs.StringVar(&c.SlowPolicy, "slow-consumer-policy", c.SlowPolicy, "when a connection's send queue is full: disconnect (4003; it resumes from history) or drop-oldest (it sees a gap)")
	fs.IntVar(&c.MaxBatchBytes, "max-batch-bytes", c.MaxBatchBytes, "largest PushBatch frame (0: 65536; 1: no batching)")
	fs.IntVar(&c.MaxFrameBytes, "max-frame-bytes", c.MaxFrameBytes, "largest client frame; bigger closes with 1009")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "connections on this node (0: no limit)")
	fs.BoolVar(&c.Compression, "compression", c.Compression, "negotiate permessage-deflate with clients that offer it")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's name (default: generated)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve /debug/pprof on the admin address")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis 7.0+ (standalone, or any node of a Redis Cluster) shared by the nodes: redis:// or rediss://; empty: the in-memory engine, one node")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate (PEM) for wss and gRPC; reloaded on SIGHUP or when the file changes")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM) for --tls-cert")
	fs.StringVar(&c.GRPCClientCA, "grpc-client-ca", c.GRPCClientCA, "CA (PEM) whose client certificates may call gRPC without an API key (mutual TLS)")
	fs.Func("allowed-origins", "comma-separated Origins browsers may connect from (https://app.example.com, https://*.example.com); empty: no check", listSetter(&c.AllowedOrigins))
	fs.IntVar(&c.MaxConnectionsPerUser, "max-connections-per-user", c.MaxConnectionsPerUser, "connections per user on this node (0: no limit)")
	fs.IntVar(&c.MaxConnectionsPerIP, "max-connections-per-ip", c.MaxConnectionsPerIP, "connections per client IP on this node (0: no limit; loopback peers are exempt)")
	fs.Float64Var(&c.ClientFramesPerSecond, "client-frames-per-second", c.ClientFramesPerSecond, "frames a connection may send per second, burst twice that; over it: 1008 (0: no limit)")
	fs.Float64Var(&c.HandshakesPerIPPerSecond, "handshakes-per-ip-per-second", c.HandshakesPerIPPerSecond, "upgrade requests per client IP per second, burst twice that; over it: 429 (0: no limit)")
	fs.Float64Var(&c.GRPCRateLimit, "grpc-rate-limit", c.GRPCRateLimit, "gRPC calls per second per API key (0: 50000; inf: no limit)")
	fs.IntVar(&c.GRPCRateBurst, "grpc-rate-burst", c.GRPCRateBurst, "gRPC call burst per API key (0: twice the rate)")
	fs.IntVar(&c.GRPCMaxMessageBytes, "grpc-max-message-bytes", c.GRPCMaxMessageBytes, "largest gRPC request (0: 1 MiB)")
	fs.IntVar(&c.MaxPayloadBytes, "max-payload-bytes", c.MaxPayloadBytes, "largest push payload (0: 65536, the schema's bound)")
	fs.IntVar(&c.MaxUserIDs, "max-user-ids", c.MaxUserIDs, "user_ids per request (0: 1000, the schema's bound)")
	fs.IntVar(&c.MaxGroups, "max-groups", c.MaxGroups, "groups per request (0: 100, the schema's bound)")
	fs.IntVar(&c.GRPCMaxConnections, "grpc-max-connections", c.GRPCMaxConnections, "gRPC connections open at once; one more is closed as soon as accepted (0: no limit)")
	fs.IntVar(&c.GRPCMaxStreamsPerConnection, "grpc-max-streams-per-connection", c.GRPCMaxStreamsPerConnection, "gRPC calls open at once on one connection; clients queue the rest (0: no limit)")
	fs.DurationVar(&c.GRPCRequestTimeout, "grpc-request-timeout", c.GRPCRequestTimeout, "time a gRPC call has to send its request once it opened; past it the call is cancelled (0: no limit)")
	fs.StringVar(&c.DevCredentials, "dev-credentials", c.DevCredentials, "file of the loopback dev mode's generated JWT secret and API key")
}

func listSetter(dst *[]string) func(string) error {
	return func(v string) error {
		*dst = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*dst = append(*dst, s)
			}
		}
		return nil
	}
}

// ApplyEnv sets every flag of fs not given on the command line from its
// HERALD_ twin (--ws-addr from HERALD_WS_ADDR). Flags win over the
// environment.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// EnvName is the environment twin of a flag.
func EnvName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Validate checks c and names each bad setting and why.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	for flag, addr := range map[string]string{"ws-addr": c.WSAddr, "grpc-addr": c.GRPCAddr, "admin-addr": c.AdminAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(flag, "%q is not host:port: %v", addr, err)
		}
	}
	positive := map[string]time.Duration{"heartbeat-interval": c.HeartbeatInterval, "handshake-timeout": c.HandshakeTimeout,
		"drain-timeout": c.DrainTimeout, "history-ttl": c.HistoryTTL}
	for flag, d := range positive {
		if d <= 0 {
			bad(flag, "%v must be > 0", d)
		}
	}
	if c.HistorySize < 0 {
		bad("history-size", "%d must be >= 0", c.HistorySize)
	}
	if _, err := slowPolicy(c.SlowPolicy); err != nil {
		bad("slow-consumer-policy", "%v", err)
	}
	if c.MaxBatchBytes < 0 {
		bad("max-batch-bytes", "%d must be >= 0", c.MaxBatchBytes)
	}
	if c.MaxFrameBytes <= 0 {
		bad("max-frame-bytes", "%d must be > 0", c.MaxFrameBytes)
	}
	if c.SendQueueBytes < 4096 {
		bad("send-queue-bytes", "%d must be >= 4096", c.SendQueueBytes)
	}
	if c.MaxConnections < 0 {
		bad("max-connections", "%d must be >= 0", c.MaxConnections)
	}
	if c.JWTPublicKey != "" {
		if _, err := os.Stat(c.JWTPublicKey); err != nil {
			bad("jwt-public-key", "%v", err)
		}
	}
	for i, k := range c.APIKeys {
		if _, err := grpcapi.ParseAPIKey(k); err != nil {
			bad("api-key", "entry %d: %v", i+1, err)
		}
	}
	for flag, v := range map[string]int{"grpc-rate-burst": c.GRPCRateBurst, "grpc-max-message-bytes": c.GRPCMaxMessageBytes,
		"max-payload-bytes": c.MaxPayloadBytes, "max-user-ids": c.MaxUserIDs, "max-groups": c.MaxGroups} {
		if v < 0 {
			bad(flag, "%d must be >= 0", v)
		}
	}
	for flag, v := range map[string]int{"grpc-max-connections": c.GRPCMaxConnections, "grpc-max-streams-per-connection": c.GRPCMaxStreamsPerConnection} {
		if v < 0 {
			bad(flag, "%d must be >= 0 (0: no limit)", v)
		}
	}
	if int64(c.GRPCMaxStreamsPerConnection) > math.MaxUint32 {
		bad("grpc-max-streams-per-connection", "%d must be at most %d (HTTP/2 carries it in 32 bits)", c.GRPCMaxStreamsPerConnection, uint32(math.MaxUint32))
	}
	if c.GRPCRequestTimeout < 0 {
		bad("grpc-request-timeout", "%v must be >= 0 (0: no limit)", c.GRPCRequestTimeout)
	}
	if c.GRPCRateLimit < 0 {
		bad("grpc-rate-limit", "%v must be >= 0", c.GRPCRateLimit)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "--tls-cert and --tls-key go together")
	}
	for flag, f := range map[string]string{"tls-cert": c.TLSCert, "tls-key": c.TLSKey, "grpc-client-ca": c.GRPCClientCA} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			bad(flag, "%v", err)
		}
	}
	if c.GRPCClientCA != "" && c.TLSCert == "" {
		bad("grpc-client-ca", "mutual TLS needs --tls-cert and --tls-key")
	}
	for flag, v := range map[string]float64{"max-connections-per-user": float64(c.MaxConnectionsPerUser),
		"max-connections-per-ip": float64(c.MaxConnectionsPerIP), "client-frames-per-second": c.ClientFramesPerSecond,
		"handshakes-per-ip-per-second": c.HandshakesPerIPPerSecond} {
		if v < 0 {
			bad(flag, "%v must be >= 0 (0: no limit)", v)
		}
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		bad("redis-url", "%q must start with redis:// or rediss://", c.RedisURL)
	}
	if !c.loopbackOnly() {
		if !c.hasJWTKey() {
			errs = append(errs, errors.New("refusing to listen beyond loopback without a client-token key: set --jwt-secret, --jwt-public-key or --jwks-url"))
		}
		if len(c.APIKeys) == 0 && c.GRPCClientCA == "" {
			errs = append(errs, errors.New("refusing to listen beyond loopback without gRPC authentication: set --api-key or --grpc-client-ca"))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) hasJWTKey() bool {
	return c.JWTSecret != "" || c.JWTPublicKey != "" || c.JWKSURL != ""
}

// loopbackOnly reports whether every listener is on a loopback address.
func (c *Config) loopbackOnly() bool {
	for _, addr := range []string{c.WSAddr, c.GRPCAddr, c.AdminAddr} {
		if !isLoopback(addr) {
			return false
		}
	}
	return true
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// slowPolicy parses --slow-consumer-policy.
func slowPolicy(v string) (pushsvc.SlowPolicy, error) {
	switch v {
	case "disconnect", "":
		return pushsvc.SlowDisconnect, nil
	case "drop-oldest":
		return pushsvc.SlowDropOldest, nil
	}
	return 0, fmt.Errorf("%q: want disconnect or drop-oldest", v)
}
