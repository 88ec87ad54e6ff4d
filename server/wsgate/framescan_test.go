package wsgate

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

// referenceScan parses a whole stream at once, the plain way: how many
// frames begin in p and what else frameScanner must see.
func referenceScan(p []byte) (frames int, ev scanEvents) {
	for i := 0; i < len(p); {
		frames++
		if p[i]&0x0F == 0x8 {
			ev |= sawClose
		}
		if i+1 >= len(p) {
			return frames, ev
		}
		masked := p[i+1]&0x80 != 0
		n := uint64(p[i+1] & 0x7F)
		i += 2
		ext := map[uint64]int{126: 2, 127: 8}[n]
		if ext > 0 {
			if i+ext > len(p) {
				return frames, ev
			}
			n = 0
			for _, b := range p[i : i+ext] {
				n = n<<8 | uint64(b)
			}
			i += ext
			if n>>63 != 0 {
				return frames, ev | sawBadLength
			}
		}
		if masked {
			i += 4
		}
		if i > len(p) || n > uint64(len(p)-i) {
			return frames, ev
		}
		i += int(n)
	}
	return frames, ev
}

// scanInChunks scans p cut into chunks of the sizes sizes gives in turn
// (each 1 to 16 bytes), as reads of any size would hand it over.
func scanInChunks(p, sizes []byte) (frames int, ev scanEvents) {
	var s frameScanner
	for k := 0; len(p) > 0; k++ {
		n := 1
		if len(sizes) > 0 {
			n = int(sizes[k%len(sizes)]%16) + 1
		}
		n = min(n, len(p))
		f, e := s.scan(p[:n])
		frames += f
		ev |= e
		p = p[n:]
	}
	return frames, ev
}

// frameStream is a client stream with each kind of header: lengths of 7,
// 16 and 64 bits, masked and not, empty frames, fragments, a close.
func frameStream() []byte {
	var p []byte
	p = append(p, maskedHeader(0x9, true, false, 0)...)
	p = append(append(p, maskedHeader(0x2, false, false, 3)...), "abc"...)
	p = append(p, maskedHeader(0x0, false, false, 0)...)
	p = append(append(p, maskedHeader(0x0, true, false, 300)...), bytes.Repeat([]byte{'x'}, 300)...)
	// A 64-bit length, for a short payload (legal to parse, if not
	// canonical), so that the fuzzer's seeds stay small.
	p = binary.BigEndian.AppendUint64(append(p, 0xC2, 0x80|127), 10)
	p = append(append(p, 1, 2, 3, 4), make([]byte, 10)...)
	p = append(p, 0x82, 0x02, 'h', 'i') // unmasked
	p = append(append(p, maskedHeader(0x8, true, false, 2)...), 0x03, 0xe8)
	return p
}

func TestFrameScannerFollowsHeadersAcrossReads(t *testing.T) {
	p := frameStream()
	const want = 7
	if f, ev := referenceScan(p); f != want || ev != sawClose {
		t.Fatalf("reference: %d frames, events %b", f, ev)
	}
	// Every way of cutting the stream in two, and in reads of 1 to 16.
	for cut := range len(p) + 1 {
		var s frameScanner
		f1, e1 := s.scan(p[:cut])
		f2, e2 := s.scan(p[cut:])
		if f1+f2 != want || e1|e2 != sawClose {
			t.Fatalf("cut at %d: %d frames, events %b; want %d, close", cut, f1+f2, e1|e2, want)
		}
	}
	for size := range 16 {
		if f, ev := scanInChunks(p, []byte{byte(size)}); f != want || ev != sawClose {
			t.Fatalf("reads of %d: %d frames, events %b", size+1, f, ev)
		}
	}
}

func TestFrameScannerRefusesLengthWithTopBit(t *testing.T) {
	p := append(maskedHeader(0x9, true, false, 0), 0x82, 0x80|127)
	p = binary.BigEndian.AppendUint64(p, 1<<63)
	p = append(p, 0, 0, 0, 0)
	var s frameScanner
	f, ev := s.scan(p)
	if f != 2 || ev&sawBadLength == 0 {
		t.Fatalf("%d frames, events %b; want 2 and a bad length", f, ev)
	}
	// Nothing after it is followed.
	if f, ev := s.scan(maskedHeader(0x9, true, false, 0)); f != 0 || ev&sawBadLength == 0 {
		t.Errorf("after a bad length: %d frames, events %b", f, ev)
	}
	// The largest legal length passes.
	ok := binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, 1<<63-1)
	if f, ev := new(frameScanner).scan(ok); f != 1 || ev != 0 {
		t.Errorf("2^63-1: %d frames, events %b", f, ev)
	}
}

func TestFrameScannerAllocatesNothing(t *testing.T) {
	p := frameStream()
	var s frameScanner
	if n := testing.AllocsPerRun(100, func() { s.scan(p) }); n != 0 {
		t.Errorf("scan allocates %v times per stream", n)
	}
}

// FuzzFrameScanner: read in chunks of any sizes, any stream gives the
// frames and events a plain parse of the whole gives.
func FuzzFrameScanner(f *testing.F) {
	f.Add(frameStream(), []byte{0})
	f.Add(frameStream(), []byte{3, 7, 1, 15})
	f.Add(binary.BigEndian.AppendUint64([]byte{0x82, 0xff}, 1<<63), []byte{1})
	f.Fuzz(func(t *testing.T, stream, sizes []byte) {
		wantF, wantEv := referenceScan(stream)
		if f, ev := scanInChunks(stream, sizes); f != wantF || ev != wantEv {
			t.Errorf("in chunks %v: %d frames, events %b; whole: %d, %b", sizes, f, ev, wantF, wantEv)
		}
	})
}

// streamConn is a net.Conn whose every Read returns the same bytes.
type streamConn struct {
	net.Conn
	p []byte
}

func (s *streamConn) Read(b []byte) (int, error) { return copy(b, s.p), nil }

// TestWireReadAllocatesNothing: following and counting the frames costs
// a read no allocation.
func TestWireReadAllocatesNothing(t *testing.T) {
	g, err := New(Options{Service: newTestService(t), Verifier: &fakeVerifier{}, ClientFramesPerSecond: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	var pings []byte
	for range 10 {
		pings = append(pings, maskedHeader(0x9, true, false, 0)...)
	}
	w := &wireConn{Conn: &streamConn{p: pings}, g: g}
	w.owner = &conn{g: g, wire: w}
	buf := make([]byte, readBufferSize)
	if n := testing.AllocsPerRun(100, func() { _, _ = w.Read(buf) }); n != 0 {
		t.Errorf("Read allocates %v times", n)
	}
	if w.owner.frames == nil {
		t.Error("no frame counted")
	}
}
