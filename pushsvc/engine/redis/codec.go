package redis

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Wire formats. Every message starts with a kind byte.
//
// A publication, as published on the fan-out channel and stored in history
// (the same bytes):
//
//	'P' | offset u64 BE | expires µs u64 BE | epoch len u8 | epoch | body
//
// The publish script writes the offset and epoch, which only it knows; the
// expiry sits at a fixed place so that the since script can read it. The
// body is protobuf wire format, written by the publishing node:
//
//	1 origin node (string)   2 publish id (varint)   3 stream (string)
//	4 time, unix ns (varint) 5 message id (string)   6 topic (string)
//	7 payload (bytes)        8 TTL ns (varint)       9 excluded user (repeated string)
//	10 origin only (varint 1: the origin takes no count from the other
//	   nodes, which send none; Options.LocalDelivered)
//
// A Control: 'C' | 1 origin (string), 2 request id (varint, 0 = no reply
// wanted), 3 kind (varint), 4 group, 5 user (repeated), 6 reason,
// 7 reconnect (varint).
//
// Counts sent back to an origin: 'R' | 1 node (string), 2 packed varints,
// pairs of (request id, count).
//
// Message.Local is never encoded: it stays on the publishing node.
const (
	kindPub     = 'P'
	kindControl = 'C'
	kindReply   = 'R'

	// pubHeader is the fixed part of a publication before the epoch; the
	// expiry starts at byte 9 (position 10 in the since script's Lua).
	pubHeader = 1 + 8 + 8 + 1
)

var errMalformed = errors.New("redis: malformed message")

// inPub is a decoded publication with what the engine needs besides it.
type inPub struct {
	pub        *engine.Publication
	origin     string
	id         uint64
	originOnly bool // no count goes back from the other nodes
}

// appendPubBody appends the body of a publication; with originOnly, the
// other nodes send no count back.
func appendPubBody(b []byte, origin string, id uint64, originOnly bool, stream string, t time.Time, m *engine.Message) []byte {
	b = appendString(b, 1, origin)
	b = appendVarint(b, 2, id)
	b = appendString(b, 3, stream)
	b = appendVarint(b, 4, uint64(t.UnixNano()))
	b = appendString(b, 5, m.ID)
	b = appendString(b, 6, m.Topic)
	if len(m.Payload) > 0 {
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Payload)
	}
	if m.TTL > 0 {
		b = appendVarint(b, 8, uint64(m.TTL))
	}
	for _, u := range m.Exclude {
		b = protowire.AppendTag(b, 9, protowire.BytesType)
		b = protowire.AppendString(b, u)
	}
	if originOnly {
		b = appendVarint(b, 10, 1)
	}
	return b
}

// expiry encodes when a publication made at t leaves history: its own TTL
// may only shorten the history TTL.
func expiry(t time.Time, ttl, historyTTL time.Duration) []byte {
	life := historyTTL
	if ttl > 0 && ttl < life {
		life = ttl
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(t.Add(life).UnixMicro()))
}

// encodePub builds a whole publication the way the publish script does; the
// engine uses it only in tests and fuzzing.
func encodePub(offset uint64, epoch string, expires []byte, body []byte) []byte {
	b := make([]byte, 0, pubHeader+len(epoch)+len(body))
	b = append(b, kindPub)
	b = binary.BigEndian.AppendUint64(b, offset)
	b = append(b, expires...)
	b = append(b, byte(len(epoch)))
	b = append(b, epoch...)
	return append(b, body...)
}

