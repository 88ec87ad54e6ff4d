package redis

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

func TestPublicationRoundTrip(t *testing.T) {
	at := time.Unix(1_800_000_000, 123456789)
	for i, m := range []engine.Message{
		{},
		{ID: "id", Topic: "topic", Payload: []byte{0, 1, 2, 255}, TTL: 3 * time.Second, Exclude: []string{"a", "", "c"}, Local: "dropped"},
		{Payload: bytes.Repeat([]byte("x"), 70000)},
	} {
		originOnly := i == 1
		body := appendPubBody(nil, "node-1", 1<<40, originOnly, "group:g", at, &m)
		b := encodePub(42, "EPOCH123", expiry(at, m.TTL, time.Minute), body)
		in, err := decodePub(string(b))
		if err != nil {
			t.Fatal(err)
		}
		p := in.pub
		if in.origin != "node-1" || in.id != 1<<40 || in.originOnly != originOnly || p.Stream != "group:g" || p.Offset != 42 || p.Epoch != "EPOCH123" ||
			!p.Time.Equal(at) || p.ID != m.ID || p.Topic != m.Topic || !bytes.Equal(p.Payload, m.Payload) ||
			p.TTL != m.TTL || len(p.Exclude) != len(m.Exclude) || p.Local != nil {
			t.Errorf("round trip of %+v gave %+v (origin %q id %d)", m, p, in.origin, in.id)
		}
		for i := range m.Exclude {
			if p.Exclude[i] != m.Exclude[i] {
				t.Errorf("exclude %d = %q", i, p.Exclude[i])
			}
		}
	}
}

// TestExpiryIsWhereLuaReadsIt pins the header layout that sinceScript
// reads with struct.unpack('>I8', m, 10).
func TestExpiryIsWhereLuaReadsIt(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	b := encodePub(7, "E", expiry(at, 5*time.Second, time.Minute), nil)
	var v uint64
	for _, c := range b[9:17] {
		v = v<<8 | uint64(c)
	}
	if want := at.Add(5 * time.Second).UnixMicro(); int64(v) != want {
		t.Errorf("expiry at bytes 9..16 = %d, want %d", v, want)
	}
	// A message TTL never lengthens the history TTL.
	b = encodePub(7, "E", expiry(at, time.Hour, time.Minute), nil)
	v = 0
	for _, c := range b[9:17] {
		v = v<<8 | uint64(c)
	}
	if want := at.Add(time.Minute).UnixMicro(); int64(v) != want {
		t.Errorf("expiry with a long message TTL = %d, want %d", v, want)
	}
}

func TestControlRoundTrip(t *testing.T) {
	for _, c := range []engine.Control{
		{Kind: engine.MembersAdded, Group: "g", Users: []string{"a", "b"}},
		{Kind: engine.DisconnectUser, Users: []string{"u"}, Reason: "bye", Reconnect: true},
	} {
		in, err := decodeControl(string(encodeControl("n", 9, &c)))
		if err != nil {
			t.Fatal(err)
		}
		if in.origin != "n" || in.id != 9 || in.c.Kind != c.Kind || in.c.Group != c.Group || !slices.Equal(in.c.Users, c.Users) ||
			in.c.Reason != c.Reason || in.c.Reconnect != c.Reconnect {
			t.Errorf("round trip of %+v gave %+v", c, in)
		}
	}
}

func TestRepliesRoundTrip(t *testing.T) {
	rs := []reply{{1, 0}, {1 << 62, 5}, {3, 1 << 20}}
	node, got, err := decodeReplies(string(encodeReplies("b", rs)))
	if err != nil || node != "b" || !slices.Equal(got, rs) {
		t.Errorf("got %q %v %v", node, got, err)
	}
}

func TestDecodersRefuseGarbage(t *testing.T) {
	for _, s := range []string{"", "P", "P1234567", "C\xff", "R\x0a\x05ab", "X", "P" + string(make([]byte, 16)) + "\x09E"} {
		if _, err := decodePub(s); err == nil {
			t.Errorf("decodePub(%q) accepted it", s)
		}
	}
	if _, err := decodeControl("C\x0a\x09ab"); err == nil {
		t.Error("decodeControl accepted a truncated field")
	}
	if _, _, err := decodeReplies("R\x12\x01\xff"); err == nil {
		t.Error("decodeReplies accepted a truncated varint")
	}
}

// FuzzDecode feeds the decoders arbitrary messages: whatever arrives on a
// channel (another version, a stray publisher) must not panic a node.
func FuzzDecode(f *testing.F) {
	m := engine.Message{ID: "id", Topic: "t", Payload: []byte("p"), Exclude: []string{"x"}}
	f.Add(encodePub(1, "EPOCH", expiry(time.Now(), 0, time.Minute), appendPubBody(nil, "n", 1, false, "user:u", time.Now(), &m)))
	f.Add(encodeControl("n", 2, &engine.Control{Kind: engine.MembersAdded, Group: "g", Users: []string{"u"}}))
	f.Add(encodeReplies("n", []reply{{1, 2}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := string(b)
		if in, err := decodePub(s); err == nil && in.pub == nil {
			t.Fatal("nil publication without error")
		}
		_, _ = decodeControl(s)
		_, _, _ = decodeReplies(s)
	})
}
