package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Scenarios.
const (
	ScenarioIdle      = "idle"
	ScenarioBroadcast = "broadcast"
	ScenarioUsers     = "users"
	ScenarioGroups    = "groups"
	// ScenarioStream pushes to one user at a time, like ScenarioUsers,
	// over --callers PushStream calls, each with up to Window requests
	// without a result (stream.go).
	ScenarioStream = "stream"
	// ScenarioSoak runs churn, resumes and a mix of pushes for Duration,
	// then checks that the server's goroutines and memory return to
	// their baseline (soak.go).
	ScenarioSoak = "soak"
)

// maxSourceIPs is how many 127.0.0.x source addresses exist (127.0.0.1 to
// 127.0.0.254).
const maxSourceIPs = 254

// portsPerSourceIP is what one source address can hold: the kernel's
// default ephemeral range (32768-60999) less a margin for everything else.
const portsPerSourceIP = 27000

// Config is one load-generator run. Zero values are filled by fill (called
// by Run), each documented on its field; Validate names the flag at fault.
type Config struct {
	WSURL    string // ws-url; "": ws://127.0.0.1:8080/ws
	GRPCAddr string // grpc-addr; "": 127.0.0.1:9090
	AdminURL string // admin-url; "": no /metrics scraping

	APIKey      string // api-key for gRPC calls (the glue fills in the dev key)
	JWTSecret   string // jwt-secret that signs the clients' tokens (any bytes)
	JWTKeyFile  string // jwt-private-key: an RSA private key (PEM) that signs RS256 tokens instead
	JWTAudience string // jwt-audience: aud claim of the tokens, when the server checks one
	JWTIssuer   string // jwt-issuer: iss claim of the tokens, when the server checks one

	Scenario  string        // scenario; "": broadcast
	Conns     int           // conns: WebSocket clients; 0: 1,000
	Users     int           // users: distinct user ids; 0: Conns
	Groups    int           // groups: groups joined by the clients (one each); 0: none, or 10 for the groups scenario
	Compress  bool          // compress: offer permessage-deflate
	Payload   int           // payload bytes; 0: 100
	Rates     []float64     // rates: target pushes (calls) per second of each step; nil: a default per scenario
	Step      time.Duration // step: length of each rate step; 0: 10s
	Duration  time.Duration // duration: cap on the whole run, 0: connect time + steps + 2 minutes; soak: how long the load runs, 0: 1m
	Settle    time.Duration // settle: idle: wait after connecting before measuring memory, 0: 3s; soak: longest wait for the baseline after the load, 0: 1m
	ServerPID int           // server-pid: read the server's RSS and CPU from /proc; 0: none
	SourceIPs int           // source-ips: 127.0.0.1..N as client source addresses; 0: 8
	DialRate  float64       // dial-rate: connections opened per second; 0: 2,000
	Workers   int           // workers: client processes; 0: as many as the open-files limit needs
	Callers   int           // callers: concurrent gRPC calls in flight, or PushStream calls for stream; 0: 4 for broadcast and stream, 64 otherwise
	Window    int           // window: stream: requests per PushStream without a result yet; 0: 128
	Offline   bool          // offline: users and stream: push to user ids no client holds (the API path without deliveries)
	Flood     int           // flood: abusive connections sending Ping frames back to back during the steps
	Stuck     int           // stuck: connections that never read (slow consumers) during the steps
	Churn     int           // churn: soak: clients that connect, resume and disconnect over and over; 0: 50
	ProbeRate float64       // probe-rate: GetStats and single PushToUsers calls per second made during each step besides the load; 0: none

	// newWorkerCmd builds the command of a worker process; nil runs this
	// executable as `bench --worker`. Tests replace it.
	newWorkerCmd func(ctx context.Context) *exec.Cmd
}

// Defaults returns the documented defaults, filled in.
func Defaults() Config {
	var c Config
	c.fill()
	return c
}

// defaultRates are the rate steps of each scenario when none are given:
// broadcast counts pushes to everyone, the others calls to one target.
var defaultRates = map[string][]float64{
	ScenarioBroadcast: {1, 5, 10, 20, 40},
	ScenarioUsers:     {1000, 5000, 10000, 20000, 30000},
	ScenarioGroups:    {10, 50, 100, 200},
	ScenarioStream:    {10000, 25000, 50000, 100000},
	ScenarioSoak:      {100},
}

