package bench

import (
	"encoding/binary"
	"time"
)

// A push payload starts with a fixed header the receivers read:
//
//	[0:8]   send time, UnixNano, big endian
//	[8:12]  run tag: pushes of another run (or another tool) are not counted
//	[12:14] rate step index
//
// and is padded to the requested size with text.
const (
	headerLen  = 14
	minPayload = headerLen
)

// padText fills payloads past the header. Text, because that is what apps
// push (JSON) and what permessage-deflate is for: zeros would compress to
// almost nothing and flatter compression, random bytes would not compress
// at all.
const padText = `{"title":"Herald bench","body":"The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.","url":"https://example.invalid/notifications/1234567890","badge":7}`

// newPayload returns a payload of size bytes (at least minPayload) for
// step of the run tagged tag; stamp writes its send time.
func newPayload(size int, tag uint32, step int) []byte {
	p := make([]byte, max(size, minPayload))
	binary.BigEndian.PutUint32(p[8:12], tag)
	binary.BigEndian.PutUint16(p[12:14], uint16(step))
	for i := headerLen; i < len(p); i += len(padText) {
		copy(p[i:], padText)
	}
	return p
}

// stamp writes now as the payload's send time.
func stamp(p []byte, now time.Time) {
	binary.BigEndian.PutUint64(p[0:8], uint64(now.UnixNano()))
}

// parsePayload reads a payload's header; ok is false when it is too short
// to have one.
func parsePayload(p []byte) (sentNs int64, tag uint32, step int, ok bool) {
	if len(p) < headerLen {
		return 0, 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(p[0:8])), binary.BigEndian.Uint32(p[8:12]), int(binary.BigEndian.Uint16(p[12:14])), true
}
