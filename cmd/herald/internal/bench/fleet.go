package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/server/tokens"
)

const (
	// dialers bounds the connections being opened at once; each waits for
	// its Welcome, so the bound also caps handshakes in flight.
	dialers = 128
	// welcomeTimeout is how long a client waits for its Welcome.
	welcomeTimeout = 10 * time.Second
	// closeWriteTimeout bounds writing a churning client's frames.
	closeWriteTimeout = 2 * time.Second
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
	url  *url.URL
	rec  *recorder
	ipv4 bool

	// pollers read the clients; connect starts them, close stops them.
	pollers []*poller
	wg      sync.WaitGroup // one per poller goroutine
	// slots hold client First+k in slot k once it is registered with its
	// poller, which finds it there by the slot in its epoll event.
	slots []atomic.Pointer[client]

	connected atomic.Int64 // clients that got their Welcome
	failed    atomic.Int64
	live      atomic.Int64 // open connections
	badFrames atomic.Int64
	closing   atomic.Bool // set when we start closing: later closes are ours
	ready     chan struct{}
	connDur   time.Duration // written before ready is closed

	mu      sync.Mutex
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
		url:     u,
		rec:     newRecorder(spec.Tag, spec.Steps),
		slots:   make([]atomic.Pointer[client], spec.Count),
		ipv4:    ip == nil || ip.To4() != nil,
		ready:   make(chan struct{}),
		dialErr: map[string]int{},
		closes:  map[string]int{},
	}, nil
}

// connect starts the pollers, one per CPU the process may use, then opens
// the fleet's clients at the dial rate; it returns when each has its
// Welcome or has failed, or ctx ends. It closes f.ready.
func (f *fleet) connect(ctx context.Context) {
	start := time.Now()
	defer func() {
		f.connDur = time.Since(start)
		close(f.ready)
	}()
	for range max(1, runtime.GOMAXPROCS(0)) {
		p, err := newPoller(f)
		if err != nil {
			f.fail(err.Error())
			continue
		}
		f.pollers = append(f.pollers, p)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			p.run()
		}()
	}
	if len(f.pollers) == 0 {
		return
	}
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
	claims := tokens.MintClaims{UserID: userOf(i, f.spec.Users), TTL: f.spec.TokenTTL, Audience: f.spec.Audience, Issuer: f.spec.Issuer}
	if f.spec.Groups > 0 {
		claims.Groups = []string{groupOf(i, f.spec.Groups)}
	}
	tok, err := f.mint(claims)
	if err != nil {
		f.fail("mint token: " + err.Error())
		return
	}
	c, leftover, err := f.open(ctx, i, tok)
	if err != nil {
		var status errHTTPStatus
		if errors.As(err, &status) {
			f.fail(status.Error())
		} else {
			f.fail(errText(err))
		}
		return
	}
	f.live.Add(1)
	// What came with the handshake response (the Welcome, often) is read
	// here, before the poller owns the client.
	if len(leftover) > 0 {
		var fr frameReader
		fr.consume(c, leftover, time.Now().UnixNano())
	}
	// The client is complete before it is published in its slot, which is
	// how its poller finds it.
	slot := i - f.spec.First
	p := f.pollers[slot%len(f.pollers)]
	if !c.ended {
		c.p = p
	}
	f.slots[slot].Store(c)
	if !c.ended {
		if err := p.add(c, slot); err != nil {
			c.end("abnormal: " + err.Error())
		}
	}

	t := time.NewTimer(welcomeTimeout)
	defer t.Stop()
	select {
	case <-c.welcome:
		f.connected.Add(1)
		return
	case <-c.done:
		f.fail("closed before Welcome")
		return
	case <-t.C:
		f.fail("no Welcome within " + welcomeTimeout.String())
	case <-ctx.Done():
	}
	// The poller reads the end of the shut-down socket and ends the
	// client; the socket is closed by close, never before, so this cannot
	// hit another client's.
	_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
}

// open dials client i, upgrades the connection with token and takes its
// socket out of Go's network poller: the client, not yet registered with
// a poller, and what came after the handshake response.
func (f *fleet) open(ctx context.Context, i int, token string) (*client, []byte, error) {
	d := &net.Dialer{Timeout: welcomeTimeout}
	if local := sourceIP(i, f.spec.SourceIPs, f.ipv4); local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	conn, err := d.DialContext(ctx, "tcp", f.url.Host)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close() // the client has its own descriptor
	_ = conn.SetDeadline(time.Now().Add(welcomeTimeout))
	leftover, deflate, err := handshake(conn, f.url, token, f.spec.Compress)
	if err != nil {
		return nil, nil, err
	}
	fd, err := dupSocket(conn)
	if err != nil {
		return nil, nil, err
	}
	c := &client{f: f, idx: i, fd: fd, deflate: deflate, welcome: make(chan struct{}), done: make(chan struct{})}
	return c, leftover, nil
}

// dupSocket returns a non-blocking, close-on-exec duplicate of conn's
// socket, which Go's network poller knows nothing of.
func dupSocket(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("a %T has no socket", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = fmt.Errorf("dup: %w", errno)
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// client returns the client in slot, or nil.
func (f *fleet) client(slot int) *client {
	if slot < 0 || slot >= len(f.slots) {
		return nil
	}
	return f.slots[slot].Load()
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

// close stops the pollers, then closes every client still open with 1000
// and every socket.
func (f *fleet) close() {
	f.closing.Store(true)
	for _, p := range f.pollers {
		p.stop()
	}
	f.wg.Wait()
	code := []byte{1000 >> 8, 1000 & 0xff}
	for k := range f.slots {
		c := f.slots[k].Load()
		if c == nil {
			continue
		}
		if !c.ended {
			c.p = nil // its epoll set is gone
			c.send(opClose, code)
			c.end("closed by the bench")
		}
		_ = syscall.Close(c.fd)
	}
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
func (f *fleet) mint(c tokens.MintClaims) (string, error) {
	if len(f.spec.RSAKeyPEM) == 0 {
		return tokens.Mint(f.spec.JWTSecret, c)
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

func (f *fleet) mintRS256(c tokens.MintClaims) (string, error) {
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
