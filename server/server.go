package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
	"github.com/herald-push/herald/server/certs"
	"github.com/herald-push/herald/server/grpcapi"
	"github.com/herald-push/herald/server/tokens"
	"github.com/herald-push/herald/server/wsgate"
)

// grpcStopGrace is how long GracefulStop may wait for in-flight calls
// (WatchStats streams end at once on shutdown) before Stop cuts them.
const grpcStopGrace = 5 * time.Second

// redisStartTimeout bounds connecting to Redis at start.
const redisStartTimeout = 10 * time.Second

// certWatchInterval is how often the certificate files are checked for a
// change (SIGHUP reloads at once).
const certWatchInterval = 10 * time.Second

// Server is one Herald node with its listeners bound.
type Server struct {
	// immutable after New
	cfg      Config
	log      *slog.Logger
	svc      *pushsvc.Service
	verifier *tokens.Verifier
	gate     *wsgate.Gateway
	grpc     *grpc.Server
	api      *grpcapi.API
	health   *health.Server
	wsHTTP   *http.Server
	admin    *http.Server
	wsLn     net.Listener
	grpcLn   net.Listener
	adminLn  net.Listener
	certs    *certs.Reloader // nil without TLS

	ready    atomic.Bool
	stopOnce sync.Once
}

// New validates cfg, builds the node and binds its listeners, so that Addrs
// is known (port 0 picks a free port) before Run.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log}
	if err := s.setupCredentials(); err != nil {
		return nil, err
	}
	if err := s.build(); err != nil {
		s.closeAll()
		return nil, err
	}
	return s, nil
}

// setupCredentials fills in the dev mode's generated secret and API key.
// Dev credentials exist only in loopback dev mode: the secret when no
// client-token key is configured, the API key when gRPC has no
// authentication configured at all, neither --api-key nor
// --grpc-client-ca. A node with a client CA and no key accepts client
// certificates only: a dev key there would be an all-scope key that
// `herald token --api-key` prints to anyone who can read the file.
func (s *Server) setupCredentials() error {
	cfg := &s.cfg
	needSecret := !cfg.hasJWTKey()
	needKey := len(cfg.APIKeys) == 0 && cfg.GRPCClientCA == ""
	if !needSecret && !needKey {
		return nil
	}
	if !cfg.loopbackOnly() {
		// Validate refuses this; checked again because the file holds
		// secrets that must never serve beyond loopback.
		return errors.New("dev credentials: only for a node that listens on loopback only")
	}
	path := cfg.DevCredentials
	if path == "" {
		p, err := tokens.DefaultDevCredentialsPath()
		if err != nil {
			return fmt.Errorf("dev credentials: %w", err)
		}
		path = p
	}
	dev, created, err := tokens.LoadOrCreateDevCredentials(path)
	if err != nil {
		return fmt.Errorf("dev credentials: %w", err)
	}
	if needSecret {
		cfg.JWTSecret = string(dev.JWTSecret)
		s.log.Info("dev mode: client tokens use the generated secret; mint one with `herald token --user <id>`", "file", path, "created", created)
	}
	if needKey {
		cfg.APIKeys = []string{dev.APIKey}
		s.log.Info("dev mode: gRPC callers use the generated API key (`herald token --api-key` prints it)", "file", path)
	}
	return nil
}

func (s *Server) build() error {
	cfg := s.cfg
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	o := cfg.options()
	o.svc.NewEngine = s.engineFactory(o.redis)
	o.svc.Logger = s.log
	svc, err := pushsvc.New(o.svc)
	if err != nil {
		return err
	}
	s.svc = svc
	reg.MustRegister(newStatsCollector(svc))

	if cfg.JWTPublicKey != "" {
		if o.tokens.PublicKeyPEM, err = os.ReadFile(cfg.JWTPublicKey); err != nil {
			return fmt.Errorf("--jwt-public-key: %w", err)
		}
	}
	o.tokens.Logger = s.log
	if s.verifier, err = tokens.NewVerifier(context.Background(), o.tokens); err != nil {
		return err
	}

	o.ws.Service, o.ws.Verifier, o.ws.Registerer, o.ws.Logger = svc, s.verifier, reg, s.log
	if s.gate, err = wsgate.New(o.ws); err != nil {
		return err
	}

	var wsTLS, grpcTLS *tls.Config
	if cfg.TLSCert != "" {
		if wsTLS, grpcTLS, err = s.tlsConfigs(); err != nil {
			return err
		}
	}
	if err := s.buildGRPC(o.grpc, reg, grpcTLS); err != nil {
		return err
	}

	if s.wsLn, err = listen("ws-addr", cfg.WSAddr); err != nil {
		return err
	}
	if wsTLS != nil {
		s.wsLn = tls.NewListener(s.wsLn, wsTLS)
	}
	if s.grpcLn, err = listen("grpc-addr", cfg.GRPCAddr); err != nil {
		return err
	}
	s.grpcLn = s.api.Listener(s.grpcLn)
	if s.adminLn, err = listen("admin-addr", cfg.AdminAddr); err != nil {
		return err
	}
	s.wsLn = s.gate.Listener(s.wsLn)

	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.gate)
	s.wsHTTP = &http.Server{
		Handler: mux,
		// The upgrade request must arrive whole within the handshake
		// timeout: a slow-loris client holds no slot.
		ReadHeaderTimeout: cfg.HandshakeTimeout,
		ReadTimeout:       cfg.HandshakeTimeout,
		IdleTimeout:       cfg.HandshakeTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.admin = &http.Server{Handler: s.adminMux(reg), ReadHeaderTimeout: 5 * time.Second}
	return nil
}

