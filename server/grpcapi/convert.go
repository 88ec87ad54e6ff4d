package grpcapi

import (
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
)

// Conversions between pushv1 and pushsvc types. They assume a validated
// request.

func toMessage(m *pushv1.Message) pushsvc.Message {
	msg := pushsvc.Message{Topic: m.GetTopic(), Payload: m.GetPayload(), ID: m.GetId()}
	if m.Ttl != nil {
		msg.TTL = m.Ttl.AsDuration()
	}
	return msg
}

func fromReceipts(rs []pushsvc.Receipt) []*pushv1.Receipt {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*pushv1.Receipt, len(rs))
	for i, r := range rs {
		out[i] = &pushv1.Receipt{UserId: r.UserID, SessionId: r.SessionID, Acked: r.Acked}
	}
	return out
}

func fromPresence(ps []pushsvc.UserPresence) []*pushv1.UserPresence {
	out := make([]*pushv1.UserPresence, len(ps))
	for i, p := range ps {
		up := &pushv1.UserPresence{UserId: p.UserID, Online: p.Online}
		for _, c := range p.Connections {
			up.Connections = append(up.Connections, &pushv1.Connection{
				SessionId:   c.SessionID,
				NodeId:      c.NodeID,
				RemoteAddr:  c.RemoteAddr,
				UserAgent:   c.UserAgent,
				ConnectedAt: timestamp(c.ConnectedAt),
				Groups:      c.Groups,
				Compressed:  c.Compressed,
			})
		}
		out[i] = up
	}
	return out
}

// timestamp leaves an unknown time unset rather than sending year 1.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// fromStats sets each number of s in the field of pushv1.Stats of its name
// (TestStatsMatchProto checks that there is one for each).
func fromStats(s pushsvc.Stats) *pushv1.Stats {
	out := &pushv1.Stats{Uptime: durationpb.New(s.Uptime)}
	m := out.ProtoReflect()
	fields := m.Descriptor().Fields()
	for d, v := range s.All() {
		if f := fields.ByName(protoreflect.Name(d.Name)); f != nil {
			m.Set(f, protoreflect.ValueOfUint64(v))
		}
	}
	return out
}
