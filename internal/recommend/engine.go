// Package recommend is Tailor's online recommender: it serves the active
// model version of a slot from memory, scores each shopper from their live
// history (so an event changes their next answer without retraining),
// applies business rules and scenarios, falls back to trending items for
// shoppers and items it knows nothing about, and hot-swaps model versions
// atomically.
package recommend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/store"
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
}

// Options configure an Engine. Zero fields take the documented defaults.
type Options struct {
	// Slot is the recommender slot served (default "default").
	Slot string
	// Weights is what each event type counts for in a live history
	// (default DefaultWeights); types not listed are ignored.
	Weights map[tailor.EventType]float64
	// Exclude are the event types whose items are never recommended to
	// the shopper again (default: purchase). Returned items are always
	// excluded.
	Exclude []tailor.EventType
	// HistoryLimit is the number of a shopper's newest events read (default
	// 500), and HistoryTTL how long a history read from the store is
	// reused (default 30 s). Events posted through the API drop the
	// shopper's cached history at once, so they count from the next
	// request; the TTL bounds how long events written by another process
	// (a concurrent 'tailor import') go unseen.
	HistoryLimit int
	HistoryTTL   time.Duration
	// TrendingHalfLife is the half-life of trending scores (default 7 days),
	// measured back from the newest event.
	TrendingHalfLife time.Duration
	// Lookup finds model kinds by name (package all's Lookup).
	Lookup func(name string) (model.Info, error)
	// Logger receives load failures; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultWeights are the live-history weights of the built-in event types.
func DefaultWeights() map[tailor.EventType]float64 {
	return map[tailor.EventType]float64{"view": 1, "click": 2, "add_to_cart": 4, "purchase": 8, "rating": 1}
}

// Engine serves recommendations. It is safe for concurrent use.
type Engine struct {
	src  Source
	opts Options
	log  *slog.Logger

	cur   atomic.Pointer[state]
	trend atomic.Pointer[trending]

	catMu   sync.RWMutex
	catalog map[tailor.ItemID]*meta

	histMu sync.Mutex
	hist   map[tailor.UserID]*history
	attrs  map[tailor.UserID]*userAttrs // for routes
	// refreshing bounds the background reads of stale histories and
	// attributes, so that a cache expiring for many shoppers at once
	// does not flood the store.
	refreshing chan struct{}

	extraMu sync.Mutex
	extra   map[string]*state // versions of A/B tests other than the active one

	impMu sync.Mutex
	imp   map[impKey][2]int64 // responses and items, not yet flushed

	loads, loadFailures atomic.Int64

	sessMu       sync.Mutex // held while building the session model
	sess         atomic.Pointer[sessions]
	sessBuilding atomic.Bool // a background rebuild is running

	warm     chan struct{} // closed once Run has built the background models
	warmOnce sync.Once

	searchMu    sync.Mutex // held while rebuilding the texts
	searchDirty bool
	textIdx     atomic.Pointer[texts]
	textStale   atomic.Bool // the catalog changed since the texts were built
}

// New returns an engine over src. Call Start (or Load and the Refresh
// methods) before serving.
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
		opts.Exclude = []tailor.EventType{tailor.Purchase}
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 500
	}
	if opts.HistoryTTL <= 0 {
		opts.HistoryTTL = 30 * time.Second
	}
	if opts.TrendingHalfLife <= 0 {
		opts.TrendingHalfLife = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Engine{src: src, opts: opts, log: log, warm: make(chan struct{}), catalog: map[tailor.ItemID]*meta{}, hist: map[tailor.UserID]*history{}, attrs: map[tailor.UserID]*userAttrs{}, refreshing: make(chan struct{}, 2),
		extra: map[string]*state{}, imp: map[impKey][2]int64{}}, nil
}

// state is one loaded model version; it never changes once published.
type state struct {
	version store.ModelVersion
	model   model.Model
	scorer  model.HistoryScorer
	explain model.Explainer // nil when the model cannot say
	similar model.Similar   // nil when the model has no item similarity
	ids     []tailor.ItemID
	index   map[tailor.ItemID]int32
	scores  sync.Pool // *[]float32 of len(ids)
	// meta is the catalog entry of each index (nil: not in the catalog),
	// and fresh the available catalog items the model does not know;
	// guarded by the engine's catMu, which keeps them in step with catalog.
	meta  []*meta
	fresh []tailor.ItemID
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
	st := Status{Loads: e.loads.Load(), LoadFailures: e.loadFailures.Load()}
	if s := e.cur.Load(); s != nil {
		v := s.version
		st.Version, st.Items = &v, len(s.ids)
	}
	return st
}

// Start loads the catalog, the active version (if any) and the trending
// scores. A missing active version is not an error: the engine then
// answers with trending items until one is activated.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.RefreshCatalog(ctx); err != nil {
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

// Run keeps the engine current until ctx is done: it follows the slot's
// active version (activated by another process too) every syncEvery and
// recomputes trending every trendEvery; it writes the impression counts
// every 10 s and when it stops. It first builds the search index, the
// content vectors and the session model.
func (e *Engine) Run(ctx context.Context, syncEvery, trendEvery time.Duration) error {
	// Build the search index, the content vectors and the session model
	// now, in the background, rather than on the first requests that need
	// them.
	e.text()
	if _, err := e.sessionModel(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("build the session model", slog.Any("err", err))
	}
	e.warmOnce.Do(func() { close(e.warm) })
	sync, trend, flush := time.NewTicker(syncEvery), time.NewTicker(trendEvery), time.NewTicker(10*time.Second)
	defer sync.Stop()
	defer trend.Stop()
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return e.FlushImpressions(context.WithoutCancel(ctx))
		case <-flush.C:
			if err := e.FlushImpressions(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("flush impressions", slog.Any("err", err))
			}
		case <-sync.C:
			if err := e.Sync(ctx); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
				e.log.Error("follow the active model", slog.Any("err", err))
			}
		case <-trend.C:
			if err := e.RefreshTrending(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("refresh trending", slog.Any("err", err))
			}
		}
	}
}

