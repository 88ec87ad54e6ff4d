package bench

import (
	"context"
	"fmt"
	"github.com/golang-jwt/jwt/v5"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/server/auth"
)

const (
	// dialers bounds the connections being opened at once; each waits for
	// its Welcome, so the bound also caps handshakes in flight.
	dialers = 128
	// welcomeTimeout is how long a client waits for its Welcome.
	welcomeTimeout = 10 * time.Second
	// closeWriteTimeout bounds writing the close frame at the end.
	closeWriteTimeout = 2 * time.Second
	// closers close the clients at the end, in parallel.
	closers = 8
	// maxReasons caps the distinct failure reasons kept.
	maxReasons = 20
)

// fleetSpec is what a process needs to open its share of the clients.
// It travels to worker processes as JSON.
type fleetSpec struct {
	WSURL     string `json:"ws_url"`
	JWTSecret []byte `json:"jwt_secret"` // bytes: a secret need not be UTF-8
	// RSAKeyPEM, when set, signs RS256 tokens instead of HS256 ones.
	RSAKeyPEM []byte  `json:"rsa_key_pem,omitempty"`
	Audience  string  `json:"audience,omitempty"`
	Issuer    string  `json:"issuer,omitempty"`
	Compress  bool    `json:"compress"`
	First     int     `json:"first"` // client indices [First, First+Count)
	Count     int     `json:"count"`
	Users     int     `json:"users"`
	Groups    int     `json:"groups"`
	SourceIPs int     `json:"source_ips"`
	DialRate  float64 `json:"dial_rate"`
	Tag       uint32  `json:"tag"`
	Steps     int     `json:"steps"`
	// TokenTTL outlives the run: a token expiring mid-run would close
	// clients and read as lost deliveries.
	TokenTTL time.Duration `json:"token_ttl"`
}

// userOf and groupOf map a client index to its user id and group; the
// driver uses the same mapping to know how many clients a push reaches.
func userOf(i, users int) string   { return fmt.Sprintf("bench-u%d", i%users) }
func groupOf(i, groups int) string { return fmt.Sprintf("bench-g%d", i%groups) }

// offlineUser is a user id no client of the fleet holds.
func offlineUser(i int) string { return fmt.Sprintf("bench-offline-u%d", i) }

// sourceIP is client i's source address, or nil to let the kernel choose
// (an IPv6 target).
func sourceIP(i, n int, ipv4 bool) net.IP {
	if !ipv4 {
		return nil
	}
	return net.IPv4(127, 0, 0, byte(1+i%n))
}

// fleet is one process's share of the clients.
type fleet struct {
	rsaTokens sync.Map // user and groups -> RS256 token

	// immutable after newFleet
	spec fleetSpec
	rec  *recorder
	ipv4 bool

	wg        sync.WaitGroup // one per read loop
	connected atomic.Int64   // clients that got their Welcome
	failed    atomic.Int64
	live      atomic.Int64 // open connections
	badFrames atomic.Int64
	closing   atomic.Bool // set when we start closing: later closes are ours
	ready     chan struct{}
	connDur   time.Duration // written before ready is closed

	mu      sync.Mutex
	clients []*client      // guarded by mu
	dialErr map[string]int // guarded by mu
	closes  map[string]int // closes the server started; guarded by mu
}

func newFleet(spec fleetSpec) (*fleet, error) {
	u, err := url.Parse(spec.WSURL)
	if err != nil {
		return nil, err
	}
	// Source addresses 127.0.0.x only make sense towards IPv4 loopback;
	// localhost resolves to both families and the dialer picks IPv4 to
	// match the bound address.
	ip := net.ParseIP(u.Hostname())
	return &fleet{
		spec:    spec,
		rec:     newRecorder(spec.Tag, spec.Steps),
		ipv4:    ip == nil || ip.To4() != nil,
		ready:   make(chan struct{}),
		dialErr: map[string]int{},
		closes:  map[string]int{},
	}, nil
}

// connect opens the fleet's clients at the dial rate and returns when each
// has its Welcome or has failed, or ctx ends. It closes f.ready.
func (f *fleet) connect(ctx context.Context) {
	start := time.Now()
	defer func() {
		f.connDur = time.Since(start)
		close(f.ready)
	}()
	idx := make(chan int)
	var wg sync.WaitGroup
	for range min(dialers, f.spec.Count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				f.dial(ctx, i)
			}
		}()
	}
	p := pacer{rate: f.spec.DialRate, total: f.spec.Count}
	p.run(ctx, func(i int) {
		select {
		case idx <- f.spec.First + i:
		case <-ctx.Done():
		}
	})
	close(idx)
	wg.Wait()
}

