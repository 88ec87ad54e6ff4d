package grpcapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/server/grpcapi"
)

type pushStreamClient = grpc.BidiStreamingClient[pushv1.PushStreamRequest, pushv1.PushStreamResponse]

func toUsers(id string, users ...string) *pushv1.PushStreamRequest {
	return &pushv1.PushStreamRequest{CorrelationId: id, Push: &pushv1.PushStreamRequest_Users{
		Users: &pushv1.PushToUsersRequest{UserIds: users, Message: message()},
	}}
}

// openStream opens a PushStream on c that ends with the test.
func openStream(t *testing.T, c pushv1.PushServiceClient) pushStreamClient {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	t.Cleanup(cancel)
	st, err := c.PushStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// exchange sends reqs on st, closes its side and returns the results by
// correlation id, and the stream's final error (nil when it ended OK).
func exchange(t *testing.T, st pushStreamClient, reqs ...*pushv1.PushStreamRequest) (map[string]*pushv1.PushStreamResponse, error) {
	t.Helper()
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := map[string]*pushv1.PushStreamResponse{}
	for {
		res, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if _, dup := got[res.GetCorrelationId()]; dup {
			t.Errorf("two results for %q", res.GetCorrelationId())
		}
		got[res.GetCorrelationId()] = res
	}
}

// Each kind of push gets one result, matched by its correlation id, with
// what the unary call would answer; the stream ends OK after CloseSend.
func TestPushStreamPushesEachKind(t *testing.T) {
	ts := startAPI(t, setup{})
	ctx := testContext(t)
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice", Groups: []string{"team"}}, false)
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice"}, false)
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "bob", Groups: []string{"team"}}, false)

	got, err := exchange(t, openStream(t, ts.client),
		toUsers("u", "alice", "carol"),
		&pushv1.PushStreamRequest{CorrelationId: "g", Push: &pushv1.PushStreamRequest_Groups{
			Groups: &pushv1.PushToGroupsRequest{Groups: []string{"team"}, ExcludeUserIds: []string{"bob"}, Message: message()},
		}},
		&pushv1.PushStreamRequest{CorrelationId: "b", Push: &pushv1.PushStreamRequest_Broadcast{
			Broadcast: &pushv1.BroadcastRequest{Message: message()},
		}},
	)
	if err != nil {
		t.Fatalf("stream ended with %v, want OK", err)
	}
	for id, want := range map[string]uint64{"u": 2, "g": 1, "b": 3} {
		r := got[id]
		if r.GetCode() != 0 || r.GetMessageId() == "" || r.GetDelivered() != want {
			t.Errorf("result %q: %v; want code 0, a message id and delivered %d", id, r, want)
		}
	}
	if len(got) != 3 {
		t.Errorf("results %v, want 3", got)
	}
	st := ts.svc.Stats(ctx)
	if st.PushCallsUsers != 1 || st.PushCallsGroups != 1 || st.PushCallsBroadcast != 1 || st.Deliveries != 6 {
		t.Errorf("stats %+v: want one push of each kind and 6 deliveries", st)
	}
}

