package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// The stream scenario pushes to one user per request, as the users
// scenario does, over PushStream calls: each caller holds one stream and
// sends a request per token, keeping at most Window without a result.
// A token that comes due while every caller's window is full is skipped,
// as a unary call is when every caller is busy. A request's result
// latency is its call latency; its correlation id carries its send time
// and the deliveries it should make, so the results need no table.

type pushStream = grpc.BidiStreamingClient[pushv1.PushStreamRequest, pushv1.PushStreamResponse]

// streamCaller sends a request per token on a stream of its own until due
// is closed, then closes its side and waits for the results still due.
// Every token ends counted once: as sent (a result with code 0), as an
// error (a result with another code, or none because the stream broke),
// or as skipped by runStep.
func (d *driver) streamCaller(ctx context.Context, id, step int, end time.Time, due <-chan struct{}, s *stepSend, totals *runningTotals) {
	// The stream outlives an interrupt long enough for its results:
	// cancelled, the pushes under way would be delivered without being
	// counted as sent.
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), end.Add(callTimeout))
	defer cancel()
	st, err := d.api.PushStream(sctx)
	if err != nil {
		for range due {
			s.fail(err)
		}
		return
	}
	inFlight := make(chan struct{}, d.window) // a slot per request without a result
	results := make(chan error, 1)
	go func() { results <- d.streamResults(st, id, inFlight, s, totals) }()

	rng := rand.New(rand.NewPCG(uint64(id), uint64(d.tag)<<16|uint64(step)))
	// gRPC has marshalled a request when Send returns, so the next may
	// reuse its buffers.
	payload := newPayload(d.payload, d.tag, step)
	users := &pushv1.PushToUsersRequest{UserIds: make([]string, 1), Message: &pushv1.Message{Topic: "bench", Payload: payload}}
	req := &pushv1.PushStreamRequest{Push: &pushv1.PushStreamRequest_Users{Users: users}}
	var corr []byte
	var broken error // set once the stream has failed
	for range due {
		if ctx.Err() != nil {
			continue // drain the tokens; the run is ending
		}
		if broken == nil {
			select {
			case inFlight <- struct{}{}:
			case broken = <-results:
				broken = streamBroke(broken)
			}
		}
		if broken != nil {
			s.fail(broken)
			continue
		}
		user, expected := d.pickUser(rng)
		t0 := time.Now()
		stamp(payload, t0)
		users.UserIds[0] = user
		corr = appendCorrelation(corr[:0], t0, expected)
		req.CorrelationId = string(corr)
		if err := st.Send(req); err != nil {
			// The stream is broken; Recv tells why, and the
			// request's slot counts as an error below.
			broken = streamBroke(<-results)
		}
	}
	if broken == nil {
		_ = st.CloseSend()
		broken = <-results
		if broken == nil && len(inFlight) > 0 {
			broken = errors.New("PushStream ended without a result for every request")
		}
	}
	// The requests still in flight have no result and never will.
	for range len(inFlight) {
		s.fail(broken)
	}
}

// streamBroke is the error a stream that ended reports: what Recv said,
// or that it ended early.
func streamBroke(err error) error {
	if err == nil {
		return errors.New("PushStream ended early")
	}
	return err
}

// streamResults reads the stream's results until it ends, frees a slot of
// inFlight for each and counts it. It returns nil at the end of a stream
// the caller closed, else the stream's error.
func (d *driver) streamResults(st pushStream, id int, inFlight chan struct{}, s *stepSend, totals *runningTotals) error {
	for {
		res, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		<-inFlight
		sent, expected, err := parseCorrelation(res.GetCorrelationId())
		if err != nil {
			s.fail(err)
			continue
		}
		if res.GetCode() != 0 {
			s.fail(status.ErrorProto(&spb.Status{Code: int32(res.GetCode()), Message: res.GetMessage()}))
			continue
		}
		s.kinds[kindUsers].Add(1)
		s.calls.record(id, time.Now().UnixNano()-sent)
		s.sent.Add(1)
		s.expected.Add(expected)
		s.serverDelivered.Add(int64(res.GetDelivered()))
		totals.sent.Add(1)
		totals.expected.Add(expected)
	}
}

// appendCorrelation writes a request's correlation id: its send time
// (UnixNano) and the deliveries it should make, as "<ns>.<n>".
func appendCorrelation(b []byte, sent time.Time, expected int64) []byte {
	b = strconv.AppendInt(b, sent.UnixNano(), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, expected, 10)
}

// parseCorrelation reads what appendCorrelation wrote.
func parseCorrelation(id string) (sentNs, expected int64, err error) {
	a, b, ok := strings.Cut(id, ".")
	sentNs, err1 := strconv.ParseInt(a, 10, 64)
	expected, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("a result with a correlation id this run did not send: %q", id)
	}
	return sentNs, expected, nil
}
