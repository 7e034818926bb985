// Package recommend is Tailor's online recommender: one engine for every
// list a shop shows (personal recommendations, similar items, trending,
// search, session recommendations, bought together, cart additions, buy it
// again). Each list is answered by the first of its candidate sources (see
// the precedence table in sources.go) that has something to say, under the
// same business rules and scenarios, with a recommendation id for
// attribution and impressions counted. Shoppers are scored from their live
// histories, so an event changes their next answer without retraining; the
// active model version is hot-swapped atomically.
//
// Nothing is built on a request: background builders (trending, the search
// index and content vectors, the shop models for baskets, sessions and
// repurchases, the registry follower) run under Run, and requests read
// immutable snapshots behind atomic pointers.
package recommend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/llm"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/topk"
)

// MaxN is the most items one response may hold, and MaxOffset the deepest
// page.
const (
	MaxN      = 100
	MaxOffset = 1000
)

// ErrNoModel is returned when the slot has no usable model version.
var ErrNoModel = errors.New("no model version is active: run 'tailor train' (or activate a version)")

// Source is what the engine reads from the store.
type Source interface {
	store.EventReader
	store.ItemReader
	store.UserReader
	store.ModelRegistry
	store.ScenarioStore
	store.ImpressionStore
	store.Counter
}

