package engine

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// EventID is an event's id in its partition of the log. Ids grow: Seq by
// one per event of the partition (so a gap in Seq is a trimmed event), Ms
// with the append time, never backwards.
type EventID struct {
	Ms  uint64
	Seq uint64
}

// Compare orders ids: -1 when id is before o, 0 when equal, 1 after.
func (id EventID) Compare(o EventID) int {
	switch {
	case id.Ms != o.Ms:
		if id.Ms < o.Ms {
			return -1
		}
		return 1
	case id.Seq != o.Seq:
		if id.Seq < o.Seq {
			return -1
		}
		return 1
	}
	return 0
}

// Cursor is a position in an event log: in each partition, the id of the
// last event read (zero before the first), and a fingerprint of the log's
// life, which changes when the log starts over (a new epoch), so that a
// cursor from before is recognised.
type Cursor struct {
	Log   uint64
	Parts []EventID
}

// IsZero reports whether c is the zero Cursor (no position).
func (c Cursor) IsZero() bool { return c.Log == 0 && c.Parts == nil }

// Clone returns a copy of c that shares nothing with it.
func (c Cursor) Clone() Cursor { return Cursor{Log: c.Log, Parts: slices.Clone(c.Parts)} }

// Covers reports whether ev is at or before c in its partition: a reader
// at c has seen it.
func (c Cursor) Covers(ev *Event) bool {
	return ev.Part >= 0 && ev.Part < len(c.Parts) && ev.ID.Compare(c.Parts[ev.Part]) <= 0
}

// Advance moves c past ev in ev's partition. The caller owns c.Parts.
func (c Cursor) Advance(ev *Event) {
	if ev.Part >= 0 && ev.Part < len(c.Parts) && ev.ID.Compare(c.Parts[ev.Part]) > 0 {
		c.Parts[ev.Part] = ev.ID
	}
}

// ErrBadCursor means a string is not a cursor: it was cut, altered, or
// made by something else than Cursor.String.
var ErrBadCursor = errors.New("engine: not an event cursor")

// cursorVersion starts every encoded cursor, so that the format can change.
const cursorVersion = 1

// maxCursorParts bounds the partitions a cursor may name when decoded.
const maxCursorParts = 64

// String encodes c compactly for callers, who treat it as opaque: a
// version byte, the log fingerprint (8 bytes), the number of partitions,
// the largest Ms, then per partition the distance of its Ms below that
// (plus one; 0 for a partition with no event yet) and its Seq, all as
// varints, in unpadded base64url. Sixteen partitions with recent events
// take about 110 characters.
func (c Cursor) String() string {
	var top uint64
	for _, p := range c.Parts {
		top = max(top, p.Ms)
	}
	b := make([]byte, 0, 16+6*len(c.Parts))
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, c.Log)
	b = binary.AppendUvarint(b, uint64(len(c.Parts)))
	b = binary.AppendUvarint(b, top)
	for _, p := range c.Parts {
		d := uint64(0)
		if p.Ms > 0 {
			d = top - p.Ms + 1
		}
		b = binary.AppendUvarint(b, d)
		b = binary.AppendUvarint(b, p.Seq)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a Cursor.String. Anything else, cut or extended,
// is ErrBadCursor.
func ParseCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || b[0] != cursorVersion {
		return Cursor{}, ErrBadCursor
	}
	c := Cursor{Log: binary.BigEndian.Uint64(b[1:9])}
	b = b[9:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	n, ok := next()
	if !ok || n == 0 || n > maxCursorParts {
		return Cursor{}, ErrBadCursor
	}
	top, ok := next()
	if !ok {
		return Cursor{}, ErrBadCursor
	}
	c.Parts = make([]EventID, n)
	for i := range c.Parts {
		d, ok1 := next()
		seq, ok2 := next()
		if !ok1 || !ok2 || d > top {
			return Cursor{}, ErrBadCursor
		}
		if d > 0 {
			c.Parts[i].Ms = top - d + 1
		}
		c.Parts[i].Seq = seq
	}
	if len(b) != 0 {
		return Cursor{}, fmt.Errorf("%w: trailing bytes", ErrBadCursor)
	}
	return c, nil
}
