package grpcapi_test

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawConn is an HTTP/2 client written frame by frame, the way an attacker
// would: it opens gRPC streams by sending HEADERS and never the request,
// and ignores the server's SETTINGS limits. Its reader goroutine acks the
// server's SETTINGS and PINGs and reports every other frame as an event.
type rawConn struct {
	conn   net.Conn
	events chan rawEvent // closed when the connection is

	mu     sync.Mutex // guards the writing side below
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	nextID uint32

	done    chan struct{} // closed when the reader has ended
	readErr error         // why the reader ended; set before done is closed
}

// rawEvent is one frame the server sent.
type rawEvent struct {
	kind       string // "settings", "end" (a HEADERS frame ending its stream), "rst", "goaway", "pingack"
	stream     uint32
	grpcStatus string        // "end"
	code       http2.ErrCode // "rst", "goaway"
	debug      string        // "goaway"
}

// dialRaw connects to addr and sends the client preface; with preface
// false it sends nothing at all.
func dialRaw(t *testing.T, addr string, preface bool) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawConn{conn: conn, events: make(chan rawEvent, 1<<14), nextID: 1, done: make(chan struct{})}
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if preface {
		// Before the reader starts, whose SETTINGS ack must follow the
		// preface. A server over its connection limit closes at once:
		// the reader then reports the close, so write errors are left to
		// it.
		if _, err := conn.Write([]byte(http2.ClientPreface)); err == nil {
			_ = c.fr.WriteSettings()
		}
	}
	go c.read()
	t.Cleanup(func() {
		_ = conn.Close()
		<-c.done
	})
	return c
}

func (c *rawConn) write(t *testing.T, f func(*http2.Framer) error) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := f(c.fr); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

func (c *rawConn) read() {
	defer close(c.done)
	defer close(c.events)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.readErr = err
			return
		}
		var ev rawEvent
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			c.mu.Lock()
			err = c.fr.WriteSettingsAck()
			c.mu.Unlock()
			ev = rawEvent{kind: "settings"}
		case *http2.PingFrame:
			if f.IsAck() {
				ev = rawEvent{kind: "pingack"}
				break
			}
			c.mu.Lock()
			err = c.fr.WritePing(true, f.Data)
			c.mu.Unlock()
			if err != nil {
				return
			}
			continue
		case *http2.MetaHeadersFrame:
			if !f.StreamEnded() {
				continue
			}
			ev = rawEvent{kind: "end", stream: f.StreamID}
			for _, hf := range f.Fields {
				if hf.Name == "grpc-status" {
					ev.grpcStatus = hf.Value
				}
			}
		case *http2.RSTStreamFrame:
			ev = rawEvent{kind: "rst", stream: f.StreamID, code: f.ErrCode}
		case *http2.GoAwayFrame:
			ev = rawEvent{kind: "goaway", code: f.ErrCode, debug: string(f.DebugData())}
		default:
			continue
		}
		if err != nil {
			return
		}
		c.events <- ev
	}
}

// openStreams opens n streams of method, each with only its headers
// (extra ones after the usual), sending key as the bearer token unless it
// is empty. It returns their ids.
func (c *rawConn) openStreams(t *testing.T, n int, method, key string, extra ...hpack.HeaderField) []uint32 {
	t.Helper()
	ids := make([]uint32, 0, n)
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		ids = append(ids, c.openLocked(t, method, key, extra...))
	}
	return ids
}

// call opens a stream of method with a grpc-timeout and sends an empty
// request message, ending its side of the stream. Unlike a gRPC client,
// it does nothing when the timeout passes: only the server acts on it.
func (c *rawConn) call(t *testing.T, method, key, grpcTimeout string) uint32 {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.openLocked(t, method, key, hpack.HeaderField{Name: "grpc-timeout", Value: grpcTimeout})
	// A gRPC message: not compressed, length 0.
	if err := c.fr.WriteData(id, true, make([]byte, 5)); err != nil {
		t.Fatalf("raw write: %v", err)
	}
	return id
}

func (c *rawConn) openLocked(t *testing.T, method, key string, extra ...hpack.HeaderField) uint32 {
	t.Helper()
	c.hbuf.Reset()
	for _, hf := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: method},
		{Name: ":authority", Value: c.conn.RemoteAddr().String()},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	} {
		_ = c.enc.WriteField(hf)
	}
	if key != "" {
		_ = c.enc.WriteField(hpack.HeaderField{Name: "authorization", Value: "Bearer " + key, Sensitive: true})
	}
	for _, hf := range extra {
		_ = c.enc.WriteField(hf)
	}
	id := c.nextID
	c.nextID += 2
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		t.Fatalf("raw write: %v", err)
	}
	return id
}

// ping sends a PING frame.
func (c *rawConn) ping(t *testing.T) {
	t.Helper()
	c.write(t, func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1}) })
}

// rawWait bounds every wait for the server: it only catches a hang.
const rawWait = 10 * time.Second

// next returns the next event, or fails the test when the connection
// closed or nothing came within rawWait.
func (c *rawConn) next(t *testing.T) rawEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatalf("the server closed the connection: %v", c.readErr)
		}
		return ev
	case <-time.After(rawWait):
		t.Fatalf("no frame from the server within %v", rawWait)
	}
	return rawEvent{}
}

// ends waits until each of n streams has ended (trailers or RST_STREAM)
// and returns how each ended first.
func (c *rawConn) ends(t *testing.T, n int) map[uint32]rawEvent {
	t.Helper()
	got := make(map[uint32]rawEvent, n)
	for len(got) < n {
		ev := c.next(t)
		if ev.kind != "end" && ev.kind != "rst" {
			continue
		}
		if _, seen := got[ev.stream]; !seen {
			got[ev.stream] = ev
		}
	}
	return got
}

// closed waits until the server closes the connection and returns the
// events it sent before.
func (c *rawConn) closed(t *testing.T) []rawEvent {
	t.Helper()
	var evs []rawEvent
	deadline := time.After(rawWait)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-deadline:
			t.Fatalf("the server kept the connection open for %v; frames: %v", rawWait, evs)
		}
	}
}
