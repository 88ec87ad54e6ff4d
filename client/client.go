package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// Client is a Herald WebSocket client that stays connected: it reconnects
// with backoff, resumes its streams, and drops duplicate pushes. Create one
// with New (then Start) or Dial; stop it with Close.
type Client struct {
	// Immutable after New.
	opts      Options
	log       *slog.Logger
	where     string             // URL for logs and errors, without query (it may carry a token)
	ctx       context.Context    // the run loop's; cancelled by Close
	cancel    context.CancelFunc // cancels ctx
	done      chan struct{}      // closed when the run loop has returned
	firstConn chan struct{}      // closed on the first Welcome

	pos           *positions // safe for concurrent use
	state         atomic.Int32
	firstConnOnce sync.Once // closes firstConn

	mu      sync.Mutex
	started bool     // guarded by mu
	closed  bool     // guarded by mu
	sess    *session // guarded by mu: the live connection, nil while there is none
	lastErr error    // guarded by mu: why the last connection or attempt ended
}

// New validates opts, fills in defaults, and returns a Client that is not yet
// connected: call Start. The errors name the offending field.
func New(opts Options) (*Client, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	// Copy what the caller could still mutate.
	opts.Header = opts.Header.Clone()
	u, _ := url.Parse(opts.URL) // validate parsed it already
	u.RawQuery, u.Fragment, u.User = "", "", nil
	where := u.String()
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		opts:      opts,
		log:       opts.Logger.With("url", where),
		where:     where,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		firstConn: make(chan struct{}),
		pos:       newPositions(opts.Resume),
	}, nil
}

// Dial is New plus Start, then waits until the server's Welcome arrives. If
// ctx ends first, or the server refuses to let the client reconnect, Dial
// closes the client and returns the error with the last connection error.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	select {
	case <-c.firstConn:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("client: dial %s: %w", c.where, c.lastError())
	case <-ctx.Done():
	}
	last := c.lastError() // before Close replaces it with ErrClosed
	// Close needs its own deadline: ctx is already over.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.HandshakeTimeout)
	defer cancel()
	_ = c.Close(cctx)
	if last != nil {
		return nil, fmt.Errorf("client: dial %s: %w: %w", c.where, ctx.Err(), last)
	}
	return nil, fmt.Errorf("client: dial %s: %w", c.where, ctx.Err())
}

// Start launches the run loop, which connects in the background and keeps
// the client connected until Close. State changes arrive on
// Options.OnState.
func (c *Client) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case c.started:
		return ErrStarted
	}
	c.started = true
	go c.run()
	return nil
}

// Close stops reconnecting, closes the live connection with 1000 (normal
// closure), and waits until every goroutine of the client has returned, or
// ctx ends. The final state change (Closed, ErrClosed) is delivered before
// Close returns. Close is idempotent. Do not call it from a callback: it
// would wait for the callback to return.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	started := c.started
	c.mu.Unlock()
	c.cancel()
	if !started {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("client: close: %w", ctx.Err())
	}
}

// State returns the current state.
func (c *Client) State() State { return State(c.state.Load()) }

// Positions returns, per stream, the last offset and epoch delivered to the
// app, sorted by stream. An app that saves them can pass them back as
// Options.Resume after a restart.
func (c *Client) Positions() []*clientv1.StreamPosition { return c.pos.snapshot() }

// Ack tells the server the app has handled pushes: for each stream, every
// push up to the highest offset given. With no pushes it acknowledges every
// tracked position. It returns ErrNotConnected between connections; the
// write is bounded by ctx's deadline and Options.WriteTimeout.
func (c *Client) Ack(ctx context.Context, pushes ...*clientv1.Push) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var sps []*clientv1.StreamPosition
	if len(pushes) == 0 {
		sps = c.pos.snapshot()
	} else {
		sps = ackPositions(pushes)
	}
	if len(sps) == 0 {
		return nil
	}
	deadline := time.Now().Add(c.opts.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return c.sendLive(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ack{
		Ack: &clientv1.Ack{Positions: sps},
	}}, deadline)
}

// RefreshToken hands the live connection a new token before the current one
// expires (Welcome.token_expires_at). The server answers a bad token with an
// Error frame (Options.OnError). Options.Token should return the new token
// too: it is what the next reconnect uses.
func (c *Client) RefreshToken(token string) error {
	if token == "" {
		return errors.New("client: RefreshToken: empty token")
	}
	return c.sendLive(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_RefreshToken{
		RefreshToken: &clientv1.RefreshToken{Token: token},
	}}, time.Now().Add(c.opts.WriteTimeout))
}

