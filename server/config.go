package server

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// Config is the whole configuration of `herald serve`. Each field is one
// setting of the settings list (settings_*.go), which gives it its flag,
// its HERALD_ variable, its default, its checks and its help. Numbers hold
// what the command line means by them: where the list says 0 turns a
// limit off, 0 here turns it off too. Defaults returns the
// zero-configuration single node on loopback.
type Config struct {
	// Listeners and TLS.
	WSAddr       string
	GRPCAddr     string
	AdminAddr    string
	TLSCert      string
	TLSKey       string
	GRPCClientCA string
	Pprof        bool

	// Client tokens and API keys.
	JWTSecret      string
	JWTPublicKey   string // a PEM file
	JWKSURL        string
	JWTAudience    string
	JWTIssuer      string
	APIKeys        []string
	DevCredentials string

	// WebSocket connections.
	HeartbeatInterval        time.Duration
	HandshakeTimeout         time.Duration
	DrainTimeout             time.Duration
	MaxFrameBytes            int
	Compression              bool
	AllowedOrigins           []string
	MaxConnections           int
	MaxConnectionsPerUser    int
	MaxConnectionsPerIP      int
	HandshakesPerIPPerSecond float64
	ClientFramesPerSecond    float64

	// Delivery and history.
	HistorySize    int
	HistoryTTL     time.Duration
	SendQueueBytes int
	SlowPolicy     string // disconnect or drop-oldest
	MaxBatchBytes  int

	// gRPC callers.
	GRPCRateLimit       float64
	GRPCRateBurst       int
	GRPCMaxMessageBytes int
	MaxPayloadBytes     int
	MaxUserIDs          int
	MaxGroups           int
	// What gRPC callers may hold open; see grpcapi.Capacity for the
	// reasons behind the defaults.
	GRPCMaxConnections          int
	GRPCMaxStreamsPerConnection int
	GRPCRequestTimeout          time.Duration
	// GRPCSlowCall is the duration past which a call is logged.
	GRPCSlowCall time.Duration

	// The node.
	NodeID              string
	RedisURL            string
	RedisExactDelivered bool
	// LogLevel is the level of the logger `herald serve` gives New.
	LogLevel slog.Level

	// The event log and its watchers (WatchEvents).
	EventsRetention         int
	EventsMaxAge            time.Duration
	EventsMaxWatchers       int
	EventsMaxWatchersPerKey int
	EventsBuffer            int
}

// Defaults returns the zero-configuration settings.
func Defaults() Config {
	var c Config
	for _, s := range settings {
		s.setDefault(&c)
	}
	return c
}

// RegisterFlags binds every setting to a flag of fs, with c's values as
// defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	for _, s := range settings {
		s.register(fs, c)
	}
}

// Validate checks c and names each bad setting and why: a *SettingError
// per bad value, in the order of the settings list, then what no single
// setting decides.
func (c *Config) Validate() error {
	var errs []error
	for _, s := range settings {
		errs = append(errs, s.validate(c)...)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, &SettingError{Flag: "tls-cert", Reason: "--tls-cert and --tls-key go together"})
	}
	if c.GRPCClientCA != "" && c.TLSCert == "" {
		errs = append(errs, &SettingError{Flag: "grpc-client-ca", Reason: "mutual TLS needs --tls-cert and --tls-key"})
	}
	if c.RedisURL != "" {
		if err := redis.CheckNodeID(c.NodeID); err != nil {
			errs = append(errs, &SettingError{Flag: "node-id", Reason: fmt.Sprintf("%q with --redis-url: %v", c.NodeID, err)})
		}
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