// Options configure an Engine. Zero fields take the documented defaults.
type Options struct {
	// Slot is the recommender slot served (default "default").
	Slot string
	// Embedder, when set, embeds the catalog and the queries so that
	// search finds items by meaning as well as by their words (a hybrid
	// of both, package semantic, with its DefaultText BM25 share): word
	// vectors (llm/glove) or a provider's model. Nil searches by words.
	// A query it cannot embed is answered by its words (counted in
	// /metrics). QueryEmbedder, when set, embeds the queries instead (the
	// same model without a cache that would keep every query).
	Embedder, QueryEmbedder llm.Embedder
	// LLMRanker, when set, orders the lists of scenarios with
	// llm_rerank (nil: such scenarios keep the recommender's order).
	LLMRanker LLMRanker
	// Sentencer, when set, writes the sentences of requests that ask for
	// them (Request.Sentences).
	Sentencer Sentencer
	// Weights is what each event type counts for in a live history
	// (default DefaultWeights); types not listed are ignored.
	Weights map[tailor.EventType]float64
	// Exclude are the event types whose items are never recommended to
	// the shopper again (default DefaultExclude: purchases and ratings).
	// Returned items are always excluded.
	Exclude []tailor.EventType
	// HistoryLimit is the number of a shopper's newest events read (default
	// 500), and HistoryTTL how long a history read from the store is
	// reused (default 30 s). Events posted through the API drop the
	// shopper's cached history at once, so they count from the next
	// request; the TTL bounds how long events written by another process
	// (a concurrent 'tailor import') go unseen.
	HistoryLimit int
	HistoryTTL   time.Duration
	// CacheSize is the most shoppers whose histories (and, apart, whose
	// attributes) are kept in memory, least recently used first out
	// (default 100,000).
	CacheSize int
	// Ranking is how many of a shopper's best-scored items are kept with
	// their cached history, per model version (default 128, 8 bytes an
	// item; a negative value keeps none): a personal list whose rules only
	// filter is then its first items that pass them, without scoring the
	// catalog again. Lists that need more, or boosts, or a scenario's own
	// exclusions, are scored in full. A model whose answers the history
	// determines without ranking fixed (model.Deterministic) has its
	// ranking kept for plain requests, and its last answer under rules for
	// the next request with the same rules (until the catalog changes);
	// a negative value keeps neither.
	Ranking int
	// Shared, if not nil, keeps the rankings this engine computes
	// (personal lists from histories, similar items) where other
	// replicas find them, and is read before computing one (package
	// hotcache).
	Shared SharedRankings
	// TrendingHalfLife is the half-life of trending scores (default 7 days),
	// measured back from the newest event.
	TrendingHalfLife time.Duration
	// SyncEvery is how often Run follows the slot's active version
	// (default 2 s), TrendEvery how often it recomputes trending (default
	// 1 min), ShopEvery how often it rebuilds the shop models (bought
	// together, sessions, buy again; default 10 min), TextEvery how often
	// it checks whether the catalog changed since the search index and the
	// content vectors were built (default 5 s), and ScenarioEvery how often
	// it reads the scenarios again, for changes made by another process
	// (default 10 s).
	SyncEvery, TrendEvery, ShopEvery, TextEvery, ScenarioEvery time.Duration
	// Lookup finds model kinds by name (package all's Lookup).
	Lookup func(name string) (model.Info, error)
	// Logger receives load and build failures; nil discards.
	Logger *slog.Logger
	// Registerer, if not nil, receives the engine's metrics.
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultWeights are the live-history weights of the built-in event types.
func DefaultWeights() map[tailor.EventType]float64 {
	return map[tailor.EventType]float64{"view": 1, "click": 2, "add_to_cart": 4, "purchase": 8, "rating": 1}
}

// DefaultExclude are the event types whose items are not recommended to a
// shopper again: what they bought and what they rated.
func DefaultExclude() []tailor.EventType {
	return []tailor.EventType{tailor.Purchase, tailor.Rating}
}

// Engine serves recommendations. It is safe for concurrent use.
type Engine struct {
	src  Source
	opts Options
	log  *slog.Logger
	met  *metrics

	// builds numbers each published build of a model version, the shop
	// models and the texts (their build fields), so that what a cached
	// history keeps names what it was computed from without keeping it
	// alive: a history cached before a hot swap would otherwise hold the
	// old version's matrices.
	builds atomic.Uint64

	cur   atomic.Pointer[state]
	trend atomic.Pointer[trending]
	shop  atomic.Pointer[shop]
	texts atomic.Pointer[texts]
	scen  atomic.Pointer[scenarios]

	catMu   sync.RWMutex
	catalog map[tailor.ItemID]*meta

	// histories and attributes of shoppers, least recently used first
	// out; histMu makes a read's check-and-store atomic.
	histMu sync.Mutex
	hist   *lru.Cache[tailor.UserID, *history]
	attrs  *lru.Cache[tailor.UserID, *userAttrs]
	// refreshing bounds the background reads of stale histories and
	// attributes, so that a cache expiring for many shoppers at once
	// does not flood the store; bg tracks them.
	refreshing chan struct{}
	bgMu       sync.Mutex // guards stopping and the adds to bg
	bg         sync.WaitGroup
	stopping   bool

	// versions are loaded model versions other than the active one (A/B
	// tests), least recently used first out; loads collapses concurrent
	// loads of one version.
	versions *lru.Cache[string, *state]
	loads    singleflight.Group

	impMu sync.Mutex
	imp   map[impKey][2]int64 // responses and items, not yet flushed

	convs   sync.Pool // *converted: a request's history in a model's indices
	cands   sync.Pool // *[]cand: a request's candidates from a model version
	resps   sync.Pool // *Response: answers given back by Response.Release
	asks    sync.Pool // *ask: requests being answered
	entries sync.Pool // *[]topk.Entry: a cached ranking's entries under a request's rules
	// builtin are the built-in event types: a history keeps an event's
	// type as one of these shared strings when it is one.
	builtin []tailor.EventType

	loadCount, loadFailures atomic.Int64

	catalogChanged atomic.Bool // since the texts were built
	// catGen counts the catalog's changes (under catMu): a history's
	// filtered answer (filtered) holds only under the catalog it was
	// filtered by.
	catGen   atomic.Uint64
	warm     chan struct{}
	warmOnce sync.Once
}

// New returns an engine over src. Call Start, then Run, before serving.
func New(src Source, opts Options) (*Engine, error) {
	if opts.Lookup == nil {
		return nil, errors.New("recommend: Options.Lookup is required")
	}
	if opts.Slot == "" {
		opts.Slot = "default"
	}
	if opts.Weights == nil {
		opts.Weights = DefaultWeights()
	}
	if opts.Exclude == nil {
		opts.Exclude = DefaultExclude()
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 500
	}
	if opts.HistoryTTL <= 0 {
		opts.HistoryTTL = 30 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
	}
	if opts.Ranking == 0 {
		opts.Ranking = DefaultRanking
	}
	if opts.TrendingHalfLife <= 0 {
		opts.TrendingHalfLife = 7 * 24 * time.Hour
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&opts.SyncEvery, 2 * time.Second}, {&opts.TrendEvery, time.Minute}, {&opts.ShopEvery, 10 * time.Minute},
		{&opts.TextEvery, 5 * time.Second}, {&opts.ScenarioEvery, 10 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Engine{src: src, opts: opts, log: log, met: newMetrics(opts.Registerer), warm: make(chan struct{}), catalog: map[tailor.ItemID]*meta{},
		refreshing: make(chan struct{}, 2), imp: map[impKey][2]int64{}}
	var err error
	if e.hist, err = lru.NewWithEvict(opts.CacheSize, func(tailor.UserID, *history) { e.met.evictions.WithLabelValues("histories").Inc() }); err != nil {
		return nil, err
	}
	if e.attrs, err = lru.NewWithEvict(opts.CacheSize, func(tailor.UserID, *userAttrs) { e.met.evictions.WithLabelValues("attributes").Inc() }); err != nil {
		return nil, err
	}
	if e.versions, err = lru.New[string, *state](4); err != nil {
		return nil, err
	}
	e.scen.Store(&scenarios{rules: map[string]Rules{}})
	e.convs.New = func() any { return &converted{} }
	e.cands.New = func() any { return new([]cand) }
	e.resps.New = func() any { return &Response{pool: &e.resps} }
	e.asks.New = func() any { return new(ask) }
	e.entries.New = func() any { return new([]topk.Entry) }
	e.builtin = tailor.BuiltinEventTypes()
	return e, nil
}

// state is one loaded model version; it never changes once published
// (but for meta and fresh, which follow the catalog under catMu).
type state struct {
	build   uint64 // see Engine.builds
	version store.ModelVersion
	model   model.Model
	explain model.Explainer // nil when the model cannot say
	similar bool            // the model answers similar-item queries
	ids     []tailor.ItemID
	index   map[tailor.ItemID]int32
	// meta is the catalog entry of each index (nil: not in the catalog),
	// and fresh the available catalog items the model does not know;
	// guarded by the engine's catMu, which keeps them in step with catalog.
	meta  []*meta
	fresh []tailor.ItemID
	// similarTo caches each item's similar items under the version (nil
	// when the model does not rank them fixed, or Options.Ranking is off).
	similarTo []atomic.Pointer[ranking]
	// freshGen counts the changes of fresh, so that what is computed
	// from it can be cached.
	freshGen atomic.Uint64
}

// Status describes what the engine serves.
type Status struct {
	Version      *store.ModelVersion `json:"version"`
	Items        int                 `json:"items"`
	Loads        int64               `json:"loads"`
	LoadFailures int64               `json:"load_failures"`
}

// Status reports the served version and the load counters.
func (e *Engine) Status() Status {
	st := Status{Loads: e.loadCount.Load(), LoadFailures: e.loadFailures.Load()}
	if s := e.cur.Load(); s != nil {
		v := s.version
		st.Version, st.Items = &v, len(s.ids)
	}
	return st
}

// Start loads the catalog, the scenarios, the active version (if any) and
// the trending scores. A missing active version is not an error: the
// engine then answers with trending items until one is activated.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.RefreshCatalog(ctx); err != nil {
		return err
	}
	if err := e.RefreshScenarios(ctx); err != nil {
		return err
	}
	if err := e.RefreshTrending(ctx); err != nil {
		return err
	}
	if err := e.Sync(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Run keeps the engine current until ctx is done. It first builds the
// search index, the content vectors and the shop models (closing Warm),
// then runs its background builders, each a goroutine of its own: the
// registry follower (every SyncEvery), trending (TrendEvery), the shop
// models (ShopEvery), the texts when the catalog changed (TextEvery), the
// scenarios (ScenarioEvery) and the impression writer (every 10 s). A
// failed build keeps the last good snapshot serving; it is logged and
// counted. Run returns once every builder and background read has
// stopped, after writing the impressions not yet written.
func (e *Engine) Run(ctx context.Context) error {
	e.build(ctx, "texts", e.rebuildTexts)
	e.build(ctx, "shop", e.buildShop)
	e.warmOnce.Do(func() { close(e.warm) })
	var wg sync.WaitGroup
	every := func(name string, d time.Duration, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					e.build(ctx, name, fn)
				}
			}
		}()
	}
	every("registry", e.opts.SyncEvery, func(ctx context.Context) error {
		if err := e.Sync(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	every("trending", e.opts.TrendEvery, e.buildTrending)
	every("shop", e.opts.ShopEvery, e.buildShop)
	every("texts", e.opts.TextEvery, func(ctx context.Context) error {
		if !e.catalogChanged.Load() {
			return errUnchanged
		}
		return e.rebuildTexts(ctx)
	})
	every("scenarios", e.opts.ScenarioEvery, e.RefreshScenarios)
	every("impressions", 10*time.Second, e.FlushImpressions)
	<-ctx.Done()
	wg.Wait()
	e.bgMu.Lock()
	e.stopping = true
	e.bgMu.Unlock()
	e.bg.Wait()
	return e.FlushImpressions(context.WithoutCancel(ctx))
}

// errUnchanged is returned by a builder that found nothing changed since
// its last build, and so built nothing.
var errUnchanged = errors.New("unchanged")

// build runs one build, timing it and counting a failure (the snapshot
// it would replace keeps serving).
func (e *Engine) build(ctx context.Context, name string, fn func(context.Context) error) {
	start := time.Now()
	err := fn(ctx)
	if errors.Is(err, errUnchanged) {
		return // nothing to build: not timed as a build
	}
	e.met.buildSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil && ctx.Err() == nil {
		e.met.buildFailures.WithLabelValues(name).Inc()
		e.log.Error("a background build failed; the last good one keeps serving", slog.String("builder", name), slog.Any("err", err))
	}
}

// Warm is closed once Run has built the search index, the content vectors
// and the shop models, which it does first; until then the lists that
// need them fall back to the next source.
func (e *Engine) Warm() <-chan struct{} { return e.warm }

// Sync loads the slot's active version if it is not the one served.
func (e *Engine) Sync(ctx context.Context) error {
	v, err := e.src.ActiveModel(ctx, e.opts.Slot)
	if err != nil {
		return err
	}
	if s := e.cur.Load(); s != nil && s.version.ID == v.ID {
		return nil
	}
	return e.Load(ctx, v.ID)
}

// Load reads a version from the registry, checks it and swaps it in
// atomically: requests already running finish on the old version, new ones
// use the new. A version that fails to load or check is refused (logged
// and counted) and the current one keeps serving.
func (e *Engine) Load(ctx context.Context, id string) error {
	s, err := e.loadVersion(ctx, id)
	if err != nil {
		return err
	}
	e.catMu.Lock()
	e.attachMeta(s)
	e.cur.Store(s) // under catMu: catalog changes reach the new meta
	e.catMu.Unlock()
	return nil
}

// loadVersion loads a version, once however many ask for it at the same
// time, counting loads and refusals.
func (e *Engine) loadVersion(ctx context.Context, id string) (*state, error) {
	v, err, _ := e.loads.Do(id, func() (any, error) {
		s, err := e.load(ctx, id)
		if err != nil {
			e.loadFailures.Add(1)
			e.met.modelLoads.WithLabelValues("refused").Inc()
			e.log.Error("refused a model version; the previous one keeps serving", slog.String("version", id), slog.Any("err", err))
			return nil, err
		}
		e.loadCount.Add(1)
		e.met.modelLoads.WithLabelValues("loaded").Inc()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*state), nil
}

// attachMeta points each of s's indices at its catalog entry; the caller
// holds catMu.
func (e *Engine) attachMeta(s *state) {
	s.meta = make([]*meta, len(s.ids))
	for i, id := range s.ids {
		s.meta[i] = e.catalog[id]
	}
	s.freshGen.Add(1)
	s.fresh = s.fresh[:0]
	for id, m := range e.catalog {
		if _, ok := s.index[id]; !ok && m.available {
			s.fresh = append(s.fresh, id)
		}
	}
	slices.Sort(s.fresh)
}

// setMeta records a catalog change in the served states' and the shop
// models' meta; the caller holds catMu.
func (e *Engine) setMeta(id tailor.ItemID, m *meta) {
	if s := e.cur.Load(); s != nil {
		if i, ok := s.index[id]; ok {
			s.meta[i] = m
		} else if k, found := slices.BinarySearch(s.fresh, id); m != nil && m.available && !found {
			s.fresh = slices.Insert(s.fresh, k, id)
			s.freshGen.Add(1)
		} else if found && (m == nil || !m.available) {
			s.fresh = slices.Delete(s.fresh, k, k+1)
			s.freshGen.Add(1)
		}
	}
	for _, s := range e.versions.Values() {
		if i, ok := s.index[id]; ok {
			s.meta[i] = m
		}
	}
	if sh := e.shop.Load(); sh != nil {
		if i, ok := sh.index[id]; ok {
			sh.meta[i] = m
		}
	}
}

func (e *Engine) load(ctx context.Context, id string) (*state, error) {
	v, err := e.src.ModelVersion(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Slot != e.opts.Slot {
		return nil, fmt.Errorf("model version %s is for slot %q, not %q", id, v.Slot, e.opts.Slot)
	}
	raw, err := e.src.ModelArtifact(ctx, id)
	if err != nil {
		return nil, err
	}
	ids, artifact, err := DecodeBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("model version %s: %w", id, err)
	}
	m, name, _, err := model.LoadBytes(artifact, e.opts.Lookup)
	if err != nil {
		return nil, fmt.Errorf("model version %s: %w", id, err)
	}
	if name != v.Model {
		return nil, fmt.Errorf("model version %s: the artifact holds %s, the registry says %s", id, name, v.Model)
	}
	if !model.Answers(m, model.TaskPersonal) || !model.AnswersHistories(m) {
		return nil, fmt.Errorf("model version %s: %s cannot answer from live histories, so it cannot serve", id, name)
	}
	if s, ok := m.(model.Sized); ok && s.NumItems() == 0 {
		s.SetNumItems(len(ids))
	}
	s := &state{build: e.builds.Add(1), version: v, model: m, ids: make([]tailor.ItemID, len(ids)), index: make(map[tailor.ItemID]int32, len(ids))}
	if e.opts.Ranking > 0 && model.RanksFixed(m, model.TaskSimilar) {
		s.similarTo = make([]atomic.Pointer[ranking], len(ids))
	}
	for i, id := range ids {
		s.ids[i] = tailor.ItemID(id)
		s.index[tailor.ItemID(id)] = int32(i)
	}
	// A smoke test: the model must answer an empty history over exactly
	// its catalog, with finite scores.
	q := model.Query{Task: model.TaskPersonal, User: -1, N: min(len(ids), 10)}
	got, err := m.Answer(&q, nil)
	if err != nil {
		return nil, fmt.Errorf("model version %s: %w", id, err)
	}
	for _, en := range got {
		if !finite(en.Score) || int(en.Index) >= len(ids) || en.Index < 0 {
			return nil, fmt.Errorf("model version %s: answers are not finite scores of its catalog", id)
		}
	}
	s.explain, _ = model.ExplainerOf(m)
	s.similar = model.Answers(m, model.TaskSimilar)
	return s, nil
}

// RefreshCatalog reads every item from the store.
func (e *Engine) RefreshCatalog(ctx context.Context) error {
	cat := map[tailor.ItemID]*meta{}
	if err := store.AllItems(ctx, e.src, func(it *tailor.Item) error {
		m := metaOf(it)
		cat[m.id] = &m
		return nil
	}); err != nil {
		return fmt.Errorf("read the catalog: %w", err)
	}
	e.catMu.Lock()
	e.catGen.Add(1)
	e.catalog = cat
	states := append([]*state{e.cur.Load()}, e.versions.Values()...)
	for _, s := range states {
		if s != nil {
			e.attachMeta(s)
		}
	}
	if sh := e.shop.Load(); sh != nil {
		e.attachShopMeta(sh)
	}
	e.catMu.Unlock()
	e.catalogChanged.Store(true)
	return nil
}

// ItemsChanged updates the catalog with items just written.
func (e *Engine) ItemsChanged(items []tailor.Item) {
	e.catalogChanged.Store(true)
	e.catMu.Lock()
	defer e.catMu.Unlock()
	e.catGen.Add(1)
	for i := range items {
		m := metaOf(&items[i])
		e.catalog[m.id] = &m
		e.setMeta(m.id, &m)
	}
}

// ItemsDeleted removes items from the catalog.
func (e *Engine) ItemsDeleted(ids ...tailor.ItemID) {
	e.catalogChanged.Store(true)
	e.catMu.Lock()
	defer e.catMu.Unlock()
	e.catGen.Add(1)
	for _, id := range ids {
		delete(e.catalog, id)
		e.setMeta(id, nil)
	}
}

// EventsChanged drops the cached histories of the events' shoppers, so
// their next answer reads them again and sees the events (a history read
// that began before is not cached), and adds items the events created.
func (e *Engine) EventsChanged(events []tailor.Event) {
	e.histMu.Lock()
	for i := range events {
		if events[i].UserID != "" {
			e.hist.Add(events[i].UserID, &history{}) // a marker: reads that began before it are not cached
		}
	}
	e.histMu.Unlock()
	e.catMu.Lock()
	for i := range events {
		if _, ok := e.catalog[events[i].ItemID]; !ok {
			m := &meta{id: events[i].ItemID, known: true, available: true, inStock: true}
			e.catalog[events[i].ItemID] = m
			e.setMeta(m.id, m)
			e.catalogChanged.Store(true)
			e.catGen.Add(1)
		}
	}
	e.catMu.Unlock()
}

// UsersDeleted drops what is cached of deleted shoppers.
func (e *Engine) UsersDeleted(ids ...tailor.UserID) { e.UsersChanged(ids...) }

// UsersChanged drops the cached histories and attributes of shoppers
// just written.
func (e *Engine) UsersChanged(ids ...tailor.UserID) {
	e.histMu.Lock()
	defer e.histMu.Unlock()
	for _, id := range ids {
		e.hist.Add(id, &history{}) // markers: reads that began before them are not cached
		e.attrs.Add(id, &userAttrs{})
	}
}

func (e *Engine) item(id tailor.ItemID) *meta {
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	return e.catalog[id]
}

// newID returns a recommendation id: a ULID, the version and the
// scenario, so that events carrying it can be attributed.
func newID(version, scenario, segment string) string {
	var b strings.Builder // one allocation, of the id's length
	b.Grow(ulid.EncodedSize + 3 + len(version) + len(scenario) + len(segment))
	var u [ulid.EncodedSize]byte
	_ = ulid.Make().MarshalTextTo(u[:]) // cannot fail: u is the encoded size
	b.Write(u[:])
	b.WriteByte('.')
	b.WriteString(version)
	if scenario != "" || segment != "" {
		b.WriteByte('.')
		b.WriteString(scenario)
	}
	if segment != "" {
		b.WriteByte('.')
		b.WriteString(segment)
	}
	return b.String()
}

// because returns the reason that names item id: prefix and its title
// (its id when it has none), memoized in its catalog entry for field.
func (e *Engine) because(prefix string, id tailor.ItemID, field func(*said) *atomic.Pointer[string]) string {
	m := e.item(id)
	if m == nil || m.said == nil {
		return prefix + e.title(id)
	}
	p := field(m.said)
	if r := p.Load(); r != nil {
		return *r
	}
	title := m.title
	if title == "" {
		title = string(id)
	}
	r := prefix + title
	p.Store(&r)
	return r
}

// ParseRecommendationID splits an id made by the engine
// (ULID.VERSION[.SCENARIO[.SEGMENT]]) into its version, scenario and the
// shopper's segment; ok is false for ids it did not make.
func ParseRecommendationID(id string) (version, scenario, segment string, ok bool) {
	var rest string
	if _, rest, ok = cut(id); !ok {
		return "", "", "", false
	}
	version, rest, _ = cut(rest)
	scenario, segment, _ = cut(rest)
	return version, scenario, segment, version != ""
}

// segmentOf returns the shopper's "segment" attribute when it is a plain
// name (as 'analyze segments --apply' stores), else "".
func (e *Engine) segmentOf(ctx context.Context, user tailor.UserID) string {
	if user == "" {
		return ""
	}
	attrs, err := e.userAttributes(ctx, user)
	if err != nil {
		return ""
	}
	s, _ := attrs["segment"].(string)
	if !tailor.ValidTypeName(s) {
		return ""
	}
	return s
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func finite(x float32) bool { return x == x && x <= 3.4e38 && x >= -3.4e38 }
