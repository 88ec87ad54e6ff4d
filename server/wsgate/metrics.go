package wsgate

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own Prometheus series; the push counters come
// from pushsvc's Stats.
type metrics struct {
	connections prometheus.Gauge
	handshakes  *prometheus.CounterVec
	closes      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.handshakes, m.closes)
	}
	return m
}

// gwsLogger routes gws's logs to slog.
type gwsLogger struct{ l *slog.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Error("gws", "msg", v) }
