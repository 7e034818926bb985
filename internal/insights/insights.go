// Package insights serves the behaviour analyses of package analytics and
// the pricing of package pricing over the store: a background refresher
// (Run) reads the events into a snapshot when the store has changed, and
// requests answer RFM, cohorts, funnels, lifetime value, propensity,
// per-shopper profiles, elasticities and price recommendations from the
// latest snapshot; no request reads the store's events.
package insights

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/analytics"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/pricing"
	"github.com/tailorhq/tailor/internal/store"
)

// Source is what the service reads.
type Source interface {
	store.EventReader
	store.ItemReader
	store.Counter
}

// Service answers analyses from the latest snapshot of the store. It is
// safe for concurrent use.
type Service struct {
	// AfterRefresh, if not nil, is called by Run after each refresh that
	// read the store and published a new snapshot (serve hands the
	// refresh's garbage back to the system there). Set it before Run.
	AfterRefresh func()

	src   Source
	every time.Duration

	snap  atomic.Pointer[snapshot]
	ready chan struct{} // closed once the first snapshot is published
	once  sync.Once
	mu    sync.Mutex      // one refresh at a time
	seen  store.Signature // what the store held at the last refresh
	// changed asks Run for a refresh before the next tick (Changed).
	changed chan struct{}

	// What Instrument registers: the refreshes that read the store (by
	// result), their durations, and when the serving snapshot was read.
	refreshes    *prometheus.CounterVec
	refreshTime  prometheus.Histogram
	snapshotTime prometheus.Gauge
}

// ErrRead is wrapped by the errors of reading the store: the analyses
// could not be made, through no fault of the request.
var ErrRead = errors.New("insights: the store could not be read")

// New returns a service that refreshes its snapshot every interval (0:
// one minute) when the store changed; call Run.
func New(src Source, every time.Duration) *Service {
	if every <= 0 {
		every = time.Minute
	}
	return &Service{src: src, every: every, ready: make(chan struct{}), changed: make(chan struct{}, 1),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_analyses_refreshes_total",
			Help: "Refreshes of the analyses' snapshot that read the store (it had changed), by result: ok, or failed (the last good snapshot keeps serving)."},
			[]string{"result"}),
		refreshTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tailor_analyses_refresh_duration_seconds",
			Help:    "Durations of the analyses' snapshot refreshes that read the store (reading the events, fitting lifetime value, propensity and prices).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		snapshotTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tailor_analyses_snapshot_timestamp_seconds",
			Help: "When the snapshot the analyses answer from was read (Unix seconds; 0: none yet)."}),
	}
}

// Instrument registers the service's metrics with reg: the refreshes by
// result, their durations, and the serving snapshot's time.
func (s *Service) Instrument(reg prometheus.Registerer) error {
	s.refreshes.WithLabelValues("ok")
	s.refreshes.WithLabelValues("failed")
	for _, c := range []prometheus.Collector{s.refreshes, s.refreshTime, s.snapshotTime} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("insights: metrics: %w", err)
		}
	}
	return nil
}

// Changed tells the service that records were deleted, so that Run
// refreshes the snapshot now rather than at its next tick: a deleted
// shopper or item leaves the analyses within a refresh. Calls while a
// refresh is pending are one request. It does not block.
func (s *Service) Changed() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Run builds the first snapshot, then refreshes it every interval while
// the store changes, until ctx is done. A failed refresh keeps the last
// good snapshot serving; it is reported through report (which may be nil).
func (s *Service) Run(ctx context.Context, report func(error)) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		before := s.snap.Load()
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil && report != nil {
			report(err)
		}
		if s.AfterRefresh != nil && s.snap.Load() != before {
			s.AfterRefresh()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.changed:
		}
	}
}

