package wsgate

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/pushsvc"
)

// maskedHeader is the header of a client frame of n payload bytes, masked
// with a zero key (so the payload goes as is): FIN when fin, RSV1 (a
// compressed message) when rsv1.
func maskedHeader(opcode byte, fin, rsv1 bool, n int) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	var h []byte
	switch {
	case n < 126:
		h = []byte{b0, 0x80 | byte(n)}
	case n < 1<<16:
		h = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		h = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	return append(h, 0, 0, 0, 0)
}

// failed does what a client library does when a write fails, as gws's
// own writer does: it closes the connection (with a close frame when it
// still can), whatever it has not read yet.
func failed(c *client) { _ = c.Conn.WriteClose(pushsvc.CodeGoingAway, nil) }

// cutCase is a way to misbehave that gets a client cut while it is still
// writing.
type cutCase struct {
	name     string
	opts     func(*Options)
	tls      bool
	compress bool
	code     uint16
	// misbehave writes from its own goroutine until a write fails, as a
	// client does that knows nothing of the close coming its way.
	misbehave func(c *client)
}

// stream4MiB sends a 4 MiB binary frame in writes of 64 KiB.
func stream4MiB(c *client) {
	const size, chunk = 4 << 20, 64 << 10
	w := c.Conn.NetConn()
	if _, err := w.Write(maskedHeader(0x2, true, false, size)); err != nil {
		failed(c)
		return
	}
	zeros := make([]byte, chunk)
	for sent := 0; sent < size; sent += chunk {
		if _, err := w.Write(zeros); err != nil {
			failed(c)
			return
		}
	}
}

func cutCases() []cutCase {
	ping := mustMarshal(ping(1))
	return []cutCase{
		{
			name: "flood of separate frames",
			opts: func(o *Options) { o.ClientFramesPerSecond = 5 },
			code: pushsvc.CodePolicy,
			misbehave: func(c *client) {
				// gws closes the connection itself when a write fails.
				for c.Conn.WriteMessage(gws.OpcodeBinary, ping) == nil {
				}
			},
		},
		{
			name:      "4 MiB frame streamed in chunks",
			code:      pushsvc.CodeTooBig,
			misbehave: stream4MiB,
		},
		{
			name:      "4 MiB frame streamed in chunks, over TLS",
			tls:       true,
			code:      pushsvc.CodeTooBig,
			misbehave: stream4MiB,
		},
		{
			name:     "compressed frames that do not inflate",
			opts:     func(o *Options) { o.DisableCompression = false; o.ClientFramesPerSecond = -1 },
			compress: true,
			code:     pushsvc.CodeBadFrame,
			misbehave: func(c *client) {
				// 0xff starts a deflate block of the reserved type 3.
				garbage := bytes.Repeat([]byte{0xff}, 32<<10)
				frame := append(maskedHeader(0x2, true, true, len(garbage)), garbage...)
				for {
					if _, err := c.Conn.NetConn().Write(frame); err != nil {
						failed(c)
						return
					}
				}
			},
		},
	}
}

// cutClients is how many clients TestCutClientsReadWhy cuts at once per
// case; raise it to measure (go test -run TestCutClientsReadWhy -v
// -cut-clients 20).
var cutClients = flag.Int("cut-clients", 10, "clients TestCutClientsReadWhy cuts at once")

// TestCutClientsReadWhy cuts many clients at once while each is still
// writing: every one must read the Disconnect frame and the close code,
// rather than a reset.
func TestCutClientsReadWhy(t *testing.T) {
	n := *cutClients
	for _, tc := range cutCases() {
		t.Run(tc.name, func(t *testing.T) {
			tg := startGateOn(t, tc.opts, tc.tls)
			var wg sync.WaitGroup
			t.Cleanup(wg.Wait) // after the clients' cleanups close them
			clients := make([]*client, n)
			for i := range clients {
				clients[i] = tg.mustDial(t, fmt.Sprint("u", i), dialOpts{compress: tc.compress})
			}
			start := make(chan struct{})
			for _, c := range clients {
				wg.Go(func() {
					<-start
					tc.misbehave(c)
				})
			}
			close(start)
			ok := 0
			for i, c := range clients {
				code, d := c.WaitClose(t)
				if code == tc.code && d.GetCode() == uint32(tc.code) && d.GetReason() != "" {
					ok++
				} else {
					t.Logf("client %d: close %d, Disconnect %v", i, code, d)
				}
			}
			t.Logf("%d of %d cut clients read Disconnect and close %d", ok, n, tc.code)
			if ok != n {
				t.Errorf("%d of %d cut clients read Disconnect and close %d", ok, n, tc.code)
			}
			tg.waitReleased(t)
		})
	}
}

// TestDrainedClientsStillSendingReadWhy drains a gateway whose clients are
// all still sending, frames the server takes (pongs) in raw writes that
// go on until one fails: each reads its Disconnect and 1001.
func TestDrainedClientsStillSendingReadWhy(t *testing.T) {
	n := *cutClients
	tg := startGate(t, func(o *Options) { o.ClientFramesPerSecond = -1 })
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the clients' cleanups close them
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = tg.mustDial(t, fmt.Sprint("u", i), dialOpts{})
	}
	var pongs []byte
	for range 64 {
		pongs = appendMaskedFrame(pongs, 0xA, nil)
	}
	for _, c := range clients {
		wg.Go(func() {
			for {
				if _, err := c.Conn.NetConn().Write(pongs); err != nil {
					failed(c)
					return
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tg.g.Drain(ctx, 0)
	ok := 0
	for i, c := range clients {
		code, d := c.WaitClose(t)
		if code == pushsvc.CodeGoingAway && d.GetCode() == pushsvc.CodeGoingAway {
			ok++
		} else {
			t.Logf("client %d: close %d, Disconnect %v", i, code, d)
		}
	}
	t.Logf("%d of %d drained clients read Disconnect and close 1001", ok, n)
	if ok != n {
		t.Errorf("%d of %d drained clients read Disconnect and close 1001", ok, n)
	}
}
