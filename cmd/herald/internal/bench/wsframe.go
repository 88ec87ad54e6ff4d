package bench

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The fleet's clients speak WebSocket themselves (RFC 6455), on raw
// sockets a poller reads (poller.go): the handshake below, and the few
// frames a receiving client meets. Only what the server sends needs
// parsing; what a client sends is a pong and a close.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxFramePayload bounds a frame the bench accepts: the server's largest
// is a push of 1 MiB (the --payload bound); 16 MiB is gws's default.
const maxFramePayload = 16 << 20

// wsGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxResponseHead bounds the handshake response's status line and headers.
const maxResponseHead = 8 << 10

// errHTTPStatus is a handshake the server answered with something else
// than 101; its text is "HTTP <status>", a failure reason as it stands.
type errHTTPStatus string

func (e errHTTPStatus) Error() string { return "HTTP " + string(e) }

// handshake upgrades conn to a WebSocket for u's path, with token as a
// bearer header, offering permessage-deflate without context takeover
// when compress is set. It returns the bytes that came after the
// response (the start of the first frames) and whether deflate was
// agreed. The caller sets conn's deadline.
func handshake(conn net.Conn, u *url.URL, token string, compress bool) (leftover []byte, deflate bool, err error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n", u.RequestURI(), u.Host, key, token)
	if compress {
		// No context takeover: each message inflates on its own, which is
		// what the server does (its frames are compressed once for every
		// receiver).
		req.WriteString("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n")
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, false, err
	}

	buf := make([]byte, 0, maxResponseHead)
	var head []byte
	for head == nil {
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			head, leftover = buf[:i+4], buf[i+4:]
			break
		}
		if len(buf) == cap(buf) {
			return nil, false, errors.New("handshake: response headers over 8 KiB")
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return nil, false, err
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return nil, false, fmt.Errorf("handshake: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, false, errHTTPStatus(resp.Status)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, false, errors.New("handshake: wrong Sec-WebSocket-Accept")
	}
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if deflate = strings.Contains(ext, "permessage-deflate"); deflate && !strings.Contains(ext, "server_no_context_takeover") {
		return nil, false, fmt.Errorf("handshake: the server keeps its deflate context (%q): the bench inflates each message alone", ext)
	}
	return leftover, deflate, nil
}

// frame is one WebSocket frame from the server.
type frame struct {
	fin, rsv1 bool // last fragment; compressed (on a message's first frame)
	op        byte
	payload   []byte // within the buffer it was parsed from
}

// nextFrame parses the frame at the start of b. It returns the frame and
// the bytes it took, or 0 bytes while b holds only part of it; an error
// for a frame no server may send.
func nextFrame(b []byte) (frame, int, error) {
	if len(b) < 2 {
		return frame{}, 0, nil
	}
	f := frame{fin: b[0]&0x80 != 0, rsv1: b[0]&0x40 != 0, op: b[0] & 0x0f}
	if b[0]&0x30 != 0 {
		return frame{}, 0, errors.New("a frame with RSV2 or RSV3 set")
	}
	if b[1]&0x80 != 0 {
		return frame{}, 0, errors.New("a masked frame from the server")
	}
	size, h := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return frame{}, 0, nil
		}
		size, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return frame{}, 0, nil
		}
		size, h = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if size > maxFramePayload {
		return frame{}, 0, fmt.Errorf("a frame of %d bytes", size)
	}
	if uint64(len(b)-h) < size {
		return frame{}, 0, nil
	}
	end := h + int(size)
	f.payload = b[h:end]
	return f, end, nil
}

// appendClientFrame appends a masked frame (every client frame is
// masked) with a payload of at most 125 bytes: a control frame.
func appendClientFrame(dst []byte, op byte, payload []byte, mask [4]byte) []byte {
	dst = append(dst, 0x80|op, 0x80|byte(len(payload)))
	dst = append(dst, mask[:]...)
	for i, c := range payload {
		dst = append(dst, c^mask[i%4])
	}
	return dst
}
