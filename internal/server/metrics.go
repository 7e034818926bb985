package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's Prometheus metrics.
type metrics struct {
	requests    *prometheus.CounterVec   // route, code
	duration    *prometheus.HistogramVec // route, code
	ingested    *prometheus.CounterVec   // result: inserted, duplicate
	storeErrors prometheus.Counter
}

// newMetrics makes the metrics and registers them with reg (nil: none).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_http_requests_total",
			Help: "HTTP requests, by route (method and path pattern) and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tailor_http_request_duration_seconds",
			Help:    "HTTP request latency, by route and status code.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}}, []string{"route", "code"}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_events_ingested_total",
			Help: "Events posted to the API: stored (inserted), or dropped as duplicates of a stored id."}, []string{"result"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_store_errors_total",
			Help: "Requests that failed on the store or the server (answered 500 or 503)."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.ingested, m.storeErrors)
	}
	return m
}

// observer records one route's requests; the common status (200) has its
// metrics looked up once.
type observer struct {
	m           *metrics
	route       string
	okCount     prometheus.Counter
	okDurations prometheus.Observer
}

func (m *metrics) observer(route string) *observer {
	return &observer{m: m, route: route, okCount: m.requests.WithLabelValues(route, "200"), okDurations: m.duration.WithLabelValues(route, "200")}
}

func (o *observer) observe(status int, d time.Duration) {
	if status == http.StatusOK {
		o.okCount.Inc()
		o.okDurations.Observe(d.Seconds())
		return
	}
	code := strconv.Itoa(status)
	o.m.requests.WithLabelValues(o.route, code).Inc()
	o.m.duration.WithLabelValues(o.route, code).Observe(d.Seconds())
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// metricsHandler serves the Prometheus text format of g.
func metricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
