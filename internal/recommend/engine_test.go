package recommend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// shopStore fills a store with a small shop: 12 items of three kinds (mugs,
// bags, lamps; lamp 3 out of stock), 40 shoppers who buy within their kind
// in orders of three items, over 40 days, and a shopper "rater" who rated
// a mug.
func shopStore(t *testing.T) (*sqlite.DB, []tailor.ItemID) {
	t.Helper()
	db := testStore(t)
	no := false
	var items []tailor.Item
	var ids []tailor.ItemID
	for k, kind := range []string{"MUG", "BAG", "LAMP"} {
		for j := range 4 {
			id := tailor.ItemID(fmt.Sprintf("%s%d", strings.ToLower(kind), j))
			it := tailor.Item{ID: id, Title: fmt.Sprintf("SPOTTY %s NUMBER %d", kind, j), Categories: []string{strings.ToLower(kind) + "s"}}
			if k == 2 && j == 3 {
				it.InStock = &no
			}
			items, ids = append(items, it), append(ids, id)
		}
	}
	t0 := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	price := 3.0
	var events []tailor.Event
	for day := range 40 {
		for u := day % 5; u < 40; u += 5 {
			kind := u % 3
			order := fmt.Sprint("o", day, "-", u)
			for j := range 3 {
				events = append(events, tailor.Event{ID: fmt.Sprint(order, "-", j), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: ids[4*kind+(day+j)%4],
					Type: tailor.Purchase, UnitPrice: &price, OrderID: order, Timestamp: t0.AddDate(0, 0, day).Add(time.Duration(j) * time.Second)})
			}
		}
	}
	five := 5.0
	events = append(events, tailor.Event{ID: "r1", UserID: "rater", ItemID: ids[0], Type: tailor.Rating, Value: &five, Timestamp: t0.AddDate(0, 0, 39)})
	writeItems(t, db, items, events)
	return db, ids
}

// activate fits a model on every event of the store, saves it as a
// version and activates it.
func activate(t testing.TB, db *sqlite.DB, name string) string {
	t.Helper()
	info, err := all.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return activateInfo(t, db, info)
}