// Warm is closed once Run has built the search index, the content vectors
// and the session model, which it does first, in the background; until
// then requests that need them build them or wait.
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
	s, err := e.load(ctx, id)
	if err != nil {
		e.loadFailures.Add(1)
		e.log.Error("refused a model version; the previous one keeps serving", slog.String("version", id), slog.Any("err", err))
		return err
	}
	e.catMu.Lock()
	e.attachMeta(s)
	e.cur.Store(s) // under catMu: catalog changes reach the new meta
	e.catMu.Unlock()
	e.loads.Add(1)
	return nil
}

// attachMeta points each of s's indices at its catalog entry; the caller
// holds catMu.
func (e *Engine) attachMeta(s *state) {
	s.meta = make([]*meta, len(s.ids))
	for i, id := range s.ids {
		s.meta[i] = e.catalog[id]
	}
	s.fresh = s.fresh[:0]
	for id, m := range e.catalog {
		if _, ok := s.index[id]; !ok && m.available {
			s.fresh = append(s.fresh, id)
		}
	}
	slices.Sort(s.fresh)
}

// setMeta records a catalog change in the served state's meta; the caller
// holds catMu.
func (e *Engine) setMeta(id tailor.ItemID, m *meta) {
	if s := e.cur.Load(); s != nil {
		if i, ok := s.index[id]; ok {
			s.meta[i] = m
		} else if k, found := slices.BinarySearch(s.fresh, id); m != nil && m.available && !found {
			s.fresh = slices.Insert(s.fresh, k, id)
		} else if found && (m == nil || !m.available) {
			s.fresh = slices.Delete(s.fresh, k, k+1)
		}
	}
	e.extraMu.Lock()
	for _, s := range e.extra {
		if i, ok := s.index[id]; ok {
			s.meta[i] = m
		}
	}
	e.extraMu.Unlock()
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
	hs, ok := m.(model.HistoryScorer)
	if !ok {
		return nil, fmt.Errorf("model version %s: %s cannot score live histories, so it cannot serve", id, name)
	}
	s := &state{version: v, model: m, scorer: hs, ids: make([]tailor.ItemID, len(ids)), index: make(map[tailor.ItemID]int32, len(ids))}
	for i, id := range ids {
		s.ids[i] = tailor.ItemID(id)
		s.index[tailor.ItemID(id)] = int32(i)
	}
	// A smoke test: the model must score an empty history over exactly
	// its catalog, with finite numbers.
	scores := make([]float32, len(ids))
	if err := hs.ScoreHistory(nil, nil, scores); err != nil {
		return nil, fmt.Errorf("model version %s: %w", id, err)
	}
	if !finite(scores) {
		return nil, fmt.Errorf("model version %s: scores are not finite", id)
	}
	s.explain, _ = m.(model.Explainer)
	s.similar, _ = m.(model.Similar)
	n := len(ids)
	s.scores = sync.Pool{New: func() any { b := make([]float32, n); return &b }}
	return s, nil
}

// RefreshCatalog reads every item from the store.
func (e *Engine) RefreshCatalog(ctx context.Context) error {
	cat := map[tailor.ItemID]*meta{}
	p := store.PageRequest{Limit: store.MaxPageSize}
	for {
		page, err := e.src.Items(ctx, p)
		if err != nil {
			return fmt.Errorf("read the catalog: %w", err)
		}
		for i := range page.Data {
			m := metaOf(&page.Data[i])
			cat[m.id] = &m
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	e.catMu.Lock()
	e.catalog = cat
	states := []*state{e.cur.Load()}
	e.extraMu.Lock()
	for _, s := range e.extra {
		states = append(states, s)
	}
	e.extraMu.Unlock()
	for _, s := range states {
		if s != nil {
			e.attachMeta(s)
		}
	}
	e.catMu.Unlock()
	return nil
}

// ItemsChanged updates the catalog with items just written.
func (e *Engine) ItemsChanged(items []tailor.Item) {
	e.markSearchDirty()
	e.catMu.Lock()
	defer e.catMu.Unlock()
	for i := range items {
		m := metaOf(&items[i])
		e.catalog[m.id] = &m
		e.setMeta(m.id, &m)
	}
}

// ItemsDeleted removes items from the catalog.
func (e *Engine) ItemsDeleted(ids ...tailor.ItemID) {
	e.markSearchDirty()
	e.catMu.Lock()
	defer e.catMu.Unlock()
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
		e.hist[events[i].UserID] = &history{} // a marker: reads that began before it are not cached
	}
	e.histMu.Unlock()
	e.catMu.Lock()
	for i := range events {
		if _, ok := e.catalog[events[i].ItemID]; !ok {
			m := &meta{id: events[i].ItemID, known: true, available: true, inStock: true}
			e.catalog[events[i].ItemID] = m
			e.setMeta(m.id, m)
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
		e.hist[id] = &history{} // markers: reads that began before them are not cached
		e.attrs[id] = &userAttrs{}
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
	id := ulid.Make().String() + "." + version
	if scenario != "" || segment != "" {
		id += "." + scenario
	}
	if segment != "" {
		id += "." + segment
	}
	return id
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

func finite(v []float32) bool {
	for _, x := range v {
		if x != x || x > 3.4e38 || x < -3.4e38 {
			return false
		}
	}
	return true
}
