package grpcapi_test

import (
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

// finished returns the "finished call" records of method, each as its
// level and attributes.
func (h *recordingHandler) finished(method string) []loggedCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []loggedCall
	for _, r := range h.records {
		c := loggedCall{level: r.Level, attrs: map[string]string{}}
		r.Attrs(func(a slog.Attr) bool {
			c.attrs[a.Key] = a.Value.String()
			return true
		})
		if r.Message == "finished call" && c.attrs["grpc.method"] == method {
			out = append(out, c)
		}
	}
	return out
}

type loggedCall struct {
	level slog.Level
	attrs map[string]string
}

// At the default level, a call that succeeded in time leaves no line; a
// failed one is logged at its code's level with the fields the
// middleware logged (service, method, code, error, time).
func TestCallLogFailuresOnly(t *testing.T) {
	logs := &recordingHandler{min: slog.LevelInfo}
	ts := startAPI(t, setup{opts: grpcapi.Options{Logger: slog.New(logs)}})
	ctx := testContext(t)
	if _, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()}); err != nil {
		t.Fatal(err)
	}
	_, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{Message: message()})
	wantCode(t, err, codes.InvalidArgument)

	got := logs.finished("PushToUsers")
	if len(got) != 1 {
		t.Fatalf("%d PushToUsers calls logged, want 1 (the failed one): %v", len(got), got)
	}
	c := got[0]
	if c.level != slog.LevelInfo {
		t.Errorf("an InvalidArgument call is logged at %v, want INFO", c.level)
	}
	for k, want := range map[string]string{
		"grpc.service": "herald.push.v1.PushService", "grpc.method_type": "unary", "grpc.code": "InvalidArgument",
		"grpc.error": "rpc error: code = InvalidArgument desc = user_ids: must contain at least 1 item(s)",
	} {
		if c.attrs[k] != want {
			t.Errorf("%s = %q, want %q", k, c.attrs[k], want)
		}
	}
	for _, k := range []string{"peer.address", "grpc.start_time", "grpc.request.deadline", "grpc.time_ms"} {
		if c.attrs[k] == "" {
			t.Errorf("no %s in %v", k, c.attrs)
		}
	}
}

// A call slower than SlowCall is logged at warn, marked slow; one that
// waited for receipts is slow only past its ack_timeout.
func TestCallLogSlowCalls(t *testing.T) {
	logs := &recordingHandler{min: slog.LevelInfo}
	// SlowCall leaves the call half a second for its own work, which
	// a loaded machine may well need past the wait.
	ts := startAPI(t, setup{opts: grpcapi.Options{Logger: slog.New(logs), SlowCall: 500 * time.Millisecond}})
	ctx := testContext(t)

	// bob never acknowledges: the call waits its whole ack_timeout,
	// which is longer than SlowCall.
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "bob"}, false)
	if _, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"bob"}, Message: message(),
		AckTimeout: durationpb.New(1500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if got := logs.finished("PushToUsers"); len(got) != 0 {
		t.Errorf("a call that waited for its ack_timeout is logged as slow: %v", got)
	}

	// GetStats with SlowCall at 1ns: every call is slow.
	ts = startAPI(t, setup{opts: grpcapi.Options{Logger: slog.New(logs), SlowCall: time.Nanosecond}})
	if _, err := ts.client.GetStats(ctx, &pushv1.GetStatsRequest{}); err != nil {
		t.Fatal(err)
	}
	got := logs.finished("GetStats")
	if len(got) != 1 || got[0].level != slog.LevelWarn || got[0].attrs["grpc.slow"] != "true" || got[0].attrs["grpc.code"] != "OK" {
		t.Errorf("a slow GetStats is logged as %v, want one WARN record with grpc.slow=true", got)
	}
}

// A negative SlowCall logs every call, at info.
func TestCallLogEveryCall(t *testing.T) {
	logs := &recordingHandler{min: slog.LevelInfo}
	ts := startAPI(t, setup{opts: grpcapi.Options{Logger: slog.New(logs), SlowCall: -1}})
	for range 3 {
		if _, err := ts.client.GetStats(testContext(t), &pushv1.GetStatsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	got := logs.finished("GetStats")
	if len(got) != 3 {
		t.Fatalf("%d GetStats calls logged, want 3", len(got))
	}
	for _, c := range got {
		if c.level != slog.LevelInfo || c.attrs["grpc.slow"] != "" {
			t.Errorf("a call is logged as %v, want INFO and not slow", c)
		}
	}
}
