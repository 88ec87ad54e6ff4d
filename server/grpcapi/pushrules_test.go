package grpcapi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// TestPushRulesMatchProtovalidate runs the hand-written rules of the push
// requests and protovalidate on the same requests, generated around every
// bound (empty and oversize names and lists, multi-byte characters,
// durations of mixed signs, out of range or saturating), and wants the
// same violations from both, in the same order, with the same field
// paths, messages and rule ids.
func TestPushRulesMatchProtovalidate(t *testing.T) {
	v, err := newValidator()
	if err != nil {
		t.Fatal(err)
	}
	a := &API{validator: v}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := &requestGen{rng: rand.New(rand.NewPCG(seed, 15))}
	n := 6000
	if testing.Short() {
		n = 600
	}
	kinds := map[string]int{}
	for i := range n {
		var m proto.Message
		switch i % 4 {
		case 0:
			m = g.pushToUsers()
		case 1:
			m = g.pushToGroups()
		case 2:
			m = g.broadcast()
		default:
			m = g.pushStream()
		}
		got, ok := pushRuleViolations(m)
		if !ok {
			if r, stream := m.(*pushv1.PushStreamRequest); stream && r.GetPush() == nil {
				kinds["stream without a push"]++
				continue // left to protovalidate
			}
			t.Fatalf("pushRuleViolations does not handle a %T", m)
		}
		want, err := a.schemaViolations(m)
		if err != nil {
			t.Fatalf("protovalidate on %v: %v", prototext.Format(m), err)
		}
		if g, w := describe(got), describe(want); g != w {
			t.Fatalf("request %d (seed %d) %s:\nhand-written rules:\n%s\nprotovalidate:\n%s", i, seed, shorten(prototext.Format(m)), g, w)
		}
		for _, v := range want {
			kinds[v.GetReason()]++
		}
		if len(want) == 0 {
			kinds["valid"]++
		}
	}
	// The generator must reach every rule, and valid requests.
	for _, k := range []string{"valid", "stream without a push", "required", "repeated.min_items", "repeated.max_items", "string.min_len", "string.max_bytes", "bytes.max_len", "duration.gt", "duration.gt_lte"} {
		if kinds[k] == 0 {
			t.Errorf("no generated request broke %s", k)
		}
	}
	t.Logf("outcomes: %v", kinds)
}

// pushRuleViolations encodes the rules below. When push.proto's rules on these
// messages change, this test fails: change pushRuleViolations with them, then
// this list.
func TestPushRulesFollowTheSchema(t *testing.T) {
	want := map[string]string{
		"Message.topic":                        `required: true string: {max_bytes: 256}`,
		"Message.payload":                      `bytes: {max_len: 65536}`,
		"Message.id":                           `string: {max_bytes: 128}`,
		"Message.ttl":                          `duration: {gt: {}}`,
		"PushToUsersRequest.user_ids":          `repeated: {min_items: 1 max_items: 1000 items: {string: {min_len: 1 max_bytes: 256}}}`,
		"PushToUsersRequest.message":           `required: true`,
		"PushToUsersRequest.ack_timeout":       `duration: {gt: {} lte: {seconds: 30}}`,
		"PushToGroupsRequest.groups":           `repeated: {min_items: 1 max_items: 100 items: {string: {min_len: 1 max_bytes: 256}}}`,
		"PushToGroupsRequest.message":          `required: true`,
		"PushToGroupsRequest.exclude_user_ids": `repeated: {max_items: 1000 items: {string: {min_len: 1 max_bytes: 256}}}`,
		"BroadcastRequest.message":             `required: true`,
		"PushStreamRequest.correlation_id":     `string: {max_bytes: 128}`,
		"PushStreamRequest.users":              ``,
		"PushStreamRequest.groups":             ``,
		"PushStreamRequest.broadcast":          ``,
	}
	messages := pushv1.File_herald_push_v1_push_proto.Messages()
	for _, name := range []protoreflect.Name{"Message", "PushToUsersRequest", "PushToGroupsRequest", "BroadcastRequest", "PushStreamRequest"} {
		md := messages.ByName(name)
		if r := proto.GetExtension(md.Options(), validate.E_Message).(*validate.MessageRules); len(r.GetCel()) > 0 || len(r.GetOneof()) > 0 {
			t.Errorf("%s has message rules %v, which pushRuleViolations does not check", name, r)
		}
		for i := range md.Oneofs().Len() {
			od := md.Oneofs().Get(i)
			r := proto.GetExtension(od.Options(), validate.E_Oneof).(*validate.OneofRules)
			if od.IsSynthetic() {
				continue
			}
			if name != "PushStreamRequest" || od.Name() != "push" || !r.GetRequired() {
				t.Errorf("oneof %s.%s has rules %v; pushRuleViolations knows of PushStreamRequest.push, required", name, od.Name(), r)
			}
		}
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			key := string(name) + "." + string(fd.Name())
			text, ok := want[key]
			if !ok {
				t.Errorf("%s: a field pushRuleViolations does not know", key)
				continue
			}
			var wantRules validate.FieldRules
			if err := prototext.Unmarshal([]byte(text), &wantRules); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			got := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
			if got == nil {
				got = &validate.FieldRules{}
			}
			if !proto.Equal(got, &wantRules) {
				t.Errorf("%s: rules %v in push.proto, pushRuleViolations checks %q", key, got, text)
			}
		}
	}
}

// Requests that are not push requests are left to protovalidate.
func TestPushRulesLeaveOtherRequests(t *testing.T) {
	for _, m := range []proto.Message{&pushv1.AddToGroupRequest{}, &pushv1.WatchStatsRequest{}, &pushv1.GetStatsRequest{}} {
		if _, ok := pushRuleViolations(m); ok {
			t.Errorf("pushRuleViolations handles a %T", m)
		}
	}
}

