package client

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

func staticToken(context.Context) (string, error) { return "t", nil }

func TestNewValidates(t *testing.T) {
	valid := func() Options { return Options{URL: "ws://127.0.0.1:1/ws", Token: staticToken} }
	cases := []struct {
		field string
		mod   func(*Options)
	}{
		{"Options.URL", func(o *Options) { o.URL = "" }},
		{"Options.URL", func(o *Options) { o.URL = "http://host/ws" }},
		{"Options.URL", func(o *Options) { o.URL = "ws:///ws" }},
		{"Options.URL", func(o *Options) { o.URL = "ws://host:bad port/" }},
		{"Options.Token", func(o *Options) { o.Token = nil }},
		{"Options.MinBackoff", func(o *Options) { o.MinBackoff = -1 }},
		{"Options.MaxBackoff", func(o *Options) { o.MinBackoff, o.MaxBackoff = time.Second, time.Millisecond }},
		{"Options.StableAfter", func(o *Options) { o.StableAfter = -time.Second }},
		{"Options.HandshakeTimeout", func(o *Options) { o.HandshakeTimeout = -1 }},
		{"Options.WriteTimeout", func(o *Options) { o.WriteTimeout = -1 }},
		{"Options.HeartbeatInterval", func(o *Options) { o.HeartbeatInterval = -1 }},
		{"Options.FillTimeout", func(o *Options) { o.FillTimeout = -1 }},
		{"Options.FillBuffer", func(o *Options) { o.FillBuffer = -1 }},
		{"Options.Resume[0].stream", func(o *Options) { o.Resume = []*clientv1.StreamPosition{{Offset: 1}} }},
		{"Options.Resume[1].stream", func(o *Options) {
			o.Resume = []*clientv1.StreamPosition{{Stream: "s", Offset: 1}, {Stream: "s", Offset: 2}}
		}},
	}
	for _, tc := range cases {
		o := valid()
		tc.mod(&o)
		_, err := New(o)
		if err == nil {
			t.Errorf("%s: New accepted invalid options", tc.field)
			continue
		}
		if !strings.HasPrefix(err.Error(), "client: "+tc.field+":") {
			t.Errorf("%s: error %q does not name the field", tc.field, err)
		}
	}
	if _, err := New(valid()); err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	// Offset 0: a stream before its first push, as Positions gives a
	// stream the Welcome said was never published.
	o := valid()
	o.Resume = []*clientv1.StreamPosition{{Stream: "group:news"}}
	if _, err := New(o); err != nil {
		t.Errorf("New with a saved position at offset 0 = %v", err)
	}
}

func TestNewFillsDefaults(t *testing.T) {
	c, err := New(Options{URL: "wss://example.com/ws", Token: staticToken})
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if o.MinBackoff != DefaultMinBackoff || o.MaxBackoff != DefaultMaxBackoff || o.StableAfter != DefaultStableAfter ||
		o.HandshakeTimeout != DefaultHandshakeTimeout || o.WriteTimeout != DefaultWriteTimeout ||
		o.HeartbeatInterval != DefaultHeartbeatInterval || o.FillTimeout != DefaultFillTimeout || o.FillBuffer != DefaultFillBuffer {
		t.Fatalf("durations not defaulted: %+v", o)
	}
	if o.Logger == nil || o.Rand == nil || o.Clock == nil || o.Header == nil {
		t.Fatal("Logger, Rand, Clock or Header not defaulted")
	}
	if o.DisableCompression {
		t.Fatal("compression off by default")
	}
	// A MinBackoff above the default cap lifts the cap with it.
	c, err = New(Options{URL: "ws://h/ws", Token: staticToken, MinBackoff: time.Minute})
	if err != nil || c.opts.MaxBackoff != time.Minute {
		t.Fatalf("MinBackoff above default cap: err=%v MaxBackoff=%v", err, c.opts.MaxBackoff)
	}
	if got := c.State(); got != StateIdle {
		t.Fatalf("state before Start = %v", got)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close before Start = %v", err)
	}
	if err := c.Start(); err != ErrClosed {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Sun, 01 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Nov 2026 11:00:00 GMT": 0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateIdle: "idle", StateConnecting: "connecting", StateConnected: "connected",
		StateReconnecting: "reconnecting", StateClosed: "closed", State(42): "State(42)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int32(s), s.String(), want)
		}
	}
}
