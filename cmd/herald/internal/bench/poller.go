package bench

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"
)

// A poller reads a share of the fleet's clients: its goroutine asks an
// epoll set which sockets have data, reads each once and parses the
// frames. A client costs no goroutine and holds no buffer between frames,
// and a delivery costs one read(2), where gws's ReadLoop, which the bench
// used before, parks a goroutine per connection and reads twice per frame
// (the second read finds nothing). Measured on this project's machine kind
// (noisy: the machine was shared): the bench holding 10,000 idle clients
// went from 156 MB of RSS to 35 MB; a delivery when every client has one
// waiting, which is when the bench is saturated, costs 7.6-7.8 µs against
// 8.5 µs with gws (BenchmarkPollerReceive, and the same loop over gws
// clients); at 50,000 deliveries a second, when a wake-up finds one socket
// ready, 6-10 µs of bench CPU against 8-12 µs. Most of it is read(2)
// itself (5 µs of the 7.6 here): beyond that, only more CPUs help, with
// --workers (and the workers' CPUs given by taskset).
//
// The epoll set's own descriptor sits in Go's network poller (os.NewFile
// of a non-blocking descriptor), so the poller goroutine parks there when
// no socket has data, like any goroutine waiting on a socket, instead of
// holding a thread in epoll_wait.

// pollEvents is how many ready sockets one epoll_wait returns.
const pollEvents = 256

// pollReadBytes is a poller's read buffer: a full PushBatch (64 KiB) and
// its frame header fit in one read.
const pollReadBytes = 64<<10 + 16

type poller struct {
	// immutable after newPoller
	f    *fleet
	epfd int
	file *os.File // epfd in Go's network poller; closing it stops run

	// owned by the run goroutine
	events []syscall.EpollEvent
	buf    []byte
	fr     frameReader
}

func newPoller(f *fleet) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &poller{
		f: f, epfd: epfd, file: os.NewFile(uintptr(epfd), "bench-epoll"),
		events: make([]syscall.EpollEvent, pollEvents),
		buf:    make([]byte, pollReadBytes),
	}, nil
}

// add registers c, the fleet's client in slot, for reading.
func (p *poller) add(c *client, slot int) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(slot)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// run reads the clients until stop closes the poller.
func (p *poller) run() {
	rc, err := p.file.SyscallConn()
	if err != nil {
		return
	}
	for {
		var n int
		err := rc.Read(func(uintptr) bool {
			// Nothing ready: park in the network poller until the set
			// has something.
			n = p.poll()
			return n != 0
		})
		if err != nil {
			return // closed by stop
		}
	}
}

// poll reads every client the epoll set has ready, without waiting, and
// returns how many there were (-1 on an error: EINTR).
func (p *poller) poll() int {
	n, err := syscall.EpollWait(p.epfd, p.events, 0)
	if err != nil {
		return -1
	}
	for _, ev := range p.events[:n] {
		if c := p.f.client(int(ev.Fd)); c != nil && !c.ended {
			p.read(c)
		}
	}
	return n
}

// stop ends run (its goroutine may still be finishing: the fleet waits
// for it) and releases the epoll set.
func (p *poller) stop() { _ = p.file.Close() }

// read reads what c's socket has and handles its frames.
func (p *poller) read(c *client) {
	n, err := syscall.Read(c.fd, p.buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err != nil:
		c.end("abnormal: read: " + err.Error())
	case n == 0:
		c.end("abnormal: EOF")
	default:
		p.fr.consume(c, p.buf[:n], time.Now().UnixNano())
	}
}

// frameReader turns the bytes a client receives into messages for the
// fleet's recorder. One belongs to each poller, and dial has its own for
// what came with the handshake response.
type frameReader struct {
	src  bytes.Reader
	in   []byte        // a compressed message and its deflate tail
	fl   io.ReadCloser // inflater, reset for each message
	out  bytes.Buffer  // an inflated message
	kept bool          // fl exists
}

// consume handles data, the next bytes c received at now (UnixNano).
func (r *frameReader) consume(c *client, data []byte, now int64) {
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	rest := r.frames(c, data, now)
	switch {
	case c.ended:
	case len(rest) == 0:
		// Keep a small buffer for the next partial frame, not a large one.
		if cap(c.pending) > pollReadBytes {
			c.pending = nil
		}
		c.pending = c.pending[:0]
	default:
		// rest may lie within pending: append moves it to the front.
		c.pending = append(c.pending[:0], rest...)
	}
}

// frames handles every complete frame at the start of b and returns the
// bytes of the incomplete one after them.
func (r *frameReader) frames(c *client, b []byte, now int64) []byte {
	for {
		fr, n, err := nextFrame(b)
		if err != nil {
			c.end("abnormal: " + err.Error())
			return nil
		}
		if n == 0 {
			return b
		}
		b = b[n:]
		switch fr.op {
		case opPing:
			c.send(opPong, fr.payload)
		case opPong:
		case opClose:
			code := "1005" // no status
			if len(fr.payload) >= 2 {
				code = strconv.Itoa(int(fr.payload[0])<<8 | int(fr.payload[1]))
			}
			c.end("code " + code)
			return nil
		case opBinary, opText:
			if fr.fin {
				r.message(c, fr.payload, fr.rsv1, now)
				continue
			}
			c.compressed = fr.rsv1
			c.msg = append(c.msg[:0], fr.payload...)
		case opContinuation:
			c.msg = append(c.msg, fr.payload...)
			if len(c.msg) > maxFramePayload {
				c.end("abnormal: a message over 16 MiB")
				return nil
			}
			if fr.fin {
				r.message(c, c.msg, c.compressed, now)
				c.msg = nil
			}
		default:
			c.end("abnormal: opcode " + strconv.Itoa(int(fr.op)))
			return nil
		}
	}
}

// message records one ServerFrame.
func (r *frameReader) message(c *client, b []byte, compressed bool, now int64) {
	if compressed {
		var err error
		if b, err = r.inflate(b, c.deflate); err != nil {
			c.f.badFrames.Add(1)
			return
		}
	}
	switch c.f.rec.frame(b, c.idx, now) {
	case frameWelcome:
		if !c.welcomed {
			c.welcomed = true
			close(c.welcome)
		}
	case frameBad:
		c.f.badFrames.Add(1)
	}
}

// deflateTail ends a permessage-deflate message (RFC 7692 strips the
// first four bytes) and adds an empty final block, so that the inflater
// ends with io.EOF rather than io.ErrUnexpectedEOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflate decompresses a message; the result is valid until the next.
func (r *frameReader) inflate(b []byte, negotiated bool) ([]byte, error) {
	if !negotiated {
		return nil, errors.New("a compressed message without permessage-deflate")
	}
	r.in = append(append(r.in[:0], b...), deflateTail...)
	r.src.Reset(r.in)
	if !r.kept {
		r.fl, r.kept = flate.NewReader(&r.src), true
	} else if err := r.fl.(flate.Resetter).Reset(&r.src, nil); err != nil {
		return nil, err
	}
	r.out.Reset()
	if _, err := io.CopyN(&r.out, r.fl, maxFramePayload+1); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if r.out.Len() > maxFramePayload {
		return nil, errors.New("a message that inflates past 16 MiB")
	}
	return r.out.Bytes(), nil
}
