package grpcapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

// panicService is a service registered only in this test, whose methods
// panic: the recovery interceptor must turn that into Internal and keep
// the server up.
var panicService = grpc.ServiceDesc{
	ServiceName: "herald.test.Panicker",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Panic",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { panic("boom") }
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/herald.test.Panicker/Panic"}
			return interceptor(ctx, in, info, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "PanicStream",
		ServerStreams: true,
		Handler:       func(any, grpc.ServerStream) error { panic("boom in a stream") },
	}},
}

func TestPanicBecomesInternal(t *testing.T) {
	var logs syncBuffer
	ts := startAPI(t, setup{
		opts:     grpcapi.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		register: func(s *grpc.Server) { s.RegisterService(&panicService, struct{}{}) },
	})
	conn := dial(t, ts.addr, testKey)
	ctx := testContext(t)

	err := conn.Invoke(ctx, "/herald.test.Panicker/Panic", &emptypb.Empty{}, &emptypb.Empty{})
	wantCode(t, err, codes.Internal)

	st, err := conn.NewStream(ctx, &panicService.Streams[0], "/herald.test.Panicker/PanicStream")
	if err == nil {
		// SendMsg reports io.EOF when the server has already ended the
		// call; RecvMsg then tells why.
		if err = st.SendMsg(&emptypb.Empty{}); err == nil || errors.Is(err, io.EOF) {
			err = st.RecvMsg(&emptypb.Empty{})
		}
	}
	wantCode(t, err, codes.Internal)

	// The server still serves, and logged the panic.
	if _, err := ts.client.GetStats(ctx, &pushv1.GetStatsRequest{}); err != nil {
		t.Errorf("after the panics: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, "panic=boom") || !strings.Contains(out, "Panicker/Panic") {
		t.Errorf("log does not record the panic and its method:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