// A bad request gets a result naming the field, as the unary call would,
// and the requests after it are carried out.
func TestPushStreamBadRequestsGetAResultAndTheStreamGoesOn(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{Limits: grpcapi.Limits{MaxUserIDs: 2}}})
	withAck := toUsers("ack", "alice")
	withAck.GetUsers().AckTimeout = durationpb.New(time.Second)
	longAck := toUsers("long-ack", "alice")
	longAck.GetUsers().AckTimeout = durationpb.New(time.Minute)
	noTopic := toUsers("no-topic", "alice")
	noTopic.GetUsers().Message.Topic = ""

	got, err := exchange(t, openStream(t, ts.client),
		toUsers("empty"),
		toUsers("limit", "a", "b", "c"),
		withAck,
		longAck,
		noTopic,
		&pushv1.PushStreamRequest{CorrelationId: "nothing"},
		&pushv1.PushStreamRequest{CorrelationId: "empty-group", Push: &pushv1.PushStreamRequest_Groups{
			Groups: &pushv1.PushToGroupsRequest{Groups: []string{""}, Message: message()},
		}},
		&pushv1.PushStreamRequest{CorrelationId: strings.Repeat("c", 129), Push: &pushv1.PushStreamRequest_Broadcast{
			Broadcast: &pushv1.BroadcastRequest{Message: message()},
		}},
		toUsers("good", "alice"),
	)
	if err != nil {
		t.Fatalf("stream ended with %v, want OK", err)
	}
	for id, want := range map[string]string{
		"empty":                  "users.user_ids: must contain at least 1 item(s)",
		"limit":                  "users.user_ids: must contain no more than 2 item(s)",
		"ack":                    "users.ack_timeout: not allowed on a stream: ask for receipts with PushToUsers",
		"long-ack":               "users.ack_timeout: must be greater than 0s and less than or equal to 30s",
		"no-topic":               "users.message.topic: value is required",
		"nothing":                "push: exactly one field is required in oneof",
		"empty-group":            "groups.groups[0]: must be at least 1 characters",
		strings.Repeat("c", 129): "correlation_id: must be at most 128 bytes",
	} {
		r := got[id]
		if codes.Code(r.GetCode()) != codes.InvalidArgument || r.GetMessage() != want || r.GetMessageId() != "" {
			t.Errorf("result %.20q: %v %q, want InvalidArgument %q and no message id", id, codes.Code(r.GetCode()), r.GetMessage(), want)
		}
	}
	if r := got["good"]; r.GetCode() != 0 || r.GetMessageId() == "" {
		t.Errorf("the good request after the bad ones: %v", r)
	}
}

// Each request takes a token from the caller's bucket, as a unary call
// does; the call took one when it opened. Over the limit a request gets
// ResourceExhausted and the stream goes on.
func TestPushStreamRateLimitsEachRequest(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{RateLimit: grpcapi.RateLimit{PerSecond: 0.001, Burst: 4}}})
	var reqs []*pushv1.PushStreamRequest
	for i := range 5 {
		reqs = append(reqs, toUsers(fmt.Sprint(i), "alice"))
	}
	got, err := exchange(t, openStream(t, ts.client), reqs...)
	if err != nil {
		t.Fatalf("stream ended with %v, want OK", err)
	}
	ok, limited := 0, 0
	for _, r := range got {
		switch codes.Code(r.GetCode()) {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
			limited++
			if want := "rate limit exceeded: 0.001 calls/s per API key, burst 4"; r.GetMessage() != want {
				t.Errorf("refusal %q, want %q", r.GetMessage(), want)
			}
		default:
			t.Errorf("result %v", r)
		}
	}
	// 4 tokens: one for the call, 3 for requests.
	if ok != 3 || limited != 2 {
		t.Errorf("%d pushed and %d refused, want 3 and 2", ok, limited)
	}
	// The bucket is the key's: a unary call is refused too.
	_, err = ts.client.PushToUsers(testContext(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()})
	wantCode(t, err, codes.ResourceExhausted)
}

// A message id is an idempotency key on a stream as on a unary call.
func TestPushStreamIdempotency(t *testing.T) {
	ts := startAPI(t, setup{})
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice"}, false)
	first := toUsers("first", "alice")
	first.GetUsers().Message.Id = "order-42-shipped"
	again := toUsers("again", "alice")
	again.GetUsers().Message.Id = "order-42-shipped"
	got, err := exchange(t, openStream(t, ts.client), first)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := exchange(t, openStream(t, ts.client), again)
	if err != nil {
		t.Fatal(err)
	}
	a, b := got["first"], got2["again"]
	if a.GetMessageId() != "order-42-shipped" || b.GetMessageId() != a.GetMessageId() || a.GetDelivered() != 1 || b.GetDelivered() != 0 {
		t.Errorf("first %v, again %v: want the same message id, delivered 1 then 0", a, b)
	}
	if d := ts.svc.Stats(testContext(t)).Duplicates; d != 1 {
		t.Errorf("duplicates %d, want 1", d)
	}
}