// BenchmarkPushRules compares the two on a valid PushToUsers request to
// one user.
func BenchmarkPushRules(b *testing.B) {
	v, err := newValidator()
	if err != nil {
		b.Fatal(err)
	}
	a := &API{validator: v}
	req := &pushv1.PushToUsersRequest{UserIds: []string{"bench-u123"}, Message: &pushv1.Message{Topic: "bench", Payload: make([]byte, 100)}}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if vs, _ := pushRuleViolations(req); len(vs) != 0 {
				b.Fatal(vs)
			}
		}
	})
	b.Run("protovalidate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if vs, _ := a.schemaViolations(req); len(vs) != 0 {
				b.Fatal(vs)
			}
		}
	})
}

func describe(vs violations) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s | %s | %s\n", v.GetField(), v.GetDescription(), v.GetReason())
	}
	return b.String()
}

func shorten(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

// requestGen makes push requests whose fields sit on, around or far
// from each rule's bounds.
type requestGen struct{ rng *rand.Rand }

func (g *requestGen) pushToUsers() *pushv1.PushToUsersRequest {
	return &pushv1.PushToUsersRequest{UserIds: g.names(schemaMaxUserIDs), Message: g.message(), AckTimeout: g.duration()}
}

func (g *requestGen) pushToGroups() *pushv1.PushToGroupsRequest {
	return &pushv1.PushToGroupsRequest{Groups: g.names(schemaMaxGroups), Message: g.message(), ExcludeUserIds: g.names(schemaMaxUserIDs)}
}

func (g *requestGen) broadcast() *pushv1.BroadcastRequest {
	return &pushv1.BroadcastRequest{Message: g.message()}
}

// pushStream makes a stream request of each kind, or none, with a
// correlation id around its bound. Its users request has no ack_timeout:
// the limits, not the schema, refuse one on a stream.
func (g *requestGen) pushStream() *pushv1.PushStreamRequest {
	r := &pushv1.PushStreamRequest{CorrelationId: g.edgeString(schemaMaxCorrelationIDBytes)}
	switch g.rng.IntN(7) {
	case 0:
	case 1, 2:
		u := g.pushToUsers()
		u.AckTimeout = nil
		r.Push = &pushv1.PushStreamRequest_Users{Users: u}
	case 3, 4:
		r.Push = &pushv1.PushStreamRequest_Groups{Groups: g.pushToGroups()}
	default:
		r.Push = &pushv1.PushStreamRequest_Broadcast{Broadcast: g.broadcast()}
	}
	return r
}

// names makes a list whose length is near 0, small, or near max.
func (g *requestGen) names(max int) []string {
	var n int
	switch g.rng.IntN(8) {
	case 0:
		return nil
	case 1:
		n = max + g.rng.IntN(3) - 1 // max-1, max, max+1
	default:
		n = 1 + g.rng.IntN(4)
	}
	out := make([]string, n)
	bad := g.rng.IntN(3) == 0 // most lists are all good names
	for i := range out {
		if bad && g.rng.IntN(4) == 0 {
			out[i] = g.edgeString(schemaMaxNameBytes)
		} else {
			out[i] = fmt.Sprintf("u%d", g.rng.IntN(1000))
		}
	}
	return out
}

func (g *requestGen) message() *pushv1.Message {
	if g.rng.IntN(6) == 0 {
		return nil
	}
	m := &pushv1.Message{Topic: "t", Payload: []byte("p")}
	if g.rng.IntN(2) == 0 {
		m.Topic = g.edgeString(schemaMaxTopicBytes)
	}
	if g.rng.IntN(3) == 0 {
		m.Payload = make([]byte, g.near(schemaMaxPayloadBytes))
	}
	if g.rng.IntN(3) == 0 {
		m.Id = g.edgeString(schemaMaxIDBytes)
	}
	m.Ttl = g.duration()
	return m
}

// edgeString is empty, short, or max-1 to max+1 bytes long, of ASCII or
// of two-byte characters (so that a string can be within max characters
// but over max bytes).
func (g *requestGen) edgeString(max int) string {
	switch g.rng.IntN(5) {
	case 0:
		return ""
	case 1:
		return "é"
	case 2:
		return strings.Repeat("a", g.near(max))
	case 3:
		return strings.Repeat("é", g.near(max)/2)
	default:
		return strings.Repeat("é", max/2) + strings.Repeat("a", g.rng.IntN(3))
	}
}

// near returns limit-1, limit or limit+1.
func (g *requestGen) near(limit int) int { return limit + g.rng.IntN(3) - 1 }

// duration is unset, around 0 or 30s, of mixed signs, with nanos out of
// range, or at the extremes where adding seconds and nanos overflows.
func (g *requestGen) duration() *durationpb.Duration {
	seconds := []int64{0, 1, -1, 29, 30, 31, 315576000000, -315576000000, 315576000001,
		math.MaxInt64, math.MinInt64, math.MaxInt64 / 1_000_000_000, math.MinInt64 / 1_000_000_000, math.MaxInt64/1_000_000_000 + 1}
	nanos := []int32{0, 1, -1, 999_999_999, -999_999_999, 1_000_000_000, -1_000_000_000, math.MaxInt32, math.MinInt32}
	switch g.rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return &durationpb.Duration{Seconds: g.rng.Int64N(80) - 40, Nanos: int32(g.rng.Int64N(4e9) - 2e9)}
	}
	return &durationpb.Duration{Seconds: seconds[g.rng.IntN(len(seconds))], Nanos: nanos[g.rng.IntN(len(nanos))]}
}