// decodePub decodes a publication. Its strings share s's memory, which
// saves an allocation per field on every node for every push; the payload
// is copied, since Deliver's callers own []byte values.
func decodePub(s string) (*inPub, error) {
	if len(s) < pubHeader || s[0] != kindPub {
		return nil, errMalformed
	}
	b := bytesOf(s)
	el := int(b[pubHeader-1])
	if len(b) < pubHeader+el {
		return nil, errMalformed
	}
	p := &engine.Publication{
		Offset: binary.BigEndian.Uint64(b[1:9]),
		Epoch:  s[pubHeader : pubHeader+el],
	}
	in := &inPub{pub: p}
	err := walk(s, pubHeader+el, func(num protowire.Number, str string, v uint64, isBytes bool) bool {
		switch {
		case num == 1 && isBytes:
			in.origin = str
		case num == 2 && !isBytes:
			in.id = v
		case num == 3 && isBytes:
			p.Stream = str
		case num == 4 && !isBytes:
			p.Time = time.Unix(0, int64(v))
		case num == 5 && isBytes:
			p.ID = str
		case num == 6 && isBytes:
			p.Topic = str
		case num == 7 && isBytes:
			p.Payload = []byte(str)
		case num == 8 && !isBytes:
			p.TTL = time.Duration(v)
		case num == 9 && isBytes:
			p.Exclude = append(p.Exclude, str)
		case num == 10 && !isBytes:
			in.originOnly = v != 0
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// inControl is a decoded Control.
type inControl struct {
	c      engine.Control
	origin string
	id     uint64
}

func encodeControl(origin string, id uint64, c *engine.Control) []byte {
	b := []byte{kindControl}
	b = appendString(b, 1, origin)
	b = appendVarint(b, 2, id)
	b = appendVarint(b, 3, uint64(c.Kind))
	b = appendString(b, 4, c.Group)
	for _, u := range c.Users {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendString(b, u)
	}
	b = appendString(b, 6, c.Reason)
	if c.Reconnect {
		b = appendVarint(b, 7, 1)
	}
	return b
}

func decodeControl(s string) (*inControl, error) {
	if len(s) < 1 || s[0] != kindControl {
		return nil, errMalformed
	}
	in := &inControl{}
	err := walk(s, 1, func(num protowire.Number, str string, v uint64, isBytes bool) bool {
		switch {
		case num == 1 && isBytes:
			in.origin = str
		case num == 2 && !isBytes:
			in.id = v
		case num == 3 && !isBytes:
			in.c.Kind = engine.ControlKind(v)
		case num == 4 && isBytes:
			in.c.Group = str
		case num == 5 && isBytes:
			in.c.Users = append(in.c.Users, str)
		case num == 6 && isBytes:
			in.c.Reason = str
		case num == 7 && !isBytes:
			in.c.Reconnect = v != 0
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// reply is one node's count for one request (a publication or a Control).
type reply struct {
	id    uint64
	count int
}

func encodeReplies(node string, rs []reply) []byte {
	b := []byte{kindReply}
	b = appendString(b, 1, node)
	var packed []byte
	for _, r := range rs {
		packed = protowire.AppendVarint(packed, r.id)
		packed = protowire.AppendVarint(packed, uint64(r.count))
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, packed)
}

func decodeReplies(s string) (node string, rs []reply, err error) {
	if len(s) < 1 || s[0] != kindReply {
		return "", nil, errMalformed
	}
	err = walk(s, 1, func(num protowire.Number, str string, _ uint64, isBytes bool) bool {
		switch {
		case num == 1 && isBytes:
			node = str
		case num == 2 && isBytes:
			b := bytesOf(str)
			for len(b) > 0 {
				id, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return false
				}
				count, m := protowire.ConsumeVarint(b[n:])
				if m < 0 {
					return false
				}
				rs = append(rs, reply{id: id, count: int(min(count, 1<<31-1))})
				b = b[n+m:]
			}
		}
		return true
	})
	return node, rs, err
}

// walk calls f for each field of the protobuf wire data in s from off: a
// length-delimited field as str (sharing s's memory), a varint as v. Other
// wire types are skipped. f returns false on a malformed value.
func walk(s string, off int, f func(num protowire.Number, str string, v uint64, isBytes bool) bool) error {
	b := bytesOf(s)
	for off < len(b) {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return errMalformed
		}
		off += n
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return errMalformed
			}
			if !f(num, s[off+n-len(v):off+n], 0, true) {
				return errMalformed
			}
			off += n
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return errMalformed
			}
			if !f(num, "", v, false) {
				return errMalformed
			}
			off += n
		default:
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return errMalformed
			}
			off += n
		}
	}
	return nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// bytesOf views s as bytes without copying. The decoders only read it.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