// An engine error becomes its status through the adapter's one mapping:
// Unavailable, which the caller may retry with the same message id.
func TestPushStreamDomainErrorsBecomeCodes(t *testing.T) {
	gate := newGateEngine()
	gate.err = engine.ErrUnavailable
	close(gate.release)
	ts := startAPI(t, setup{opts: grpcapi.Options{Service: gateService(t, gate)}})
	got, err := exchange(t, openStream(t, ts.client), toUsers("x", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if r := got["x"]; codes.Code(r.GetCode()) != codes.Unavailable || r.GetMessageId() != "" || !strings.Contains(r.GetMessage(), "unavailable") {
		t.Errorf("result %v, want Unavailable", r)
	}
}

// The stream reads no further ahead of its results than its window, in
// requests and in bytes: with every push held up, the node carries out
// at most that many at once, and one more each time one finishes.
func TestPushStreamWindowBoundsWhatTheNodeHolds(t *testing.T) {
	const requests = 20
	for _, tc := range []struct {
		name   string
		limits grpcapi.PushStreamLimits
		want   int
	}{
		{"requests", grpcapi.PushStreamLimits{Window: 4}, 4},
		// Each request is a little over 1 KiB: the window stops reading
		// once the requests held reach 2 KiB, after the second.
		{"bytes", grpcapi.PushStreamLimits{Window: 100, WindowBytes: 2048}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := newGateEngine()
			ts := startAPI(t, setup{opts: grpcapi.Options{Service: gateService(t, gate), PushStream: tc.limits}})
			st := openStream(t, ts.client)
			for i := range requests {
				r := toUsers(fmt.Sprint(i), "alice")
				r.GetUsers().Message.Payload = make([]byte, 1024)
				if err := st.Send(r); err != nil {
					t.Fatal(err)
				}
			}
			// Let the pushes through one at a time, each when the window
			// is full again.
			for released := 0; released < requests; released++ {
				gate.waitHeld(t, min(tc.want, requests-released))
				gate.release <- struct{}{}
			}
			got, err := exchange(t, st)
			if err != nil || len(got) != requests {
				t.Fatalf("%d results, stream ended with %v; want %d and OK", len(got), err, requests)
			}
			if most := gate.most(); most != tc.want {
				t.Errorf("the node held up to %d pushes at once, want %d", most, tc.want)
			}
		})
	}
}

// API.Shutdown ends an open stream: it reads nothing more, answers what it
// has read and ends with Unavailable, so that the caller retries the rest
// on another node.
func TestPushStreamEndsAtShutdown(t *testing.T) {
	gate := newGateEngine()
	ts := startAPI(t, setup{opts: grpcapi.Options{Service: gateService(t, gate), PushStream: grpcapi.PushStreamLimits{Window: 3}}})
	st := openStream(t, ts.client)
	for i := range 5 {
		if err := st.Send(toUsers(fmt.Sprint(i), "alice")); err != nil {
			t.Fatal(err)
		}
	}
	gate.waitHeld(t, 3)
	ts.api.Shutdown()
	close(gate.release)
	n := 0
	for {
		res, err := st.Recv()
		if err != nil {
			wantCode(t, err, codes.Unavailable)
			break
		}
		if res.GetCode() != 0 {
			t.Errorf("result %v, want OK", res)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d results before the end, want the 3 read", n)
	}
}

// A caller that goes away with pushes under way ends the stream; its
// goroutines end with it (goleak checks after the tests).
func TestPushStreamCallerGoesAway(t *testing.T) {
	gate := newGateEngine()
	ts := startAPI(t, setup{opts: grpcapi.Options{Service: gateService(t, gate)}})
	ctx, cancel := context.WithCancel(testContext(t))
	st, err := ts.client.PushStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := st.Send(toUsers(fmt.Sprint(i), "alice")); err != nil {
			t.Fatal(err)
		}
	}
	gate.waitHeld(t, 3)
	cancel()
	_, err = st.Recv()
	wantCode(t, err, codes.Canceled)
}

// One caller may hold only so many streams open; the slot comes back when
// a stream ends.
func TestPushStreamsPerCaller(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{
		APIKeys:    []string{testKey, "other"},
		PushStream: grpcapi.PushStreamLimits{MaxPerCaller: 2},
	}})
	ctx := testContext(t)
	open := func(c pushv1.PushServiceClient) (pushStreamClient, error) {
		st, err := c.PushStream(ctx)
		if err != nil {
			return nil, err
		}
		// A stream the server refused at once ends Send with io.EOF: its
		// status comes with Recv.
		if err := st.Send(toUsers("x", "alice")); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		_, err = st.Recv()
		return st, err
	}
	first, err := open(ts.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(ts.client); err != nil {
		t.Fatal(err)
	}
	_, err = open(ts.client)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "2 PushStream calls open") {
		t.Errorf("a third stream: %v %q, want ResourceExhausted naming the limit", st.Code(), st.Message())
	}
	// Another key has its own.
	if _, err := open(pushv1.NewPushServiceClient(dial(t, ts.addr, "other"))); err != nil {
		t.Errorf("another key's stream: %v", err)
	}
	if err := first.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("closing the first stream: %v", err)
	}
	if _, err := open(ts.client); err != nil {
		t.Errorf("a stream after one closed: %v", err)
	}
}