// activateInfo is activate for a model that need not be registered (an
// engine serving it needs it in Options.Lookup).
func activateInfo(t testing.TB, db *sqlite.DB, info model.Info) string {
	t.Helper()
	ctx := context.Background()
	name := info.Name
	d, err := dataset.FromStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	m, err := info.New(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fit(ctx, d); err != nil {
		t.Fatal(err)
	}
	var art bytes.Buffer
	if _, err := model.Save(&art, name, nil, m); err != nil {
		t.Fatal(err)
	}
	bundle, err := EncodeBundle(d.Items, art.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	v := store.ModelVersion{ID: ulid.Make().String(), Slot: "default", Model: name, CreatedAt: time.Now()}
	if err := db.SaveModel(ctx, v, bundle); err != nil {
		t.Fatal(err)
	}
	if err := db.ActivateModel(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// started returns an engine over db that has loaded everything and built
// its background models.
func started(t testing.TB, db Source, reg prometheus.Registerer) *Engine {
	t.Helper()
	ctx := context.Background()
	e, err := New(db, Options{Lookup: all.Lookup, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rebuildTexts(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rebuildShop(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func itemIDs(r *Response) []tailor.ItemID {
	var out []tailor.ItemID
	for _, it := range r.Items {
		out = append(out, it.ItemID)
	}
	return out
}

// TestEveryList asks each list of the engine and checks which source
// answered, the rules, the recommendation ids and the impressions.
func TestEveryList(t *testing.T) {
	ctx := context.Background()
	db, ids := shopStore(t)
	version := activate(t, db, "ease")
	e := started(t, db, nil)

	// Personal: from the model; bought and rated items are not recommended
	// again, unless a scenario says otherwise.
	r, err := e.Recommend(ctx, Request{User: "rater", N: 11})
	if err != nil || r.ModelVersion != version || r.Fallback != "" {
		t.Fatalf("rater: %+v, %v", r, err)
	}
	if slices.Contains(itemIDs(r), ids[0]) {
		t.Errorf("the rated item is recommended back: %v", itemIDs(r))
	}
	u0, _ := e.Recommend(ctx, Request{User: "u0", N: 12})
	bought := map[tailor.ItemID]bool{"mug0": true, "mug1": true, "mug2": true, "mug3": true}
	for _, id := range itemIDs(u0) {
		if bought[id] {
			t.Errorf("u0 bought %s and gets it again", id)
		}
	}
	// Reasons are given for the items that make the list, also when the
	// rules pool more candidates than they keep; an item the history does
	// not score (zero) has none.
	for _, rules := range []Rules{{}, {MaxPerCategory: 1}} {
		r, err := e.Recommend(ctx, Request{User: "rater", N: 3, Rules: rules})
		if err != nil || len(r.Items) != 3 || r.Items[0].Score <= 0 {
			t.Fatalf("rater under %+v: %+v, %v", rules, r, err)
		}
		for _, it := range r.Items {
			if want := "because you rated SPOTTY MUG NUMBER 0"; (it.Score > 0) != (it.Reason == want) {
				t.Errorf("rater under %+v: %s (score %g) has reason %q", rules, it.ItemID, it.Score, it.Reason)
			}
		}
	}
	if err := db.PutScenario(ctx, "again", []byte(`{"exclude_types":[]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recommend(ctx, Request{User: "u0", N: 12, Scenario: "again"}); err == nil {
		t.Error("a scenario stored behind the engine's back was served before the cache was refreshed")
	}
	if err := e.ScenariosChanged(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := e.Recommend(ctx, Request{User: "u0", N: 12, Scenario: "again"})
	if err != nil || !slices.Contains(itemIDs(again), "mug1") {
		t.Errorf("with exclude_types [] the bought mugs may come back: %v, %v", itemIDs(again), err)
	}

	// Bought together: the rules, as a list with an id, the rules applied.
	bt, err := e.BoughtTogether(ctx, "lamp0", Request{N: 5})
	if err != nil || len(bt.Items) == 0 || bt.Model != "fbt" || !strings.HasPrefix(bt.Items[0].Reason, "often bought with SPOTTY LAMP NUMBER 0") {
		t.Fatalf("bought together: %+v, %v", bt, err)
	}
	if v, _, _, ok := ParseRecommendationID(bt.RecommendationID); !ok || v != "fbt" {
		t.Errorf("bought-together id %q", bt.RecommendationID)
	}
	if !slices.Contains(itemIDs(bt), "lamp3") {
		t.Fatalf("lamp3 is bought with lamp0 but not listed: %v", itemIDs(bt))
	}
	inStock, _ := e.BoughtTogether(ctx, "lamp0", Request{N: 5, Rules: Rules{InStockOnly: true}})
	if slices.Contains(itemIDs(inStock), "lamp3") || len(inStock.Items) == 0 {
		t.Errorf("in stock only: %v", itemIDs(inStock))
	}
	// An item nobody bought with anything answers an empty list, not
	// trending items.
	write(t, db, []tailor.ItemID{"lonely"}, nil)
	e.ItemsChanged([]tailor.Item{{ID: "lonely"}})
	if lonely, err := e.BoughtTogether(ctx, "lonely", Request{N: 5}); err != nil || len(lonely.Items) != 0 {
		t.Errorf("lonely: %+v, %v", lonely, err)
	} else if v, _, _, ok := ParseRecommendationID(lonely.RecommendationID); !ok || v != "none" {
		t.Errorf("an empty list's id %q is not attributed to none", lonely.RecommendationID)
	}

	// Cart: the rules of every item, without the cart's own.
	cart, err := e.CompleteCart(ctx, Request{Items: []tailor.ItemID{"bag0", "bag1"}, N: 3})
	if err != nil || len(cart.Items) == 0 || slices.Contains(itemIDs(cart), "bag0") || slices.Contains(itemIDs(cart), "bag1") {
		t.Errorf("cart: %+v, %v", cart, err)
	}
	if _, err := e.CompleteCart(ctx, Request{Items: []tailor.ItemID{"bag0", "ghost"}, N: 3}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a cart with an unknown item: %v", err)
	}

	// Buy again: past purchases with due dates.
	ba, err := e.BuyAgain(ctx, Request{User: "u1", N: 3})
	if err != nil || len(ba.Items) != 3 || ba.Items[0].Due == nil || ba.Items[0].Due.Times == 0 || ba.Model != "rebuy" ||
		!strings.HasPrefix(string(ba.Items[0].ItemID), "bag") {
		t.Errorf("buy again: %+v, %v", ba, err)
	}
	if none, err := e.BuyAgain(ctx, Request{User: "nobody", N: 3}); err != nil || len(none.Items) != 0 {
		t.Errorf("buy again for a new shopper: %+v, %v", none, err)
	}

	// Sessions: past sessions like it, else the model.
	s, err := e.Recommend(ctx, Request{Session: []tailor.ItemID{"mug0"}, N: 3})
	if err != nil || s.Model != "vsknn" || s.Items[0].Reason != "bought in sessions like this" {
		t.Errorf("session: %+v, %v", s, err)
	}
	if got, err := e.Recommend(ctx, Request{Session: []tailor.ItemID{"lonely"}, N: 3}); err != nil || got.Model == "vsknn" {
		t.Errorf("a session no past session shares an item with: %+v, %v", got, err)
	}

	// Impressions are counted under what ranked each list.
	if err := e.FlushImpressions(ctx); err != nil {
		t.Fatal(err)
	}
	imps, err := db.ImpressionCounts(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int64{}
	for _, c := range imps {
		by[c.Version] += c.Responses
	}
	if by["fbt"] < 3 || by["rebuy"] != 2 || by["vsknn"] != 1 || by[version] < 3 {
		t.Errorf("impressions by what ranked them: %v", by)
	}
}

// failingSource fails to read events once told to.
type failingSource struct {
	Source
	mu   sync.Mutex
	fail bool
}

func (f *failingSource) ScanEvents(ctx context.Context, q store.EventQuery, fn func(*tailor.Event) error) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("the disk is on fire")
	}
	return f.Source.ScanEvents(ctx, q, fn)
}

// TestBuildFailureKeepsServing checks that a failed background build is
// counted and leaves the last good snapshot serving, and that Run stops
// its builders when its context ends.
func TestBuildFailureKeepsServing(t *testing.T) {
	ctx := context.Background()
	db, _ := shopStore(t)
	src := &failingSource{Source: db}
	reg := prometheus.NewRegistry()
	e, err := New(src, Options{Lookup: all.Lookup, Registerer: reg, ShopEvery: 20 * time.Millisecond, TrendEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- e.Run(run) }()
	<-e.Warm()
	good := e.shop.Load()
	src.mu.Lock()
	src.fail = true
	src.mu.Unlock()
	// The store changes (a builder reads it again only then).
	write(t, db, []tailor.ItemID{"bag0"}, []tailor.Event{{ID: "late", UserID: "u1", ItemID: "bag0", Type: tailor.Purchase, OrderID: "late", Timestamp: time.Now()}})
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(e.met.buildFailures.WithLabelValues("shop")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed shop build was counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.shop.Load() != good {
		t.Error("a failed build replaced the last good shop models")
	}
	if bt, err := e.BoughtTogether(ctx, "lamp0", Request{N: 3}); err != nil || len(bt.Items) == 0 {
		t.Errorf("bought together after a failed build: %+v, %v", bt, err)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// gatedRegistry holds the artifact reads until told to go on.
type gatedRegistry struct {
	Source
	reads atomic32
	gate  chan struct{}
}

type atomic32 struct {
	mu sync.Mutex
	n  int
}

func (g *gatedRegistry) ModelArtifact(ctx context.Context, id string) ([]byte, error) {
	g.reads.mu.Lock()
	g.reads.n++
	g.reads.mu.Unlock()
	<-g.gate
	return g.Source.ModelArtifact(ctx, id)
}

// TestConcurrentLoadsCollapse checks that many requests for one version
// load it once.
func TestConcurrentLoadsCollapse(t *testing.T) {
	ctx := context.Background()
	db, _ := shopStore(t)
	id := activate(t, db, "itemknn")
	src := &gatedRegistry{Source: db, gate: make(chan struct{})}
	e, err := New(src, Options{Lookup: all.Lookup})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.loadVersion(ctx, id); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them all ask
	close(src.gate)
	wg.Wait()
	if src.reads.n != 1 || e.loadCount.Load() != 1 {
		t.Errorf("8 concurrent loads read the artifact %d times and loaded %d", src.reads.n, e.loadCount.Load())
	}
}

// TestUnchangedBuildsAreNotTimed checks that a builder that finds the
// store unchanged builds nothing and is not counted as a build.
func TestUnchangedBuildsAreNotTimed(t *testing.T) {
	ctx := context.Background()
	db, _ := shopStore(t)
	e, err := New(db, Options{Lookup: all.Lookup})
	if err != nil {
		t.Fatal(err)
	}
	builds := func(name string) uint64 {
		var m dto.Metric
		if err := e.met.buildSeconds.WithLabelValues(name).(prometheus.Histogram).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	for range 3 {
		e.build(ctx, "shop", e.buildShop)
		e.build(ctx, "trending", e.buildTrending)
	}
	if got := [2]uint64{builds("shop"), builds("trending")}; got != [2]uint64{1, 1} {
		t.Errorf("builds of shop, trending over an unchanged store: %v, want one each", got)
	}
	write(t, db, []tailor.ItemID{"new"}, []tailor.Event{{ID: "late", UserID: "u1", ItemID: "new", Type: tailor.Purchase, Timestamp: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}})
	e.build(ctx, "shop", e.buildShop)
	if got := builds("shop"); got != 2 {
		t.Errorf("after a new event, shop built %d times, want 2", got)
	}
	if e.shop.Load() == nil || e.trend.Load() == nil {
		t.Error("nothing published")
	}
}