// Ready is closed once the first snapshot is published.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Refresh reads a new snapshot if the store changed since the last one.
func (s *Service) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig, err := store.SignatureOf(ctx, s.src)
	if err != nil {
		s.refreshes.WithLabelValues("failed").Inc()
		return fmt.Errorf("%w: %w", ErrRead, err)
	}
	if s.snap.Load() != nil && sig == s.seen {
		return nil
	}
	start := time.Now()
	sn, err := read(ctx, s.src, sig.Events == 0)
	if err != nil {
		s.refreshes.WithLabelValues("failed").Inc()
		return err
	}
	// Price now, in the background, not on a request (read fitted the
	// other models).
	sn.pricing()
	s.refreshTime.Observe(time.Since(start).Seconds())
	s.refreshes.WithLabelValues("ok").Inc()
	s.snapshotTime.Set(float64(sn.read.UnixNano()) / 1e9)
	s.snap.Store(sn)
	s.seen = sig
	s.once.Do(func() { close(s.ready) })
	return nil
}

// snapshot is the data and the models fitted on it.
type snapshot struct {
	read time.Time
	// data holds the events compactly (by dense index, one string per
	// id); the analyses that work on tailor.Events get them in chunks.
	data *dataset.Dataset
	end  time.Time // the last purchase

	clv       *analytics.CLVResult
	clvErr    error
	prop      *analytics.PropensityReport
	propModel *analytics.Propensity
	propErr   error
	scores    map[string]float64 // propensity now
	clvByUser map[string]*analytics.CLVPrediction

	priceOnce sync.Once
	// baseline is each item's pricing.Baseline: the weekly series are
	// dropped once the elasticities are estimated (a year of weeks per
	// item was the snapshot's largest part).
	baseline   map[tailor.ItemID]pricing.Baseline
	elasticity map[tailor.ItemID]*pricing.Elasticity
	priceErr   error

	// memo keeps the analyses already asked of this snapshot, by their
	// parameters (at most maxMemo of them): the snapshot does not change,
	// so neither do they, and a dashboard asks for the same ones each time.
	memo     sync.Map // string → *memoEntry
	memoSize atomic.Int32
}

// maxMemo bounds the analyses a snapshot keeps: parameters come from
// requests, and each set is a new entry.
const maxMemo = 64

type memoEntry struct {
	once sync.Once
	v    any
	err  error
}

// memoize returns f's result for key, computed once per snapshot. The
// result is shared: callers must not change it.
func memoize[T any](sn *snapshot, key string, f func() (T, error)) (T, error) {
	e, ok := sn.memo.Load(key)
	if !ok {
		if sn.memoSize.Load() >= maxMemo {
			return f()
		}
		var loaded bool
		if e, loaded = sn.memo.LoadOrStore(key, &memoEntry{}); !loaded {
			sn.memoSize.Add(1)
		}
	}
	m := e.(*memoEntry)
	m.once.Do(func() { m.v, m.err = f() })
	v, _ := m.v.(T)
	return v, m.err
}

// pricing estimates the elasticities once per snapshot.
func (sn *snapshot) pricing() {
	sn.priceOnce.Do(func() {
		purchase := func(e *dataset.Event) bool { return e.Kind == dataset.KindPurchase }
		sales := make([]pricing.Sale, 0, sn.data.Count(purchase))
		_ = sn.data.Chunks(4096, purchase, func(es []tailor.Event) error {
			sales = pricing.AppendSales(sales, es, func(id tailor.ItemID) bool { it := sn.item(id); return it.NonProduct || it.Hidden })
			runtime.Gosched() // a refresh yields to requests between chunks
			return nil
		})
		if len(sales) == 0 {
			sn.priceErr = fmt.Errorf("pricing: there are no sales with prices")
			return
		}
		end := sales[0].Time
		for _, s := range sales {
			if s.Time.After(end) {
				end = s.Time
			}
		}
		demand := pricing.WeeklyDemand(sales, end.Add(time.Nanosecond))
		sales = nil
		sn.elasticity, _, sn.priceErr = pricing.Estimate(demand, pricing.EstimateOptions{Category: func(id tailor.ItemID) string {
			if cs := sn.item(id).Categories; len(cs) > 0 {
				return cs[0]
			}
			return "all"
		}})
		if sn.priceErr == nil {
			pricing.CrossPrices(demand, sn.elasticity, func(id tailor.ItemID) string { return sn.item(id).Title }, 8)
		}
		sn.baseline = make(map[tailor.ItemID]pricing.Baseline, len(demand))
		for id, d := range demand {
			sn.baseline[id] = d.Baseline(pricing.BaselineWeeks)
		}
	})
}

