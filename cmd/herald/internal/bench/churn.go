package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/server/tokens"
)

const (
	// churnHold is the mean time a churning client stays connected; each
	// stay is drawn uniformly from [0, 2*churnHold). With the default 50
	// churners that is about 50 connects (and as many disconnects) a second.
	churnHold = 500 * time.Millisecond
	// churnRetry is the pause after a failed dial, so that a refusing
	// server is not hammered in a loop.
	churnRetry = 200 * time.Millisecond
)

// closeMode is how a churning client leaves. The three rotate, so that
// every way a connection ends runs many times over the soak.
type closeMode int

const (
	closeClean  closeMode = iota // a close frame (1000), then the socket
	closeAbrupt                  // the socket alone, no close frame: a dropped network
	closeEarly                   // the socket, right after the upgrade, before Welcome
	closeModes
)

// ChurnReport is what the churning clients of the soak did.
type ChurnReport struct {
	Clients  int   `json:"clients"`
	Cycles   int64 `json:"cycles"`   // connection attempts
	Welcomed int64 `json:"welcomed"` // attempts that got their Welcome
	Failed   int64 `json:"failed"`   // dials or handshakes that failed, by reason in FailReasons
	// Closes by how the client left: clean (1000), abrupt (no close
	// frame), early (before Welcome).
	CleanCloses  int64          `json:"clean_closes"`
	AbruptCloses int64          `json:"abrupt_closes"`
	EarlyCloses  int64          `json:"early_closes"`
	FailReasons  map[string]int `json:"fail_reasons,omitempty"`
	// ServerCloses are connections the server ended while a client held
	// them, by close code (none expected).
	ServerCloses map[string]int `json:"server_closes,omitempty"`

	// Resumes counts reconnections that announced ?resume=1 and sent the
	// client's positions; ResumeResults the answers received.
	Resumes       int64 `json:"resumes"`
	ResumeResults int64 `json:"resume_results"`
	// StreamsRecovered and StreamsNotRecovered add up the answers' streams.
	StreamsRecovered    int64 `json:"streams_recovered"`
	StreamsNotRecovered int64 `json:"streams_not_recovered"`
	// Pushes counts pushes received; Gaps, offsets skipped within an
	// epoch (pushes lost: none expected, resume replays what was missed);
	// Duplicates, pushes at or below an offset already received.
	Pushes     int64 `json:"pushes"`
	Gaps       int64 `json:"gaps"`
	Duplicates int64 `json:"duplicates"`
	BadFrames  int64 `json:"bad_frames"`
}

// churn runs the soak's churning clients: each connects as a user of its
// own, holds the connection for a random while receiving pushes, leaves in
// one of the closeModes, and comes back with a Resume of the positions it
// has seen, until stop.
type churn struct {
	// immutable after startChurn
	cfg    Config
	mint   func(tokens.MintClaims) (string, error)
	ipv4   bool
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per churner

	cycles, welcomed, failed          atomic.Int64
	closes                            [closeModes]atomic.Int64
	resumes, resumeResults            atomic.Int64
	recovered, notRecovered           atomic.Int64
	pushes, gaps, duplicates, badFrms atomic.Int64

	mu           sync.Mutex
	failReasons  map[string]int // guarded by mu
	serverCloses map[string]int // guarded by mu
}

// churnUser is churner i's user id: pushes to it reach that churner only.
func churnUser(i int) string { return fmt.Sprintf("bench-soak-r%d", i) }

func startChurn(ctx context.Context, cfg Config, mint func(tokens.MintClaims) (string, error), ipv4 bool) *churn {
	ctx, cancel := context.WithCancel(ctx)
	ch := &churn{cfg: cfg, mint: mint, ipv4: ipv4, cancel: cancel, failReasons: map[string]int{}, serverCloses: map[string]int{}}
	for i := range cfg.Churn {
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			c := &churner{ch: ch, id: i, pos: map[string]*clientv1.StreamPosition{}, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
			for n := 0; ctx.Err() == nil; n++ {
				c.cycle(ctx, closeMode(n%int(closeModes)))
			}
		}()
	}
	return ch
}