// fill replaces zero values by defaults.
func (c *Config) fill() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.WSURL, "ws://127.0.0.1:8080/ws")
	def(&c.GRPCAddr, "127.0.0.1:9090")
	def(&c.Scenario, ScenarioBroadcast)
	if c.Conns == 0 {
		c.Conns = 1000
	}
	if c.Users == 0 {
		c.Users = c.Conns
	}
	if c.Groups == 0 && (c.Scenario == ScenarioGroups || c.Scenario == ScenarioSoak) {
		c.Groups = 10
	}
	if c.Payload == 0 {
		c.Payload = 100
	}
	if c.Rates == nil && c.Scenario != ScenarioIdle {
		c.Rates = append([]float64(nil), defaultRates[c.Scenario]...)
	}
	if c.Scenario == ScenarioSoak {
		c.fillSoak()
	}
	if c.Step == 0 {
		c.Step = 10 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 3 * time.Second
	}
	if c.SourceIPs == 0 {
		c.SourceIPs = 8
	}
	if c.DialRate == 0 {
		c.DialRate = 2000
	}
	if c.Callers == 0 {
		// A broadcast occupies the server for a while: many at once only
		// build a backlog that shows as seconds of latency and calls that
		// time out after the server has delivered them. Personal pushes are
		// short, and the server only saturates with many in flight.
		c.Callers = 64
		if c.Scenario == ScenarioBroadcast || c.Scenario == ScenarioStream {
			// A stream keeps Window requests in flight by itself.
			c.Callers = 4
		}
	}
	if c.Window == 0 {
		c.Window = 128
	}
	if c.Duration == 0 {
		c.Duration = c.connectAllowance() + time.Duration(len(c.Rates))*c.Step + c.Settle + 2*time.Minute
	}
}