// priced returns the snapshot with its demand and elasticities computed.
func (s *Service) priced(ctx context.Context) (*snapshot, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	sn.pricing()
	return sn, sn.priceErr
}

// Elasticities returns every item's elasticity, best sellers first.
func (s *Service) Elasticities(ctx context.Context) ([]*pricing.Elasticity, error) {
	sn, err := s.priced(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*pricing.Elasticity, 0, len(sn.elasticity))
	for _, e := range sn.elasticity {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *pricing.Elasticity) int {
		return cmp.Or(cmp.Compare(sn.baseline[b.Item].Total, sn.baseline[a.Item].Total), cmp.Compare(a.Item, b.Item))
	})
	return out, nil
}

// PriceRecommendation recommends a price for an item under the
// constraints. An item without sales gets "keep" with the reason.
func (s *Service) PriceRecommendation(ctx context.Context, item tailor.ItemID, c pricing.Constraints) (*pricing.Recommendation, error) {
	sn, err := s.priced(ctx)
	if err != nil {
		return nil, err
	}
	e, ok := sn.elasticity[item]
	if !ok {
		e = &pricing.Elasticity{Item: item, Reason: "the item has no sales", Estimate: math.NaN()}
	}
	return pricing.Recommend(sn.baseline[item], e, c)
}

// snapshot returns the latest snapshot, waiting for the first one.
func (s *Service) snapshot(ctx context.Context) (*snapshot, error) {
	if sn := s.snap.Load(); sn != nil {
		return sn, nil
	}
	select {
	case <-s.ready:
		return s.snap.Load(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read reads a snapshot of the store.
func read(ctx context.Context, src Source, empty bool) (*snapshot, error) {
	d := dataset.FromEvents(nil, nil)
	if !empty {
		var err error
		if d, err = dataset.FromStore(ctx, src); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRead, err)
		}
	}
	sn := &snapshot{read: time.Now(), data: d}
	purchases := sn.purchases()
	for _, pu := range purchases {
		if pu.Time.After(sn.end) {
			sn.end = pu.Time
		}
	}
	sn.fit(purchases)
	return sn, nil
}

// purchases returns the snapshot's purchases and returns (see
// analytics.Purchases), made from its events when asked: they are not
// kept, as they would double what the snapshot holds.
func (sn *snapshot) purchases() []analytics.Purchase {
	returnsOrPurchases := func(e *dataset.Event) bool {
		return e.User >= 0 && (e.Kind == dataset.KindPurchase || e.Kind == dataset.KindReturn)
	}
	out := make([]analytics.Purchase, 0, sn.data.Count(returnsOrPurchases))
	_ = sn.data.Chunks(4096, returnsOrPurchases, func(es []tailor.Event) error {
		out = analytics.AppendPurchases(out, es, func(id tailor.ItemID) bool { return sn.item(id).NonProduct })
		runtime.Gosched() // a refresh yields to requests between chunks
		return nil
	})
	return out
}

// item returns an item's record (an empty one for an unknown item).
func (sn *snapshot) item(id tailor.ItemID) *tailor.Item {
	if i, ok := sn.data.ItemIndex(string(id)); ok {
		return &sn.data.Catalog[i]
	}
	return &tailor.Item{}
}

// fit fits CLV (52 weeks ahead, calibrated on everything) and the 30-day
// propensity on the snapshot's purchases, once, as it is read.
func (sn *snapshot) fit(purchases []analytics.Purchase) {
	if len(purchases) == 0 {
		sn.clvErr = fmt.Errorf("clv: there are no purchases")
		sn.propErr = fmt.Errorf("propensity: there are no purchases")
		return
	}
	sn.clv, sn.clvErr = analytics.ComputeCLV(purchases, sn.end, 52)
	if sn.clvErr == nil {
		sn.clvByUser = map[string]*analytics.CLVPrediction{}
		for i := range sn.clv.Predictions {
			sn.clvByUser[sn.clv.Predictions[i].User] = &sn.clv.Predictions[i]
		}
	}
	sn.prop, sn.propModel, sn.propErr = analytics.EvaluatePropensity(purchases, 30*24*time.Hour)
	if sn.propErr == nil {
		sn.scores = sn.propModel.Score(purchases, sn.end.Add(time.Nanosecond))
	}
}

// RFM scores shoppers at the date (zero: the day after the last purchase).
func (s *Service) RFM(ctx context.Context, at time.Time) (time.Time, []analytics.RFM, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return at, nil, err
	}
	if at.IsZero() {
		at = sn.end.AddDate(0, 0, 1).Truncate(24 * time.Hour)
	}
	if at.After(sn.end.AddDate(1, 0, 0)) {
		return at, nil, fmt.Errorf("rfm: the reference date %s is more than a year after the last purchase (%s)", at.Format(time.DateOnly), sn.end.Format(time.DateOnly))
	}
	rows, err := memoize(sn, "rfm "+at.Format(time.RFC3339), func() ([]analytics.RFM, error) { return analytics.ComputeRFM(sn.purchases(), at) })
	return at, rows, err
}