// stop ends every churner (each closes its connection) and reports.
func (ch *churn) stop() ChurnReport {
	ch.cancel()
	ch.wg.Wait()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ChurnReport{
		Clients: ch.cfg.Churn, Cycles: ch.cycles.Load(), Welcomed: ch.welcomed.Load(), Failed: ch.failed.Load(),
		CleanCloses: ch.closes[closeClean].Load(), AbruptCloses: ch.closes[closeAbrupt].Load(), EarlyCloses: ch.closes[closeEarly].Load(),
		FailReasons: cloneMap(ch.failReasons), ServerCloses: cloneMap(ch.serverCloses),
		Resumes: ch.resumes.Load(), ResumeResults: ch.resumeResults.Load(),
		StreamsRecovered: ch.recovered.Load(), StreamsNotRecovered: ch.notRecovered.Load(),
		Pushes: ch.pushes.Load(), Gaps: ch.gaps.Load(), Duplicates: ch.duplicates.Load(), BadFrames: ch.badFrms.Load(),
	}
}

func (ch *churn) fail(reason string) {
	ch.failed.Add(1)
	ch.mu.Lock()
	addReason(ch.failReasons, reason)
	ch.mu.Unlock()
}

// churner is one churning client across its connections.
type churner struct {
	ch  *churn
	id  int
	rng *rand.Rand // owned by the churner's goroutine
	// pos is the last push seen per stream. Written by the read goroutine
	// of the live connection, read by the churner's goroutine only after
	// that connection's read loop has ended (churnConn.done).
	pos map[string]*clientv1.StreamPosition
}

// cycle makes one connection: dial (with a Resume of pos when it has
// any), wait for Welcome, hold, leave as mode says.
func (c *churner) cycle(ctx context.Context, mode closeMode) {
	ch := c.ch
	ch.cycles.Add(1)
	claims := tokens.MintClaims{UserID: churnUser(c.id), TTL: ch.cfg.Duration + tokenMargin, Audience: ch.cfg.JWTAudience, Issuer: ch.cfg.JWTIssuer}
	if ch.cfg.Groups > 0 {
		claims.Groups = []string{groupOf(c.id, ch.cfg.Groups)}
	}
	tok, err := ch.mint(claims)
	if err != nil {
		ch.fail("mint token: " + err.Error())
		pause(ctx, churnRetry)
		return
	}
	var resume *clientv1.Resume
	addr := ch.cfg.WSURL
	if len(c.pos) > 0 {
		resume = &clientv1.Resume{}
		for _, p := range c.pos {
			resume.Streams = append(resume.Streams, proto.Clone(p).(*clientv1.StreamPosition))
		}
		addr = withResume(addr)
	}
	h := &churnConn{c: c, welcome: make(chan struct{}), done: make(chan struct{})}
	local := sourceIP(c.id, ch.cfg.SourceIPs, ch.ipv4)
	conn, resp, err := dial(h, addr, tok, ch.cfg.Compress, local)
	if err != nil {
		if resp != nil {
			ch.fail("HTTP " + resp.Status)
			_ = resp.Body.Close()
		} else {
			ch.fail(errText(err))
		}
		pause(ctx, churnRetry)
		return
	}
	h.conn = conn
	if mode == closeEarly {
		// Gone before the server could say Welcome: the server must clean
		// up a session that never got going.
		ch.closes[closeEarly].Add(1)
		_ = conn.NetConn().Close()
		return
	}
	if resume != nil {
		// Resume goes first, before the read loop can write anything.
		b, _ := proto.Marshal(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: resume}})
		_ = conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		if err := conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
			ch.fail("write Resume: " + errText(err))
			_ = conn.NetConn().Close()
			return
		}
		ch.resumes.Add(1)
	}
	go conn.ReadLoop() // ends when the socket closes; waited for through h.done
	defer func() { <-h.done }()

	t := time.NewTimer(welcomeTimeout)
	defer t.Stop()
	select {
	case <-h.welcome:
		ch.welcomed.Add(1)
	case <-h.done:
		ch.fail("closed before Welcome")
		return
	case <-t.C:
		ch.fail("no Welcome within " + welcomeTimeout.String())
		_ = conn.NetConn().Close()
		return
	case <-ctx.Done():
		// The Welcome may have come in the same instant: the close is
		// still ours, not the server's.
		h.leaving.Store(true)
		_ = conn.NetConn().Close()
		return
	}
	hold := time.Duration(c.rng.Int64N(int64(2 * churnHold)))
	t.Reset(hold)
	select {
	case <-t.C:
	case <-h.done:
		return // the server closed it: counted in OnClose
	case <-ctx.Done():
	}
	h.leaving.Store(true)
	if mode == closeClean {
		_ = conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		_ = conn.WriteClose(1000, nil)
	}
	ch.closes[mode].Add(1)
	_ = conn.NetConn().Close()
}

