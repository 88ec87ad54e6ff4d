package wsgate

import (
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own Prometheus series; the push counters come
// from pushsvc's Stats.
type metrics struct {
	connections prometheus.Gauge
	handshakes  *prometheus.CounterVec
	closes      *prometheus.CounterVec
	frameFloods prometheus.Counter
	ipsEvicted  prometheus.Counter
	// lingerSkipped counts closes that could not linger: maxLingering
	// sockets were lingering already.
	lingerSkipped prometheus.Counter
	// flushWait is how long a session's flush waited for a writer.
	flushWait prometheus.Histogram
	// gauges read from the gateway at scrape time
	users, ips, limiterIPs, lingering prometheus.GaugeFunc
}

// codeLabel is a close code as the label of herald_ws_closes_total.
func codeLabel(code uint16) string { return strconv.Itoa(int(code)) }

// Handshake results, the label of herald_ws_handshakes_total: ok,
// draining, rate_limited (429), origin (403), bad_request (400),
// unauthorized and expired (401), limit, limit_ip and limit_user (503),
// upgrade_failed, internal.

func newMetrics(reg prometheus.Registerer, g *Gateway) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_ws_connections", Help: "Open WebSocket connections.",
		}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ws_handshakes_total", Help: "WebSocket handshakes by result.",
		}, []string{"result"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ws_closes_total", Help: "WebSocket connections closed, by close code the server sent, or client/abnormal.",
		}, []string{"code"}),
		frameFloods: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_ws_frame_rate_closes_total", Help: "WebSocket connections closed with 1008 for sending frames over client-frames-per-second.",
		}),
		ipsEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_ws_handshake_limiter_evictions_total", Help: "Client IPs the handshake rate limiter forgot before they were idle, to stay within its bound (a flood from many addresses).",
		}),
		lingerSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_ws_linger_skipped_total", Help: "WebSocket sockets closed at once after their close frame, without lingering, because the most that may linger at once were lingering.",
		}),
		flushWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_ws_flush_wait_seconds",
			Help: "How long a session's flush waited for a WebSocket writer, from scheduled to running: during a broadcast, the server's share of the delivery latency, bar the write.",
			// 100 µs to 10 s, each bucket a third wider than the last.
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 10, 41),
		}),
		lingering: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_ws_lingering", Help: "WebSocket sockets lingering after their close frame: reading and discarding until the client closes, for at most 2s.",
		}, func() float64 { return float64(g.lingers.count()) }),
		users: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_ws_counted_users", Help: "Users counted against max-connections-per-user: those with connections.",
		}, func() float64 { return float64(g.perUser.keys()) }),
		ips: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_ws_counted_ips", Help: "Client IPs counted against max-connections-per-ip: those with connections or handshakes in progress.",
		}, func() float64 { return float64(g.perIP.keys()) }),
		limiterIPs: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_ws_handshake_limiter_ips", Help: "Client IPs the handshake rate limiter remembers.",
		}, func() float64 {
			if g.handshakes == nil {
				return 0
			}
			return float64(g.handshakes.size())
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.handshakes, m.closes, m.frameFloods, m.ipsEvicted, m.lingerSkipped, m.flushWait, m.users, m.ips, m.limiterIPs, m.lingering)
	}
	return m
}

// gwsLogger routes gws's logs to slog.
type gwsLogger struct{ l *slog.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Error("gws", "msg", v) }