// Cohorts returns the acquisition cohorts by period.
func (s *Service) Cohorts(ctx context.Context, period string) ([]analytics.Cohort, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return memoize(sn, "cohorts "+period, func() ([]analytics.Cohort, error) { return analytics.Cohorts(sn.purchases(), period) })
}

// Funnel computes a funnel over all events.
func (s *Service) Funnel(ctx context.Context, opts analytics.FunnelOptions) (*analytics.Funnel, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	opts.Categories = func(id tailor.ItemID) []string { return sn.item(id).Categories }
	key := fmt.Sprintf("funnel %q %d %t", opts.Steps, opts.Window, opts.BySession)
	return memoize(sn, key, func() (*analytics.Funnel, error) {
		// The events of the steps' types, as tailor.Events.
		var events []tailor.Event
		_ = sn.data.Chunks(4096, func(e *dataset.Event) bool { return slices.Contains(opts.Steps, sn.data.Type(e)) }, func(es []tailor.Event) error {
			events = append(events, es...)
			return nil
		})
		return analytics.ComputeFunnel(events, opts)
	})
}

// CLV returns the lifetime-value fit and predictions.
func (s *Service) CLV(ctx context.Context) (*analytics.CLVResult, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return sn.clv, sn.clvErr
}

// Propensity returns the propensity model's evaluation.
func (s *Service) Propensity(ctx context.Context) (*analytics.PropensityReport, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return sn.prop, sn.propErr
}

// Segments are the labels the analyses give a shopper, stored as the
// shopper's attributes by Apply.
type Segments struct {
	// Segment is the RFM segment ("none" without purchases).
	Segment string `json:"segment"`
	// CLVTier is high, medium or low ("" when CLV cannot be fitted).
	CLVTier string `json:"clv_tier,omitempty"`
	// PropensityBand is high (≥ 0.5), medium (≥ 0.2) or low, for the
	// probability of buying in the next 30 days ("" when unknown).
	PropensityBand string `json:"propensity_band,omitempty"`
}

// Band names a propensity.
func Band(p float64) string {
	switch {
	case p >= 0.5:
		return "high"
	case p >= 0.2:
		return "medium"
	}
	return "low"
}

// AllSegments labels every shopper with purchases.
func (s *Service) AllSegments(ctx context.Context) (map[tailor.UserID]Segments, error) {
	_, rows, err := s.RFM(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[tailor.UserID]Segments, len(rows))
	for _, r := range rows {
		sg := Segments{Segment: r.Segment}
		if c, ok := sn.clvByUser[r.User]; ok {
			sg.CLVTier = c.Tier
		}
		if p, ok := sn.scores[r.User]; ok {
			sg.PropensityBand = Band(p)
		}
		out[tailor.UserID(r.User)] = sg
	}
	return out, nil
}

// Writer stores users; Apply uses it.
type Writer interface {
	store.Updater
	store.UserReader
}