// fillSoak fills the soak's own defaults: one step (the load) as long as
// Duration, the clients in this process (the churners need the fleet's
// token minting), and a settle long enough for a server's memory to come
// back.
func (c *Config) fillSoak() {
	if c.Duration == 0 {
		c.Duration = time.Minute
	}
	c.Step = c.Duration
	if c.Settle == 0 {
		c.Settle = time.Minute
	}
	if c.Churn == 0 {
		c.Churn = 50
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
}

// connectAllowance is how long connecting the clients may take.
func (c *Config) connectAllowance() time.Duration {
	return time.Duration(float64(c.Conns)/c.DialRate*float64(time.Second)) + 30*time.Second
}

// runCap bounds the whole run: Duration, except for the soak, whose
// Duration is its load and which then waits up to Settle for the server.
func (c *Config) runCap() time.Duration {
	if c.Scenario != ScenarioSoak {
		return c.Duration
	}
	return c.connectAllowance() + c.Duration + drainMax + finishTimeout + c.Settle + time.Minute
}

// Validate checks a filled Config and names each bad flag.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if err := checkURL("ws-url", c.WSURL, "ws"); err != nil {
		errs = append(errs, err)
	}
	if err := checkHostPort("grpc-addr", c.GRPCAddr); err != nil {
		errs = append(errs, err)
	}
	if c.AdminURL != "" {
		if err := checkURL("admin-url", c.AdminURL, "http"); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Scenario {
	case ScenarioIdle, ScenarioBroadcast, ScenarioUsers, ScenarioGroups, ScenarioStream:
	case ScenarioSoak:
		errs = append(errs, c.validateSoak()...)
	default:
		bad("scenario", "%q: want idle, broadcast, users, groups, stream or soak", c.Scenario)
	}
	if c.Offline && c.Scenario != ScenarioUsers && c.Scenario != ScenarioStream {
		bad("offline", "only the users and stream scenarios push to users")
	}
	if c.Window < 1 || c.Window > 1<<16 {
		bad("window", "%d must be in [1, 65536]", c.Window)
	}
	if c.JWTSecret == "" && c.JWTKeyFile == "" {
		bad("jwt-secret", "required to mint the clients' tokens (or --jwt-private-key)")
	}
	if c.APIKey == "" && c.Scenario != ScenarioIdle {
		bad("api-key", "required to push")
	}
	if c.Conns < 1 {
		bad("conns", "%d must be >= 1", c.Conns)
	}
	if c.Users < 1 {
		bad("users", "%d must be >= 1", c.Users)
	}
	if c.Groups < 0 {
		bad("groups", "%d must be >= 0", c.Groups)
	}
	if c.Payload < minPayload || c.Payload > 1<<20 {
		bad("payload", "%d must be in [%d, 1 MiB]: the payload carries a %d-byte timestamp header", c.Payload, minPayload, headerLen)
	}
	if c.Scenario != ScenarioIdle && len(c.Rates) == 0 {
		bad("rates", "at least one rate step is needed")
	}
	if len(c.Rates) > math.MaxUint16 {
		bad("rates", "at most %d steps", math.MaxUint16)
	}
	for _, r := range c.Rates {
		if !(r > 0) || r > 1e7 {
			bad("rates", "%v must be in (0, 1e7]", r)
		}
	}
	if c.Step <= 0 {
		bad("step", "%v must be > 0", c.Step)
	}
	if c.Duration <= 0 {
		bad("duration", "%v must be > 0", c.Duration)
	}
	if c.Settle < 0 {
		bad("settle", "%v must be >= 0", c.Settle)
	}
	if c.ServerPID < 0 {
		bad("server-pid", "%d must be >= 0", c.ServerPID)
	}
	if c.SourceIPs < 1 || c.SourceIPs > maxSourceIPs {
		bad("source-ips", "%d must be in [1, %d]", c.SourceIPs, maxSourceIPs)
	} else if need := (c.Conns + portsPerSourceIP - 1) / portsPerSourceIP; need > c.SourceIPs {
		bad("source-ips", "%d source addresses hold about %d connections; %d need at least %d", c.SourceIPs, c.SourceIPs*portsPerSourceIP, c.Conns, need)
	}
	if !(c.DialRate > 0) {
		bad("dial-rate", "%v must be > 0", c.DialRate)
	}
	if c.Workers < 0 || c.Workers > 64 {
		bad("workers", "%d must be in [0, 64]", c.Workers)
	}
	if c.Stuck < 0 || c.Stuck > 1000 {
		bad("stuck", "%d must be in [0, 1000]", c.Stuck)
	}
	if c.Flood < 0 || c.Flood > 1000 {
		bad("flood", "%d must be in [0, 1000]", c.Flood)
	}
	if c.Callers < 1 || c.Callers > 4096 {
		bad("callers", "%d must be in [1, 4096]", c.Callers)
	}
	if math.IsNaN(c.ProbeRate) || c.ProbeRate < 0 || c.ProbeRate > 1000 {
		bad("probe-rate", "%g must be in [0, 1000]", c.ProbeRate)
	} else if c.ProbeRate > 0 && c.Scenario == ScenarioIdle {
		bad("probe-rate", "the idle scenario has no steps to probe")
	}
	return errors.Join(errs...)
}

// validateSoak checks what the soak needs beyond the common settings.
func (c *Config) validateSoak() []error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if c.AdminURL == "" {
		bad("admin-url", "required by the soak: it reads the server's goroutines and memory from /metrics")
	}
	if len(c.Rates) != 1 {
		bad("rates", "the soak pushes at one rate, got %d", len(c.Rates))
	}
	if c.Churn < 1 || c.Churn > 10000 {
		bad("churn", "%d must be in [1, 10000]", c.Churn)
	}
	if c.Workers > 1 {
		bad("workers", "the soak holds its clients in this process (at most %d)", maxClientsPerProcess(raiseFileLimit()))
	}
	if c.Flood > 0 || c.Stuck > 0 {
		bad("scenario", "soak does not combine with --flood or --stuck")
	}
	if c.JWTKeyFile != "" {
		bad("jwt-private-key", "the soak signs HS256 tokens with --jwt-secret only")
	}
	return errs
}

