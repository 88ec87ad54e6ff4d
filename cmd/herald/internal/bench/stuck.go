package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/server/tokens"
)

// stuckClients complete the upgrade and then never read, from 127.0.0.253:
// slow consumers, to measure what they cost everyone else. They get the
// run's broadcasts like every client; the server should close them (4003)
// when their send queues fill, which the step's server counters show.
type stuckClients struct {
	conns []*gws.Conn
}

func startStuck(ctx context.Context, cfg Config) (*stuckClients, error) {
	s := &stuckClients{}
	for i := range cfg.Stuck {
		tok, err := tokens.Mint([]byte(cfg.JWTSecret), tokens.MintClaims{UserID: fmt.Sprintf("bench-stuck-%d", i), TTL: time.Hour})
		if err != nil {
			s.stop()
			return nil, err
		}
		conn, _, err := gws.NewClient(gws.BuiltinEventHandler{}, &gws.ClientOption{
			Addr:          cfg.WSURL,
			RequestHeader: http.Header{"Authorization": {"Bearer " + tok}},
			NewDialer: func() (gws.Dialer, error) {
				return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 253)}}, nil
			},
		})
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("stuck client: %w", err)
		}
		// No ReadLoop: nothing is ever read from this socket.
		s.conns = append(s.conns, conn)
	}
	return s, ctx.Err()
}

func (s *stuckClients) stop() {
	for _, c := range s.conns {
		_ = c.NetConn().Close()
	}
}