// sendLive writes f on the live connection, if there is one.
func (c *Client) sendLive(f *clientv1.ClientFrame, deadline time.Time) error {
	c.mu.Lock()
	s, closed := c.sess, c.closed
	c.mu.Unlock()
	select {
	case <-c.done: // the run loop has ended: no connection will come
		closed = true
	default:
	}
	switch {
	case closed:
		return ErrClosed
	case s == nil:
		return ErrNotConnected
	}
	if err := s.send(f, deadline); err != nil {
		return fmt.Errorf("client: send: %w", err)
	}
	return nil
}

// run is the run loop: it owns the connect/reconnect cycle and the backoff,
// and is the only goroutine that starts or waits for a connection.
func (c *Client) run() {
	defer close(c.done)
	bo := newBackoff(c.opts.MinBackoff, c.opts.MaxBackoff, c.opts.Rand)
	failures := 0
	c.emit(StateChange{State: StateConnecting})
	for {
		o := c.connect()
		if c.ctx.Err() != nil {
			c.setLastError(ErrClosed)
			c.emit(StateChange{State: StateClosed, Code: o.code, Reason: o.reason, Err: ErrClosed})
			return
		}
		if !o.reconnect {
			err := fmt.Errorf("%w: code %d: %s", ErrDisconnected, o.code, o.reason)
			c.setLastError(err)
			c.emit(StateChange{State: StateClosed, Code: o.code, Reason: o.reason, Err: err})
			return
		}
		if o.welcomed && o.uptime >= c.opts.StableAfter {
			bo.reset()
			failures = 0
		}
		failures++
		delay := bo.next()
		if o.reconnectAfter > 0 {
			// The server spreads reconnects after a drain; its word wins.
			delay = o.reconnectAfter
		}
		delay = max(delay, o.retryAfter)
		c.setLastError(o.err)
		c.emit(StateChange{State: StateReconnecting, Code: o.code, Reason: o.reason, Err: o.err, Delay: delay, Attempt: failures})
		if delay > 0 {
			select {
			case <-c.opts.Clock.After(delay):
			case <-c.ctx.Done():
			}
		}
	}
}

// connect makes one connection and returns when it has ended (or failed to
// start). It runs on the run loop.
func (c *Client) connect() outcome {
	ctx := c.ctx
	if ctx.Err() != nil {
		return outcome{err: ErrClosed}
	}
	token, err := c.opts.Token(ctx)
	switch {
	case err != nil:
		return outcome{err: fmt.Errorf("client: token provider: %w", err), reconnect: true}
	case token == "":
		return outcome{err: ErrEmptyToken, reconnect: true}
	}
	header := c.opts.Header.Clone()
	header.Set("Authorization", "Bearer "+token)

	// Positions are taken before the handshake: the server is told a
	// Resume follows (?resume=1) and holds live pushes until it arrives, so
	// replay and live traffic meet with no gap and no duplicate.
	resume := &clientv1.Resume{Streams: c.pos.snapshot()}
	addr := c.opts.URL
	if len(resume.Streams) > 0 {
		addr = withResumeParam(addr)
	}

	s := newSession(c)
	d := &dialer{ctx: ctx, timeout: c.opts.HandshakeTimeout}
	conn, resp, err := gws.NewClient(s, &gws.ClientOption{
		Addr:             addr,
		RequestHeader:    header,
		HandshakeTimeout: c.opts.HandshakeTimeout,
		TlsConfig:        c.opts.TLSConfig.Clone(), // gws writes ServerName into it
		NewDialer:        func() (gws.Dialer, error) { return d, nil },
		PermessageDeflate: gws.PermessageDeflate{
			Enabled: !c.opts.DisableCompression,
			// Context takeover would cost 8 KiB+ per connection on the
			// server, and gws (v1.8.9) corrupts a broadcast frame shared by
			// connections that negotiated it differently.
			ServerContextTakeover: false,
			ClientContextTakeover: false,
		},
	})
	d.release()
	if err != nil {
		return handshakeOutcome(err, resp)
	}
	if ctx.Err() != nil {
		_ = conn.NetConn().Close() // ReadLoop never ran: nothing else to stop
		return outcome{err: ErrClosed}
	}

	s.conn = conn
	s.alive() // Welcome must come within HandshakeTimeout
	// Resume goes first, before ReadLoop starts: nothing else (not even a
	// pong or an Ack) can be written ahead of it.
	deadline := time.Now().Add(c.opts.WriteTimeout)
	if len(resume.Streams) > 0 {
		err = s.send(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: resume}}, deadline)
		if err == nil {
			// Its streams are filled like a gap: pushes before the
			// answer wait for the replay.
			s.gaps.start(resume.Streams, time.Now())
		}
	} else {
		// Still set a write deadline: gws's own writes (close replies)
		// must never run unbounded.
		err = conn.SetWriteDeadline(deadline)
	}
	if err != nil {
		s.nudge.stop() // ReadLoop, whose OnClose would, never runs
		_ = conn.NetConn().Close()
		return outcome{err: fmt.Errorf("client: send resume: %w", err), reconnect: true}
	}

	c.setSession(s)
	go conn.ReadLoop() // ends after the connection closes; waited for below via s.done
	select {
	case <-s.done:
	case <-ctx.Done():
		_ = conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
		_ = conn.WriteClose(codeNormal, []byte("client closed"))
		<-s.done
	}
	c.setSession(nil)
	o := s.outcome(c.opts.Clock.Now())
	if ctx.Err() != nil {
		o.code, o.reason = codeNormal, "client closed"
	}
	return o
}