// RegisterFlags binds the settings to flags of fs, with c's values as
// defaults, except Users, Groups, Rates, Duration, Settle, Callers and
// Churn: their defaults depend on other flags, so they start at zero and
// fill decides.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Rates = nil
	fs.StringVar(&c.WSURL, "ws-url", c.WSURL, "WebSocket URL of the server (loopback only)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC address of the server (loopback only)")
	fs.StringVar(&c.AdminURL, "admin-url", c.AdminURL, "admin URL of the server, e.g. http://127.0.0.1:8081, to read heap and RSS from /metrics")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "gRPC API key (default: $HERALD_API_KEY, else the dev credentials)")
	fs.StringVar(&c.JWTKeyFile, "jwt-private-key", c.JWTKeyFile, "RSA private key (PEM) to sign RS256 client tokens with, for a server started with --jwt-public-key")
	fs.StringVar(&c.JWTSecret, "jwt-secret", c.JWTSecret, "HMAC secret for client tokens (default: $HERALD_JWT_SECRET, else the dev credentials)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", c.JWTAudience, "aud claim of the client tokens")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", c.JWTIssuer, "iss claim of the client tokens")
	fs.StringVar(&c.Scenario, "scenario", c.Scenario, "idle, broadcast, users, groups, stream (users over PushStream) or soak")
	fs.IntVar(&c.Conns, "conns", c.Conns, "WebSocket clients to open")
	fs.IntVar(&c.Users, "users", 0, "distinct user ids over the clients (default: one per client)")
	fs.IntVar(&c.Groups, "groups", 0, "groups the clients join, one each through the token (default: none; 10 for groups and soak)")
	fs.BoolVar(&c.Compress, "compress", c.Compress, "offer permessage-deflate")
	fs.IntVar(&c.Payload, "payload", c.Payload, "push payload bytes")
	fs.Func("rates", "comma-separated target pushes (calls) per second, one rate step each (default: broadcast 1,5,10,20,40; users 1000,...,30000; groups 10,50,100,200; stream 10000,...,100000; soak one rate, 100)", func(v string) error {
		rs, err := ParseRates(v)
		if err == nil {
			c.Rates = rs
		}
		return err
	})
	fs.DurationVar(&c.Step, "step", c.Step, "length of each rate step")
	fs.DurationVar(&c.Duration, "duration", 0, "cap on the whole run (default: connect time + steps + 2m); soak: how long the load runs (default 1m)")
	fs.DurationVar(&c.Settle, "settle", 0, "idle: wait after connecting before measuring the server's memory (default 3s); soak: longest wait, after the load, for the server's goroutines and memory to return to their baseline (default 1m)")
	fs.IntVar(&c.ServerPID, "server-pid", c.ServerPID, "server process id: read its RSS and CPU time from /proc")
	fs.IntVar(&c.SourceIPs, "source-ips", c.SourceIPs, "spread clients over source addresses 127.0.0.1..127.0.0.N")
	fs.Float64Var(&c.DialRate, "dial-rate", c.DialRate, "connections opened per second")
	fs.IntVar(&c.Workers, "workers", c.Workers, "client processes, at any count, to spread receiving over CPUs (default: as many as the open-files limit needs; 1: all in this process)")
	fs.IntVar(&c.Stuck, "stuck", 0, "connections (from 127.0.0.253) that never read during the steps: slow consumers the server should close with 4003")
	fs.IntVar(&c.Flood, "flood", 0, "abusive connections (from 127.0.0.254) that send Ping frames back to back during the steps, to measure what they cost the others")
	fs.IntVar(&c.Callers, "callers", 0, "concurrent gRPC calls in flight; stream: PushStream calls (default: 4 for broadcast and stream, 64 otherwise)")
	fs.IntVar(&c.Window, "window", c.Window, "stream: requests each PushStream keeps without a result")
	fs.BoolVar(&c.Offline, "offline", c.Offline, "users and stream: push to user ids no client holds, to measure the API path without deliveries")
	fs.IntVar(&c.Churn, "churn", 0, "soak: clients that connect, resume, get pushes and disconnect over and over (default 50)")
	fs.Float64Var(&c.ProbeRate, "probe-rate", c.ProbeRate, "probe calls per second during each step besides the load, a GetStats and a PushToUsers to one client in turn, whose latency is reported apart: how quickly a busy node answers; the clients then go to worker processes unless --workers is set (default 0: none)")
}

// ParseRates parses a comma-separated list of rates.
func ParseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("rate %q: %w", f, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no rates given")
	}
	return out, nil
}