// withResume adds resume=1 to a WebSocket URL that Validate parsed.
func withResume(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set("resume", "1")
	u.RawQuery = q.Encode()
	return u.String()
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// churnConn handles one connection of a churner. Its frames are decoded
// in full: the churners are few, and they check offsets.
type churnConn struct {
	gws.BuiltinEventHandler // answers the server's pings

	c       *churner
	conn    *gws.Conn   // set before ReadLoop starts
	leaving atomic.Bool // set when the churner closes: later closes are its own

	welcomed bool          // owned by the read goroutine
	welcome  chan struct{} // closed at the Welcome frame
	done     chan struct{} // closed when the read loop ends
}

func (h *churnConn) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	ch := h.c.ch
	var f clientv1.ServerFrame
	if err := proto.Unmarshal(m.Bytes(), &f); err != nil {
		ch.badFrms.Add(1)
		return
	}
	switch k := f.Kind.(type) {
	case *clientv1.ServerFrame_Welcome:
		if !h.welcomed {
			h.welcomed = true
			close(h.welcome)
		}
	case *clientv1.ServerFrame_Push:
		h.push(k.Push)
	case *clientv1.ServerFrame_Batch:
		for _, p := range k.Batch.GetPushes() {
			h.push(p)
		}
	case *clientv1.ServerFrame_ResumeResult:
		ch.resumeResults.Add(1)
		for _, r := range k.ResumeResult.GetStreams() {
			if r.GetRecovered() {
				ch.recovered.Add(1)
				continue
			}
			// Lost while away (history trimmed or expired, new epoch):
			// the server says where the stream stands now.
			ch.notRecovered.Add(1)
			h.c.pos[r.GetStream()] = &clientv1.StreamPosition{Stream: r.GetStream(), Offset: r.GetOffset(), Epoch: r.GetEpoch()}
		}
	}
}

// push checks a push's offset against the last one of its stream.
func (h *churnConn) push(p *clientv1.Push) {
	ch := h.c.ch
	ch.pushes.Add(1)
	last := h.c.pos[p.GetStream()]
	switch {
	case last == nil || last.GetEpoch() != p.GetEpoch():
		// First sight of the stream, or a new epoch (announced by a
		// ResumeResult that was not recovered): nothing to compare with.
	case p.GetOffset() <= last.GetOffset():
		ch.duplicates.Add(1)
		return
	case p.GetOffset() > last.GetOffset()+1:
		ch.gaps.Add(1)
	}
	h.c.pos[p.GetStream()] = &clientv1.StreamPosition{Stream: p.GetStream(), Offset: p.GetOffset(), Epoch: p.GetEpoch()}
}

func (h *churnConn) OnClose(_ *gws.Conn, err error) {
	if !h.leaving.Load() && h.welcomed {
		ch := h.c.ch
		ch.mu.Lock()
		addReason(ch.serverCloses, closeReason(err))
		ch.mu.Unlock()
	}
	close(h.done)
}
