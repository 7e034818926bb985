package recommend

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus metrics.
type metrics struct {
	cache         *prometheus.CounterVec // cache, result: hit, stale, miss
	evictions     *prometheus.CounterVec // cache
	buildSeconds  *prometheus.HistogramVec
	buildFailures *prometheus.CounterVec
	modelLoads    *prometheus.CounterVec // result: loaded, refused
	answers       *prometheus.CounterVec // list, source
	// embedFailures counts searches whose query could not be embedded
	// (answered by their words alone).
	embedFailures prometheus.Counter
	// unknownItems counts the items of histories the serving model
	// version does not know (skipped in its query).
	unknownItems prometheus.Counter
	// llmRerank counts lists the chat model ordered, or whose order was
	// kept (its error, timeout or invalid answer).
	llmRerank *prometheus.CounterVec
	// llmSentences counts lists whose reasons the chat model wrote as
	// sentences, or kept (its error, timeout or invalid answer).
	llmSentences *prometheus.CounterVec

	// Counters looked up once, for the request path.
	histHit, histStale, histMiss prometheus.Counter
	attrHit, attrStale, attrMiss prometheus.Counter
	// rankHit: a personal list filtered from a history's cached ranking;
	// rankMiss: the ranking computed and cached; rankShort: the cached
	// ranking held too few items that pass the rules, asked in full.
	rankHit, rankMiss, rankShort prometheus.Counter
	// filteredHit: a personal list under rules given again from the
	// history's last answer under the same rules (a deterministic model
	// that does not rank fixed); filteredMiss: asked and kept.
	filteredHit, filteredMiss prometheus.Counter
	answered                  map[[2]string]prometheus.Counter // list, source
}

// answeredBy returns the counter of a list answered by a source.
func (m *metrics) answeredBy(list List, source string) prometheus.Counter {
	if c, ok := m.answered[[2]string{string(list), source}]; ok {
		return c
	}
	return m.answers.WithLabelValues(string(list), source)
}

// newMetrics makes the metrics and registers them with reg (nil: none).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_cache_requests_total",
			Help: "Lookups in the engine's caches of shopper histories, attributes and rankings (a history's best-scored items under a model version), by result: hit, stale (answered while read again), miss, short (a ranking too short for the request's rules)."},
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
		llmSentences: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_llm_sentences_total",
			Help: "Lists asked for sentences: written by the chat model, or the reasons kept (its error, timeout or invalid answer)."}, []string{"result"}),
		llmRerank: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_llm_rerank_total",
			Help: "Lists of scenarios with llm_rerank: ordered by the chat model, or kept in the recommender's order (its error, timeout or invalid answer)."}, []string{"result"}),
		embedFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_search_embedding_failures_total",
			Help: "Searches whose query the embedder could not embed (a provider's error or timeout): answered by their words alone."}),
		unknownItems: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_history_items_unknown_total",
			Help: "Items of shoppers' and sessions' histories that the serving model version does not know (newer than it): left out of its query."}),
	}
	if reg != nil {
		reg.MustRegister(m.cache, m.evictions, m.buildSeconds, m.buildFailures, m.modelLoads, m.answers, m.embedFailures, m.llmRerank, m.llmSentences, m.unknownItems)
	}
	m.histHit, m.histStale, m.histMiss = m.cache.WithLabelValues("histories", "hit"), m.cache.WithLabelValues("histories", "stale"), m.cache.WithLabelValues("histories", "miss")
	m.attrHit, m.attrStale, m.attrMiss = m.cache.WithLabelValues("attributes", "hit"), m.cache.WithLabelValues("attributes", "stale"), m.cache.WithLabelValues("attributes", "miss")
	m.rankHit, m.rankMiss, m.rankShort = m.cache.WithLabelValues("rankings", "hit"), m.cache.WithLabelValues("rankings", "miss"), m.cache.WithLabelValues("rankings", "short")
	m.filteredHit, m.filteredMiss = m.cache.WithLabelValues("filtered answers", "hit"), m.cache.WithLabelValues("filtered answers", "miss")
	m.answered = map[[2]string]prometheus.Counter{}
	for list, sources := range precedence {
		for _, src := range append(slices.Clone(sources), source{name: "none"}) {
			m.answered[[2]string{string(list), src.name}] = m.answers.WithLabelValues(string(list), src.name)
		}
	}
	return m
}