// gateEngine holds every Publish until the test lets it through.
type gateEngine struct {
	release chan struct{} // each receive lets one Publish finish; closed: all
	err     error         // what Publish answers; set before use

	mu      sync.Mutex
	held    int // publishes under way; guarded by mu
	mostSet int // the most held at once; guarded by mu
	changed chan struct{}
}

func newGateEngine() *gateEngine {
	return &gateEngine{release: make(chan struct{}), changed: make(chan struct{}, 1)}
}

func gateService(t *testing.T, e *gateEngine) *pushsvc.Service {
	t.Helper()
	svc, err := pushsvc.New(pushsvc.Options{NewEngine: func(string, engine.Handler) (engine.Engine, error) { return e, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func (e *gateEngine) Publish(ctx context.Context, stream string, m engine.Message) (*engine.Publication, int, error) {
	e.mu.Lock()
	e.held++
	e.mostSet = max(e.mostSet, e.held)
	e.mu.Unlock()
	e.signal()
	select {
	case <-e.release:
	case <-ctx.Done():
	}
	e.mu.Lock()
	e.held--
	e.mu.Unlock()
	e.signal()
	if e.err != nil {
		return nil, 0, e.err
	}
	return &engine.Publication{Message: m, Stream: stream, Offset: 1}, 0, nil
}

func (e *gateEngine) Since(context.Context, string, engine.Position, int) ([]*engine.Publication, engine.Position, bool, error) {
	return nil, engine.Position{}, true, nil
}

func (e *gateEngine) Positions(_ context.Context, streams []string) ([]engine.Position, error) {
	return make([]engine.Position, len(streams)), nil
}

func (e *gateEngine) Close() error { return nil }

func (e *gateEngine) signal() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *gateEngine) most() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mostSet
}

// waitHeld waits until n publishes are held.
func (e *gateEngine) waitHeld(t *testing.T, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		e.mu.Lock()
		held := e.held
		e.mu.Unlock()
		if held >= n {
			return
		}
		select {
		case <-e.changed:
		case <-timeout.C:
			t.Fatalf("%d publishes held, want %d", held, n)
		}
	}
}
