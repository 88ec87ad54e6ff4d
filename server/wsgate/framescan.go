package wsgate

// frameScanner follows the frame headers of a client's byte stream as the
// bytes are read, whatever the reads' boundaries, without buffering or
// allocating: it sees every frame the client sends, data, continuation and
// control alike, before gws parses them. gws reports only whole messages
// (one OnMessage for a message of many fragments), so a limit on its events
// misses fragments: 100,001 zero-length fragments at a limit of 5 frames a
// second kept a connection open.
//
// It owns no bytes and judges nothing but what gws cannot survive (see
// badLength); gws still parses and checks every frame.
type frameScanner struct {
	state  scanState
	need   uint8  // bytes still to come of the length field or the mask key
	masked bool   // the current frame has a mask key
	left   uint64 // the payload length being read, then the payload bytes still to skip
}

type scanState uint8

const (
	scanFirst   scanState = iota // next: FIN, RSV and opcode
	scanSecond                   // next: MASK and the 7-bit length
	scanLength                   // in the 16- or 64-bit extended length
	scanMask                     // in the mask key
	scanPayload                  // in the payload
	scanBroken                   // after a bad length: nothing more is followed
)

// scanEvents are what scan saw besides frames.
type scanEvents uint8

const (
	// sawClose: a close frame began; after it the client sends nothing.
	sawClose scanEvents = 1 << iota
	// sawBadLength: a 64-bit length with its most significant bit set,
	// which RFC 6455 (5.2) forbids. gws v1.8.9 turns it into a negative
	// int and panics slicing with it, on the read goroutine, which kills
	// the process (reader.go, readMessage): such a header must never
	// reach gws.
	sawBadLength
)

// scan follows p, the next bytes of the stream, and returns how many frames
// began in it (a frame counts at its first byte) and what else it saw.
// After sawBadLength it stops following: the connection is to be closed.
func (s *frameScanner) scan(p []byte) (frames int, ev scanEvents) {
	for i := 0; i < len(p); {
		switch s.state {
		case scanPayload:
			n := min(s.left, uint64(len(p)-i))
			i += int(n)
			s.left -= n
			if s.left == 0 {
				s.state = scanFirst
			}
			continue
		case scanBroken:
			return frames, ev | sawBadLength
		}
		b := p[i]
		i++
		switch s.state {
		case scanFirst:
			frames++
			if b&0x0F == 0x8 {
				ev |= sawClose
			}
			s.state = scanSecond
		case scanSecond:
			s.masked = b&0x80 != 0
			switch n := b & 0x7F; n {
			case 126:
				s.left, s.need, s.state = 0, 2, scanLength
			case 127:
				s.left, s.need, s.state = 0, 8, scanLength
			default:
				s.left = uint64(n)
				s.endLength()
			}
		case scanLength:
			s.left = s.left<<8 | uint64(b)
			if s.need--; s.need == 0 {
				if s.left>>63 != 0 {
					s.state = scanBroken
					return frames, ev | sawBadLength
				}
				s.endLength()
			}
		case scanMask:
			if s.need--; s.need == 0 {
				s.endHeader()
			}
		}
	}
	return frames, ev
}

// endLength moves past the length field: to the mask key or the payload.
func (s *frameScanner) endLength() {
	if s.masked {
		s.need, s.state = 4, scanMask
		return
	}
	s.endHeader()
}

// endHeader moves past the header: to the payload, or to the next frame
// when there is none.
func (s *frameScanner) endHeader() {
	if s.left == 0 {
		s.state = scanFirst
		return
	}
	s.state = scanPayload
}