// Apply stores every shopper's segments as the attributes "segment",
// "clv_tier" and "propensity_band" (keeping their other attributes), in
// one transaction, and returns the shoppers it labelled.
func (s *Service) Apply(ctx context.Context, w Writer) ([]tailor.UserID, error) {
	segs, err := s.AllSegments(ctx)
	if err != nil {
		return nil, err
	}
	users := make([]tailor.User, 0, len(segs))
	for id, sg := range segs {
		u, err := w.User(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		u.ID = id
		attrs := map[string]any{}
		for k, v := range u.Attributes {
			attrs[k] = v
		}
		attrs["segment"] = sg.Segment
		for k, v := range map[string]string{"clv_tier": sg.CLVTier, "propensity_band": sg.PropensityBand} {
			if v != "" {
				attrs[k] = v
			} else {
				delete(attrs, k)
			}
		}
		u.Attributes = attrs
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b tailor.User) int { return strings.Compare(string(a.ID), string(b.ID)) })
	if err := w.Update(ctx, func(tx store.Writer) error { return tx.UpsertUsers(ctx, users) }); err != nil {
		return nil, fmt.Errorf("insights: store segments: %w", err)
	}
	ids := make([]tailor.UserID, len(users))
	for i := range users {
		ids[i] = users[i].ID
	}
	return ids, nil
}

// Profile is what the analyses say about one shopper.
type Profile struct {
	User tailor.UserID `json:"user_id"`
	// RFM is nil for a shopper without purchases.
	RFM     *analytics.RFM `json:"rfm"`
	Segment string         `json:"segment"`
	// FavouriteCategories are the categories of the items the shopper
	// interacted with most (purchases count triple).
	FavouriteCategories []string `json:"favourite_categories"`
	// LifetimeValue is the expected spend in the next 52 weeks (BG/NBD ×
	// Gamma-Gamma), with its tier and the probability of being active.
	LifetimeValue *float64 `json:"lifetime_value"`
	CLVTier       string   `json:"clv_tier,omitempty"`
	PAlive        *float64 `json:"p_alive"`
	// Propensity is the probability of buying in the next 30 days, and
	// Churn its complement.
	Propensity *float64 `json:"propensity"`
	Churn      *float64 `json:"churn"`
	// Notes say which parts could not be computed, and why.
	Notes []string `json:"notes,omitempty"`
}

// Profile describes a shopper (the caller checks that they exist).
func (s *Service) Profile(ctx context.Context, user tailor.UserID) (*Profile, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	p := &Profile{User: user, FavouriteCategories: []string{}, Segment: "none"}
	at, rows, err := s.RFM(ctx, time.Time{})
	if err == nil {
		if i := slices.IndexFunc(rows, func(r analytics.RFM) bool { return r.User == string(user) }); i >= 0 {
			r := rows[i] // rows are shared: copy
			p.RFM = &r
			p.Segment = r.Segment
		}
	} else {
		p.Notes = append(p.Notes, err.Error())
	}
	_ = at
	weights := map[string]float64{}
	if u, ok := sn.data.UserIndex(string(user)); ok {
		for i := range sn.data.Events {
			e := &sn.data.Events[i]
			if e.User != u {
				continue
			}
			w := 1.0
			if e.Kind == dataset.KindPurchase {
				w = 3
			}
			for _, c := range sn.data.Catalog[e.Item].Categories {
				weights[c] += w
			}
		}
	}
	for c := range weights {
		p.FavouriteCategories = append(p.FavouriteCategories, c)
	}
	slices.SortFunc(p.FavouriteCategories, func(a, b string) int { return cmp.Or(cmp.Compare(weights[b], weights[a]), cmp.Compare(a, b)) })
	p.FavouriteCategories = p.FavouriteCategories[:min(3, len(p.FavouriteCategories))]
	if sn.clvErr != nil {
		p.Notes = append(p.Notes, sn.clvErr.Error())
	} else if c, ok := sn.clvByUser[string(user)]; ok {
		v, a := c.CLV, c.PAlive
		p.LifetimeValue, p.PAlive, p.CLVTier = &v, &a, c.Tier
	}
	if sn.propErr != nil {
		p.Notes = append(p.Notes, sn.propErr.Error())
	} else if v, ok := sn.scores[string(user)]; ok {
		churn := 1 - v
		p.Propensity, p.Churn = &v, &churn
	}
	return p, nil
}
