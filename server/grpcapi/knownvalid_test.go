package grpcapi

import (
	"math/rand/v2"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// knownValid encodes the rules below. When push.proto's rules on these
// messages change, this test fails: change knownValid with them, then
// this list.
func TestKnownValidFollowsTheSchema(t *testing.T) {
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
			t.Errorf("%s has message rules %v, which knownValid does not check", name, r)
		}
		for i := range md.Oneofs().Len() {
			od := md.Oneofs().Get(i)
			r := proto.GetExtension(od.Options(), validate.E_Oneof).(*validate.OneofRules)
			if od.IsSynthetic() {
				continue
			}
			if name != "PushStreamRequest" || od.Name() != "push" || !r.GetRequired() {
				t.Errorf("oneof %s.%s has rules %v; knownValid knows of PushStreamRequest.push, required", name, od.Name(), r)
			}
		}
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			key := string(name) + "." + string(fd.Name())
			text, ok := want[key]
			if !ok {
				t.Errorf("%s: a field knownValid does not know", key)
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
				t.Errorf("%s: rules %v in push.proto, knownValid checks %q", key, got, text)
			}
		}
	}
}

// knownValid never passes a request that protovalidate refuses, and passes
// every one it accepts that has no duration set.
func TestKnownValidAgreesWithProtovalidate(t *testing.T) {
	v, err := newValidator()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// A length around one of the bounds (0, 1, 128, 256, 65536) or in
	// between.
	length := func(bounds ...int) int {
		b := bounds[rng.IntN(len(bounds))]
		return max(0, b+rng.IntN(3)-1)
	}
	str := func(bounds ...int) string {
		return strings.Repeat("é", length(bounds...))[:0] + strings.Repeat("x", length(bounds...))
	}
	names := func(maxItems int) []string {
		if rng.IntN(8) == 0 {
			return nil
		}
		n := length(1, 2, maxItems)
		out := make([]string, n)
		for i := range out {
			out[i] = "u"
			if rng.IntN(n+1) == 0 {
				out[i] = str(0, 256)
			}
		}
		return out
	}
	message := func() *pushv1.Message {
		if rng.IntN(10) == 0 {
			return nil
		}
		m := &pushv1.Message{Topic: str(0, 1, 256), Payload: make([]byte, length(0, 65536)), Id: str(0, 128)}
		if rng.IntN(10) == 0 {
			m.Ttl = durationpb.New(0)
		}
		return m
	}
	users := func() *pushv1.PushToUsersRequest {
		r := &pushv1.PushToUsersRequest{UserIds: names(1000), Message: message()}
		if rng.IntN(10) == 0 {
			r.AckTimeout = durationpb.New(0)
		}
		return r
	}
	groups := func() *pushv1.PushToGroupsRequest {
		return &pushv1.PushToGroupsRequest{Groups: names(100), ExcludeUserIds: names(1000), Message: message()}
	}
	broadcast := func() *pushv1.BroadcastRequest { return &pushv1.BroadcastRequest{Message: message()} }
	passed, refused := 0, 0
	for range 3000 {
		var m proto.Message
		switch rng.IntN(4) {
		case 0:
			m = users()
		case 1:
			m = groups()
		case 2:
			m = broadcast()
		default:
			r := &pushv1.PushStreamRequest{CorrelationId: str(0, 128)}
			switch rng.IntN(4) {
			case 0:
				r.Push = &pushv1.PushStreamRequest_Users{Users: users()}
			case 1:
				r.Push = &pushv1.PushStreamRequest_Groups{Groups: groups()}
			case 2:
				r.Push = &pushv1.PushStreamRequest_Broadcast{Broadcast: broadcast()}
			}
			m = r
		}
		fast, full := knownValid(m), v.Validate(m) == nil
		if fast && !full {
			t.Fatalf("knownValid passes a request protovalidate refuses (%v): %.300v", v.Validate(m), m)
		}
		if full && !fast && !hasDuration(m) {
			t.Fatalf("knownValid refuses a valid request without durations: %.300v", m)
		}
		if full {
			passed++
		} else {
			refused++
		}
	}
	// The generator must reach both sides of the bounds.
	if passed < 300 || refused < 300 {
		t.Errorf("%d valid and %d invalid requests: the generator misses one side", passed, refused)
	}
}

// hasDuration reports whether m sets a ttl or an ack_timeout.
func hasDuration(m proto.Message) bool {
	found := false
	var walk func(protoreflect.Message)
	walk = func(pm protoreflect.Message) {
		pm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Duration":
				found = true
			case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
				walk(v.Message())
			}
			return !found
		})
	}
	walk(m.ProtoReflect())
	return found
}