// engineFactory returns the Redis engine's constructor with a URL in ro,
// and nil (pushsvc's in-memory default) without.
func (s *Server) engineFactory(ro redis.Options) func(string, engine.Handler) (engine.Engine, error) {
	if ro.URL == "" {
		return nil
	}
	return func(nodeID string, h engine.Handler) (engine.Engine, error) {
		ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
		defer cancel()
		ro.NodeID, ro.Handler, ro.Logger = nodeID, h, s.log
		e, err := redis.New(ctx, ro)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		return e, nil
	}
}

// tlsConfigs loads the certificate (kept reloadable) and the client CA.
func (s *Server) tlsConfigs() (ws, grpcCfg *tls.Config, err error) {
	s.certs, err = certs.New(s.cfg.TLSCert, s.cfg.TLSKey, s.log)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-cert: %w", err)
	}
	ws = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.certs.GetCertificate,
		// WebSockets upgrade HTTP/1.1; HTTP/2 would need RFC 8441.
		NextProtos: []string{"http/1.1"},
	}
	grpcCfg = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.GetCertificate, NextProtos: []string{"h2"}}
	if s.cfg.GRPCClientCA != "" {
		pool, err := certs.LoadPool(s.cfg.GRPCClientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("--grpc-client-ca: %w", err)
		}
		grpcCfg.ClientCAs = pool
		// Verified if given: callers with an API key need no certificate.
		grpcCfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return ws, grpcCfg, nil
}

// ReloadTLS reads the certificate files again (SIGHUP). Without TLS it
// does nothing.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.Reload()
}

func (s *Server) buildGRPC(o grpcapi.Options, reg *prometheus.Registry, tlsCfg *tls.Config) error {
	o.Service, o.Logger, o.Registry = s.svc, s.log, reg
	// setupCredentials added no dev key to a node with a client CA and no
	// key: it accepts client certificates only.
	o.ClientCertOnly = len(o.APIKeys) == 0
	api, err := grpcapi.New(o)
	if err != nil {
		return err
	}
	s.api = api
	opts := append(api.ServerOptions(), grpc.NumStreamWorkers(grpcStreamWorkers))
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	s.grpc = grpc.NewServer(opts...)
	api.Register(s.grpc)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	api.InitializeMetrics(s.grpc)
	return nil
}

// grpcStreamWorkers is the size of grpc-go's pool of goroutines that run
// calls. A call that finds every worker busy runs on a goroutine of its
// own, which grows its stack anew through the handler's frames: with 64
// calls in flight and the 4 workers per core used before, 0.7 of every
// call did (TestGRPCCallsRunOnPooledGoroutines), and stack growth took 4%
// of a push's CPU (users scenario profile); with no pool, 14%. 128 covers the 100 calls one backend connection may
// have open (DefaultMaxStreamsPerConnection) and the load generator's 64;
// the idle workers hold about 1.1 MiB of stack (8.7 KiB each, measured).
const grpcStreamWorkers = 128

func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	return ln, nil
}

// Addrs are the bound listener addresses.
type Addrs struct{ WS, GRPC, Admin string }

// Addrs returns the bound addresses.
func (s *Server) Addrs() Addrs {
	return Addrs{WS: s.wsLn.Addr().String(), GRPC: s.grpcLn.Addr().String(), Admin: s.adminLn.Addr().String()}
}

// Run serves until ctx ends, then shuts down in layers within the drain
// timeout (plus the gRPC grace) and returns. It returns an error only when
// a listener fails.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	serve := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	serve("websocket", func() error { return s.wsHTTP.Serve(s.wsLn) })
	serve("grpc", func() error { return s.grpc.Serve(s.grpcLn) })
	serve("admin", func() error { return s.admin.Serve(s.adminLn) })
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if s.certs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.certs.Watch(watchCtx, certWatchInterval)
		}()
	}
	s.ready.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	a := s.Addrs()
	s.log.Info("herald serving", "node", s.svc.NodeID(), "ws", "ws://"+a.WS+"/ws", "grpc", a.GRPC, "admin", "http://"+a.Admin)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.Shutdown(context.Background())
	stopWatch()
	wg.Wait()
	return runErr
}

// Shutdown stops the node in layers: not ready at once, new upgrades
// refused, connections drained over the drain timeout, gRPC stopped
// gracefully with a fallback to Stop, then the admin listener. It is safe to
// call more than once.
func (s *Server) Shutdown(ctx context.Context) {
	s.stopOnce.Do(func() {
		start := time.Now()
		s.ready.Store(false)
		s.health.Shutdown()
		s.gate.BeginDrain()
		s.log.Info("draining", "connections", s.gate.Connections(), "window", s.cfg.DrainTimeout)

		// Stop accepting; hijacked WebSocket connections are ours to close.
		_ = s.wsHTTP.Close()
		dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
		s.gate.Drain(dctx, s.cfg.DrainTimeout)
		cancel()

		// WatchStats, WatchEvents and PushStream streams would hold
		// GracefulStop for the whole grace.
		s.api.Shutdown()
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(grpcStopGrace):
			s.grpc.Stop()
			<-stopped
		}
		actx, acancel := context.WithTimeout(ctx, time.Second)
		_ = s.admin.Shutdown(actx)
		acancel()
		s.closeAll()
		s.log.Info("stopped", "after", time.Since(start).Round(time.Millisecond))
	})
}

// closeAll releases what build made; listeners already closed by their
// servers close again harmlessly.
func (s *Server) closeAll() {
	for _, ln := range []net.Listener{s.wsLn, s.grpcLn, s.adminLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	if s.verifier != nil {
		s.verifier.Close()
	}
	if s.svc != nil {
		_ = s.svc.Close()
	}
}