// dial opens client i and waits for its Welcome.
func (f *fleet) dial(ctx context.Context, i int) {
	if ctx.Err() != nil {
		return
	}
	claims := auth.MintClaims{UserID: userOf(i, f.spec.Users), TTL: f.spec.TokenTTL, Audience: f.spec.Audience, Issuer: f.spec.Issuer}
	if f.spec.Groups > 0 {
		claims.Groups = []string{groupOf(i, f.spec.Groups)}
	}
	tok, err := f.mint(claims)
	if err != nil {
		f.fail("mint token: " + err.Error())
		return
	}
	c := &client{f: f, idx: i, welcome: make(chan struct{}), done: make(chan struct{})}
	local := sourceIP(i, f.spec.SourceIPs, f.ipv4)
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:              f.spec.WSURL,
		RequestHeader:     http.Header{"Authorization": {"Bearer " + tok}},
		PermessageDeflate: gws.PermessageDeflate{Enabled: f.spec.Compress},
		HandshakeTimeout:  welcomeTimeout,
		NewSession:        func() gws.SessionStorage { return noSession{} },
		NewDialer: func() (gws.Dialer, error) {
			d := &net.Dialer{Timeout: welcomeTimeout}
			if local != nil {
				d.LocalAddr = &net.TCPAddr{IP: local}
			}
			return d, nil
		},
	})
	if err != nil {
		if resp != nil {
			f.fail("HTTP " + resp.Status)
			_ = resp.Body.Close()
		} else {
			f.fail(errText(err))
		}
		return
	}
	c.conn = conn
	f.live.Add(1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		conn.ReadLoop()
	}()
	f.mu.Lock()
	f.clients = append(f.clients, c)
	f.mu.Unlock()

	t := time.NewTimer(welcomeTimeout)
	defer t.Stop()
	select {
	case <-c.welcome:
		f.connected.Add(1)
	case <-c.done:
		f.fail("closed before Welcome")
	case <-t.C:
		f.fail("no Welcome within " + welcomeTimeout.String())
		_ = conn.NetConn().Close()
	case <-ctx.Done():
		_ = conn.NetConn().Close()
	}
}

func (f *fleet) fail(reason string) {
	f.failed.Add(1)
	f.mu.Lock()
	addReason(f.dialErr, reason)
	f.mu.Unlock()
}

func (f *fleet) countClose(reason string) {
	f.mu.Lock()
	addReason(f.closes, reason)
	f.mu.Unlock()
}

func addReason(m map[string]int, reason string) {
	if _, ok := m[reason]; !ok && len(m) >= maxReasons {
		reason = "other"
	}
	m[reason]++
}

// close closes every client with 1000 and waits for their read loops.
func (f *fleet) close() {
	f.closing.Store(true)
	f.mu.Lock()
	clients := f.clients
	f.mu.Unlock()
	next := make(chan *client)
	var wg sync.WaitGroup
	for range closers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				// WriteClose writes the close frame and closes the socket,
				// so the read loop ends without waiting for the server.
				_ = c.conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
				_ = c.conn.WriteClose(1000, nil)
				_ = c.conn.NetConn().Close()
			}
		}()
	}
	for _, c := range clients {
		next <- c
	}
	close(next)
	wg.Wait()
	f.wg.Wait()
}

// progress is a snapshot of the fleet's counters.
func (f *fleet) progress() progress {
	return progress{
		Connected: f.connected.Load(),
		Failed:    f.failed.Load(),
		Live:      f.live.Load(),
		Received:  int64(f.rec.received()),
	}
}

// result is the fleet's final account; call it after close.
func (f *fleet) result() shareResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	return shareResult{
		Attempted:      f.spec.Count,
		Connected:      f.connected.Load(),
		Failed:         f.failed.Load(),
		ConnectSeconds: f.connDur.Seconds(),
		DialErrors:     cloneMap(f.dialErr),
		ServerCloses:   cloneMap(f.closes),
		BadFrames:      f.badFrames.Load(),
		Foreign:        f.rec.foreign.Load(),
		Steps:          f.rec.snapshots(),
	}
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// mint signs a client token: HS256 with the secret, or RS256 with the RSA
// key (to measure what signature checks cost the server's handshakes).
// RS256 tokens are cached per user: signing one costs the bench about a
// millisecond, which would throttle its own dialling.
func (f *fleet) mint(c auth.MintClaims) (string, error) {
	if len(f.spec.RSAKeyPEM) == 0 {
		return auth.Mint(f.spec.JWTSecret, c)
	}
	key := fmt.Sprint(c.UserID, c.Groups)
	if tok, ok := f.rsaTokens.Load(key); ok {
		return tok.(string), nil
	}
	tok, err := f.mintRS256(c)
	if err == nil {
		f.rsaTokens.Store(key, tok)
	}
	return tok, err
}

func (f *fleet) mintRS256(c auth.MintClaims) (string, error) {
	key, err := jwt.ParseRSAPrivateKeyFromPEM(f.spec.RSAKeyPEM)
	if err != nil {
		return "", fmt.Errorf("--jwt-private-key: %w", err)
	}
	claims := jwt.MapClaims{"sub": c.UserID, "exp": time.Now().Add(c.TTL).Unix()}
	if len(c.Groups) > 0 {
		claims["groups"] = c.Groups
	}
	if c.Audience != "" {
		claims["aud"] = c.Audience
	}
	if c.Issuer != "" {
		claims["iss"] = c.Issuer
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
}
