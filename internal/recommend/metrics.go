package recommend

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus metrics.
type metrics struct {
	cache         *prometheus.CounterVec // cache, result: hit, stale, miss
	evictions     *prometheus.CounterVec // cache
	buildSeconds  *prometheus.HistogramVec
	buildFailures *prometheus.CounterVec
	modelLoads    *prometheus.CounterVec // result: loaded, refused
	answers       *prometheus.CounterVec // list, source
}

// newMetrics makes the metrics and registers them with reg (nil: none).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_cache_requests_total",
			Help: "Lookups in the engine's caches of shopper histories and attributes, by result: hit, stale (answered while read again), miss."},
			[]string{"cache", "result"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_cache_evictions_total",
			Help: "Entries evicted from the engine's bounded caches (least recently used first)."}, []string{"cache"}),
		buildSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tailor_build_duration_seconds",
			Help:    "Durations of the engine's background builds (trending, texts, shop models, registry, scenarios, impressions).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"builder"}),
		buildFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_build_failures_total",
			Help: "Background builds that failed; the last good snapshot keeps serving."}, []string{"builder"}),
		modelLoads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_model_loads_total",
			Help: "Model versions loaded, or refused (the current one keeps serving)."}, []string{"result"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_recommendation_lists_total",
			Help: "Lists served, by list and by the source that answered."}, []string{"list", "source"}),
	}
	if reg != nil {
		reg.MustRegister(m.cache, m.evictions, m.buildSeconds, m.buildFailures, m.modelLoads, m.answers)
	}
	return m
}
