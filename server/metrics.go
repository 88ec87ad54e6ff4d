package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/pushsvc"
)

// statsCollector exports pushsvc's counters at scrape time, so the hot path
// counts once (in pushsvc) and Prometheus and GetStats can never disagree.
type statsCollector struct {
	svc *pushsvc.Service

	connections, users, groups                     *prometheus.Desc
	pushes, calls, deliveries, batches, duplicates *prometheus.Desc
	messagesIn, bytesIn, messagesOut, bytesOut     *prometheus.Desc
	drops, slow                                    *prometheus.Desc
}

func newStatsCollector(svc *pushsvc.Service) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("herald_"+name, help, labels, nil)
	}
	return &statsCollector{
		svc:         svc,
		connections: d("connections", "Open client connections (sessions)."),
		users:       d("users", "Users with at least one connection."),
		groups:      d("groups", "Groups with a member or a connection."),
		pushes:      d("publications_total", "Pushes published, one per stream."),
		calls:       d("pushes_total", "Push requests by kind.", "kind"),
		deliveries:  d("deliveries_total", "Pushes queued to connections."),
		batches:     d("batches_total", "PushBatch frames written."),
		duplicates:  d("duplicate_pushes_total", "Pushes refused as repeats of an idempotency key."),
		messagesIn:  d("messages_in_total", "Frames received from clients."),
		bytesIn:     d("bytes_in_total", "Bytes of frames received from clients."),
		messagesOut: d("messages_out_total", "Frames written to clients."),
		bytesOut:    d("bytes_out_total", "Bytes written to clients: raw frames before compression, and wire bytes.", "kind"),
		drops:       d("queue_drops_total", "Frames dropped from full or closed send queues."),
		slow:        d("slow_consumer_disconnects_total", "Connections closed with 4003."),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.users, c.groups, c.pushes, c.calls, c.deliveries,
		c.batches, c.duplicates, c.messagesIn, c.bytesIn, c.messagesOut, c.bytesOut, c.drops, c.slow} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.svc.Stats(context.Background())
	gauge := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.connections, st.Connections)
	gauge(c.users, st.Users)
	gauge(c.groups, st.Groups)
	counter(c.pushes, st.Pushes)
	for kind, n := range st.PushCalls {
		counter(c.calls, n, kind)
	}
	counter(c.deliveries, st.Deliveries)
	counter(c.batches, st.Batches)
	counter(c.duplicates, st.Duplicates)
	counter(c.messagesIn, st.MessagesIn)
	counter(c.bytesIn, st.BytesIn)
	counter(c.messagesOut, st.MessagesOut)
	counter(c.bytesOut, st.BytesOutRaw, "raw")
	counter(c.bytesOut, st.BytesOutWire, "wire")
	counter(c.drops, st.Drops)
	counter(c.slow, st.SlowConsumerDisconnects)
}
