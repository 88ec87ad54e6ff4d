package pushsvc

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
)

// Field numbers of ServerFrame and PushBatch that batching writes by hand,
// so that a batch is the queued push bytes concatenated, not re-encoded.
const (
	serverFramePushField  = 2
	serverFrameBatchField = 3
	pushBatchPushesField  = 1
)

// Outbound is one encoded ServerFrame, shared by every session it is queued
// to. It is immutable after creation except for the transport's prepared
// form, which is made once.
type Outbound struct {
	data []byte              // the encoded ServerFrame
	push []byte              // the Push message inside data; nil for other frames
	pub  *engine.Publication // the push's publication; nil for other frames

	shared   bool // queued to more than one session
	prepOnce sync.Once
	prepared any
}

// Data returns the encoded ServerFrame. It must not be modified.
func (o *Outbound) Data() []byte { return o.data }

// Prepared returns the transport's prepared form of the frame (for example
// a compressed WebSocket frame), built by prepare on first use and shared by
// every later caller.
func (o *Outbound) Prepared(prepare func(data []byte) any) any {
	o.prepOnce.Do(func() { o.prepared = prepare(o.data) })
	return o.prepared
}

// newFrame wraps an encoded control frame.
func newFrame(data []byte) *Outbound { return &Outbound{data: data} }

// encodePush encodes p as a ServerFrame{push}. It is called once per
// publication, however many sessions receive it.
func encodePush(p *engine.Publication) *Outbound {
	return encodePushMessage(p, &clientv1.Push{
		Id:      p.ID,
		Topic:   p.Topic,
		Payload: p.Payload,
		Stream:  p.Stream,
		Offset:  p.Offset,
		Epoch:   p.Epoch,
		SentAt:  timestamppb.New(p.Time),
	})
}

// encodeMarker encodes the exclusion marker of p, a group publication
// that excluded some users: a Push with its id and position only, and
// excluded set, which tells those users' sessions that the offset was
// skipped for them instead of leaving a hole their client would ask the
// server to fill. It is queued and batched like a push (47 bytes for
// group:chat with a generated id), never counted as delivered; called once per
// publication, however many excluded sessions there are.
func encodeMarker(p *engine.Publication) *Outbound {
	return encodePushMessage(p, &clientv1.Push{
		Id:       p.ID,
		Stream:   p.Stream,
		Offset:   p.Offset,
		Epoch:    p.Epoch,
		Excluded: true,
	})
}

// encodePushMessage encodes push, made from p, as a ServerFrame{push}.
func encodePushMessage(p *engine.Publication, push *clientv1.Push) *Outbound {
	size := proto.Size(push)
	buf := make([]byte, 0, 1+protowire.SizeVarint(uint64(size))+size)
	buf = protowire.AppendTag(buf, serverFramePushField, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(size))
	start := len(buf)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, push)
	if err != nil {
		// Marshal of a Push built from valid Go values cannot fail.
		panic(fmt.Sprintf("pushsvc: encode push: %v", err))
	}
	return &Outbound{data: buf, push: buf[start:], pub: p}
}

// appendBatch appends a ServerFrame{batch} holding the pushes of items to
// buf. pushBytes is the sum of their push lengths plus field overhead.
func appendBatch(buf []byte, items []*Outbound) []byte {
	inner := 0
	for _, o := range items {
		inner += protowire.SizeBytes(len(o.push)) + 1
	}
	buf = protowire.AppendTag(buf, serverFrameBatchField, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(inner))
	for _, o := range items {
		buf = protowire.AppendTag(buf, pushBatchPushesField, protowire.BytesType)
		buf = protowire.AppendBytes(buf, o.push)
	}
	return buf
}

// marshalFrame encodes a control frame.
func marshalFrame(f *clientv1.ServerFrame) *Outbound {
	b, err := proto.Marshal(f)
	if err != nil {
		panic(fmt.Sprintf("pushsvc: encode frame: %v", err))
	}
	return newFrame(b)
}

func welcomeFrame(s *Session, now time.Time, streams []*clientv1.StreamPosition) *Outbound {
	w := &clientv1.Welcome{
		SessionId:  s.id,
		UserId:     s.user,
		NodeId:     s.svc.opts.NodeID,
		ServerTime: timestamppb.New(now),
		Groups:     s.info.Groups,
		Streams:    streams,
	}
	if s.info.HeartbeatInterval > 0 {
		w.HeartbeatInterval = durationpb.New(s.info.HeartbeatInterval)
	}
	if !s.info.TokenExpiry.IsZero() {
		w.TokenExpiresAt = timestamppb.New(s.info.TokenExpiry)
	}
	return marshalFrame(&clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Welcome{Welcome: w}})
}

// EncodeDisconnect encodes the Disconnect frame that precedes a close.
func EncodeDisconnect(d Disconnect) []byte {
	f := &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Disconnect{Disconnect: &clientv1.Disconnect{
		Code:      uint32(d.Code),
		Reason:    d.Reason,
		Reconnect: d.Reconnect,
	}}}
	if d.ReconnectAfter > 0 {
		f.GetDisconnect().ReconnectAfter = durationpb.New(d.ReconnectAfter)
	}
	return marshalFrame(f).data
}

// DecodeClientFrame decodes one client WebSocket message. A message that
// does not parse, or parses to a frame with no kind set, is ErrInvalidFrame.
func DecodeClientFrame(data []byte) (*clientv1.ClientFrame, error) {
	f := &clientv1.ClientFrame{}
	if err := proto.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFrame, err)
	}
	if f.Kind == nil {
		return nil, fmt.Errorf("%w: no frame kind set", ErrInvalidFrame)
	}
	return f, nil
}
