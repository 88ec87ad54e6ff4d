package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/pushsvc"
)

// statsCollector exports pushsvc's gauges and counters at scrape time, so
// the hot path counts once (in pushsvc) and Prometheus and GetStats can
// never disagree. Its metrics are those pushsvc.StatDefs declare.
type statsCollector struct {
	svc   *pushsvc.Service
	descs map[string]*prometheus.Desc // by metric name; immutable
}

// kindLabel is the label that tells apart the numbers sharing a metric
// (pushsvc.StatDef.MetricKind).
const kindLabel = "kind"

func newStatsCollector(svc *pushsvc.Service) *statsCollector {
	c := &statsCollector{svc: svc, descs: make(map[string]*prometheus.Desc)}
	for _, d := range pushsvc.StatDefs() {
		if _, ok := c.descs[d.Metric]; ok {
			continue // a number that shares its metric with one before
		}
		var labels []string
		if d.MetricKind != "" {
			labels = []string{kindLabel}
		}
		c.descs[d.Metric] = prometheus.NewDesc(d.Metric, d.Help, labels, nil)
	}
	return c
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for d, v := range c.svc.Stats(context.Background()).All() {
		t := prometheus.CounterValue
		if d.Kind == pushsvc.Gauge {
			t = prometheus.GaugeValue
		}
		var labels []string
		if d.MetricKind != "" {
			labels = []string{d.MetricKind}
		}
		ch <- prometheus.MustNewConstMetric(c.descs[d.Metric], t, float64(v), labels...)
	}
}