// withResumeParam adds resume=1 to a WebSocket URL that Options
// validation has already parsed once.
func withResumeParam(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set("resume", "1")
	u.RawQuery = q.Encode()
	return u.String()
}

// handshakeOutcome classifies a failed dial or handshake.
func handshakeOutcome(err error, resp *http.Response) outcome {
	o := outcome{reconnect: true}
	if resp == nil {
		o.err = fmt.Errorf("client: connect: %w", err)
		return o
	}
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		o.err = fmt.Errorf("%w (HTTP 401)", ErrUnauthorized)
	case http.StatusForbidden:
		o.err = fmt.Errorf("%w (HTTP 403)", ErrForbidden)
	case http.StatusServiceUnavailable:
		o.err = fmt.Errorf("%w (HTTP 503)", ErrTryLater)
		o.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case http.StatusSwitchingProtocols:
		o.err = fmt.Errorf("%w: %w", ErrHandshake, err)
	default:
		o.err = fmt.Errorf("%w: HTTP %d", ErrHandshake, resp.StatusCode)
	}
	return o
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// connected handles Welcome. Called from the ReadLoop goroutine.
func (c *Client) connected(w *clientv1.Welcome) {
	c.emit(StateChange{State: StateConnected, Welcome: w})
	c.firstConnOnce.Do(func() { close(c.firstConn) })
}

// emit records and reports a state change. Callers are the run loop and the
// ReadLoop goroutine of the live connection, never both at once (doc.go),
// so OnState calls never overlap.
func (c *Client) emit(sc StateChange) {
	c.state.Store(int32(sc.State))
	attrs := []any{"state", sc.State}
	if sc.Err != nil {
		attrs = append(attrs, "err", sc.Err, "code", sc.Code, "reason", sc.Reason)
	}
	if sc.State == StateReconnecting {
		attrs = append(attrs, "delay", sc.Delay, "attempt", sc.Attempt)
	}
	c.log.Info("herald client state", attrs...)
	if c.opts.OnState != nil {
		c.opts.OnState(sc)
	}
}

func (c *Client) setSession(s *session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
}

func (c *Client) setLastError(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *Client) lastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// dialer dials with the run loop's context, so Close interrupts a dial, and
// keeps interrupting through the WebSocket handshake: gws's handshake takes
// no context, so a cancelled ctx closes the socket under it instead. (Not a
// past deadline: the handshake sets its own deadline first thing, which
// would undo one set a moment before.) Used by one NewClient call, on the
// run loop.
type dialer struct {
	ctx     context.Context
	timeout time.Duration
	stop    func() bool // detaches the AfterFunc; nil until a dial succeeded
}

// Dial implements gws.Dialer.
func (d *dialer) Dial(network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	conn, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.stop = context.AfterFunc(d.ctx, func() { _ = conn.Close() })
	return conn, nil
}

// release detaches the dialer from ctx once the handshake is over; the caller
// checks ctx itself afterwards.
func (d *dialer) release() {
	if d.stop != nil {
		d.stop()
	}
}
