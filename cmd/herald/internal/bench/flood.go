package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/server/tokens"
)

// FloodReport is what the abusive connections of --flood did.
type FloodReport struct {
	Connections int            `json:"connections"`
	Dials       int64          `json:"dials"`
	FramesSent  int64          `json:"frames_sent"`
	Closes      map[string]int `json:"closes"` // by the close code the server sent
}

// flooder keeps n connections sending Ping frames back to back, dialling
// again after each close, to measure what misbehaving clients cost the
// others. It runs in the coordinating process, from 127.0.0.254.
type flooder struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dials  atomic.Int64
	frames atomic.Int64

	mu     sync.Mutex // guards closes
	closes map[string]int
	n      int
}

func startFlood(ctx context.Context, cfg Config) *flooder {
	ctx, cancel := context.WithCancel(ctx)
	f := &flooder{cancel: cancel, closes: map[string]int{}, n: cfg.Flood}
	frame, _ := proto.Marshal(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: 1}}})
	for i := range cfg.Flood {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for ctx.Err() == nil {
				f.once(ctx, cfg, fmt.Sprintf("bench-flood-%d", i), frame)
			}
		}()
	}
	return f
}

type floodHandler struct {
	gws.BuiltinEventHandler
	closed chan struct{}
	err    error
}

func (h *floodHandler) OnClose(_ *gws.Conn, err error) { h.err = err; close(h.closed) }

// once dials, floods until the connection ends, and records why it ended.
func (f *flooder) once(ctx context.Context, cfg Config, user string, frame []byte) {
	tok, err := tokens.Mint([]byte(cfg.JWTSecret), tokens.MintClaims{UserID: user, TTL: time.Hour})
	if err != nil {
		f.record("mint: " + err.Error())
		f.cancel()
		return
	}
	f.dials.Add(1)
	h := &floodHandler{closed: make(chan struct{})}
	conn, _, err := gws.NewClient(h, &gws.ClientOption{
		Addr:          cfg.WSURL,
		RequestHeader: http.Header{"Authorization": {"Bearer " + tok}},
		NewDialer: func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 254)}}, nil
		},
	})
	if err != nil {
		f.record("dial failed")
		t := time.NewTimer(100 * time.Millisecond) // do not spin on a refusing server
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return
	}
	go conn.ReadLoop()
	for ctx.Err() == nil {
		if conn.WriteMessage(gws.OpcodeBinary, frame) != nil {
			break
		}
		f.frames.Add(1)
	}
	if ctx.Err() != nil {
		_ = conn.NetConn().Close()
	}
	<-h.closed
	var ce *gws.CloseError
	if errors.As(h.err, &ce) {
		f.record(fmt.Sprint(ce.Code))
	} else if ctx.Err() == nil {
		f.record("abnormal")
	}
}

func (f *flooder) record(reason string) {
	f.mu.Lock()
	f.closes[reason]++
	f.mu.Unlock()
}

// stop ends the flood and reports it.
func (f *flooder) stop() *FloodReport {
	f.cancel()
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return &FloodReport{Connections: f.n, Dials: f.dials.Load(), FramesSent: f.frames.Load(), Closes: cloneMap(f.closes)}
}
