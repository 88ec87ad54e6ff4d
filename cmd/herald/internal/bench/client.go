package bench

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/lxzan/gws"
)

// client is one WebSocket connection of the fleet.
type client struct {
	gws.BuiltinEventHandler // answers the server's pings

	// immutable after dial
	f    *fleet
	idx  int // client index: picks its user, group, source address, shard
	conn *gws.Conn

	// owned by the read goroutine
	welcomed bool

	welcome chan struct{} // closed at the Welcome frame
	done    chan struct{} // closed when the read loop ends
}

// OnMessage records the pushes of one frame. The clock is read once per
// frame: a batch's pushes arrived together.
func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	now := time.Now().UnixNano()
	kind := c.f.rec.frame(m.Bytes(), c.idx, now)
	m.Close()
	switch kind {
	case frameWelcome:
		if !c.welcomed {
			c.welcomed = true
			close(c.welcome)
		}
	case frameBad:
		c.f.badFrames.Add(1)
	}
}

// OnClose counts closes the server started, by code.
func (c *client) OnClose(_ *gws.Conn, err error) {
	c.f.live.Add(-1)
	if !c.f.closing.Load() {
		c.f.countClose(closeReason(err))
	}
	close(c.done)
}

// closeReason names why a connection ended: its close code, or what broke.
func closeReason(err error) string {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return "code " + strconv.Itoa(int(ce.Code))
	}
	return "abnormal: " + errText(err)
}

// errText shortens an error to its kind: dial errors carry the addresses,
// which differ per client and would make every reason unique.
func errText(err error) string {
	if err == nil {
		return "none"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// noSession replaces gws's map-backed per-connection storage, which the
// bench does not use, to keep a client small.
type noSession struct{}

func (noSession) Len() int                     { return 0 }
func (noSession) Load(string) (any, bool)      { return nil, false }
func (noSession) Delete(string)                {}
func (noSession) Store(string, any)            {}
func (noSession) Range(func(string, any) bool) {}

// dial opens one bench client's WebSocket to addr with token tok, from
// the source address local when it is set, its events going to h.
func dial(h gws.Event, addr, tok string, compress bool, local net.IP) (*gws.Conn, *http.Response, error) {
	return gws.NewClient(h, &gws.ClientOption{
		Addr:              addr,
		RequestHeader:     http.Header{"Authorization": {"Bearer " + tok}},
		PermessageDeflate: gws.PermessageDeflate{Enabled: compress},
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
}
