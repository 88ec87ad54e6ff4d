package bench

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// The receive path walks ServerFrames with protowire instead of
// proto.Unmarshal: unmarshalling allocates a message per push, and at
// 200k deliveries a second the load generator must stay cheaper than the
// server it measures. Field numbers come from the generated descriptors, so
// a renumbering in the .proto (numbers are not part of the contract) follows
// by itself.
var (
	fieldWelcome    = fieldNumber(&clientv1.ServerFrame{}, "welcome")
	fieldPush       = fieldNumber(&clientv1.ServerFrame{}, "push")
	fieldBatch      = fieldNumber(&clientv1.ServerFrame{}, "batch")
	fieldDisconnect = fieldNumber(&clientv1.ServerFrame{}, "disconnect")
	fieldPayload    = fieldNumber(&clientv1.Push{}, "payload")
	fieldPushes     = fieldNumber(&clientv1.PushBatch{}, "pushes")
)

func fieldNumber(m protoreflect.ProtoMessage, name protoreflect.Name) protowire.Number {
	f := m.ProtoReflect().Descriptor().Fields().ByName(name)
	if f == nil {
		panic("bench: herald.client.v1 has no field " + string(name))
	}
	return f.Number()
}

// frameKind is what a ServerFrame carried.
type frameKind uint8

const (
	frameOther frameKind = iota
	frameWelcome
	framePush
	frameDisconnect
	frameBad
)

// scanFrame walks one ServerFrame and calls push with the payload of every
// push it carries, single or batched, in order.
func scanFrame(b []byte, push func(payload []byte)) frameKind {
	kind := frameOther
	for len(b) > 0 {
		num, v, rest, ok := nextBytesField(b)
		if !ok {
			return frameBad
		}
		b = rest
		switch num {
		case fieldWelcome:
			kind = frameWelcome
		case fieldDisconnect:
			kind = frameDisconnect
		case fieldPush:
			kind = framePush
			if !scanPush(v, push) {
				return frameBad
			}
		case fieldBatch:
			kind = framePush
			for len(v) > 0 {
				n, p, r, ok := nextBytesField(v)
				if !ok {
					return frameBad
				}
				v = r
				if n == fieldPushes && !scanPush(p, push) {
					return frameBad
				}
			}
		}
	}
	return kind
}

// scanPush calls push with the payload of one Push message.
func scanPush(b []byte, push func(payload []byte)) bool {
	for len(b) > 0 {
		num, v, rest, ok := nextBytesField(b)
		if !ok {
			return false
		}
		b = rest
		if num == fieldPayload {
			push(v)
		}
	}
	return true
}

// nextBytesField consumes one field of b. For a length-delimited field it
// returns its bytes; for any other wire type, nil bytes and field number 0
// so that callers skip it.
func nextBytesField(b []byte) (protowire.Number, []byte, []byte, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, nil, nil, false
	}
	b = b[n:]
	if typ != protowire.BytesType {
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, nil, nil, false
		}
		return 0, nil, b[n:], true
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, nil, nil, false
	}
	return num, v, b[n:], true
}
