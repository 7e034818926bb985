package recommend

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/store/sqlite"
	"github.com/tailorhq/tailor/internal/topk"
)

// randomShop stores 150 items in five categories, with prices and stock,
// and 60 shoppers u0…u59 who mostly view, cart and buy within one
// category, drawn with a fixed seed. It returns the items.
func randomShop(t *testing.T, db *sqlite.DB) []tailor.Item {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 13))
	cats := []string{"mugs", "bags", "lamps", "toys", "cards"}
	var items []tailor.Item
	for i := range 150 {
		price := float64(1 + r.IntN(20))
		inStock := r.IntN(5) > 0
		items = append(items, tailor.Item{ID: tailor.ItemID(fmt.Sprintf("i%03d", i)), Categories: []string{cats[i%len(cats)]},
			Price: &price, InStock: &inStock})
	}
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	types := []tailor.EventType{tailor.View, tailor.View, tailor.AddToCart, tailor.Purchase}
	var events []tailor.Event
	for u := range 60 {
		taste := r.IntN(len(cats))
		for k := range 5 + r.IntN(25) {
			i := r.IntN(len(items))
			if r.IntN(3) > 0 { // mostly within the shopper's taste
				i = (i/len(cats))*len(cats) + taste
			}
			events = append(events, tailor.Event{ID: fmt.Sprint("e", u, "-", k), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: items[i].ID,
				Type: types[r.IntN(len(types))], Timestamp: t0.Add(time.Duration(u*100+k) * time.Minute)})
		}
	}
	writeItems(t, db, items, events)
	return items
}

// warmEngine starts an engine over db with its shop models built.
func warmEngine(t *testing.T, db *sqlite.DB, opts Options) *Engine {
	t.Helper()
	ctx := context.Background()
	e, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rebuildShop(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// randomShopEngine stores randomShop, activates the model name fitted on
// it and returns the store and a warm engine over it.
func randomShopEngine(t *testing.T, name string) (*sqlite.DB, *Engine) {
	t.Helper()
	db := testStore(t)
	randomShop(t, db)
	activate(t, db, name)
	return db, warmEngine(t, db, Options{Lookup: all.Lookup})
}

// TestRankingCache checks that personal, buy-again and similar-item lists
// filtered from a cached ranking are the lists the models give when asked
// with the rules:
// three engines over one store (rankings off, too short for most rules,
// the default) answer every shopper alike under rules that filter,
// diversify, page, boost and exclude, and the cache is used.
func TestRankingCache(t *testing.T) {
	ctx := context.Background()
	db := testStore(t)
	items := randomShop(t, db)
	activate(t, db, "ease")
	engine := func(ranking int) *Engine { return warmEngine(t, db, Options{Lookup: all.Lookup, Ranking: ranking}) }
	off, short, def := engine(-1), engine(12), engine(0)
	two, nine := 2.0, 9.0
	empty := []tailor.EventType{}
	rules := []struct {
		name string
		req  Request
	}{
		{"none", Request{N: 10}},
		{"in stock", Request{N: 10, Rules: Rules{InStockOnly: true}}},
		{"one category", Request{N: 5, Rules: Rules{Categories: []string{"lamps"}}}},
		{"price band", Request{N: 8, Rules: Rules{MinPrice: &two, MaxPrice: &nine, InStockOnly: true}}},
		{"excluded items", Request{N: 10, Rules: Rules{ExcludeItems: []tailor.ItemID{"i000", "i001", "i002", "i003", "i004", "i005"}}}},
		{"diversified", Request{N: 10, Rules: Rules{MaxPerCategory: 2}}},
		{"page two", Request{N: 10, Offset: 10}},
		{"boosted", Request{N: 10, Rules: Rules{Boosts: []Boost{{Categories: []string{"toys"}, Factor: 3}}}}},
		{"own exclusions", Request{N: 10, Rules: Rules{ExcludeTypes: &empty}}},
	}
	for _, rc := range rules {
		t.Run(rc.name, func(t *testing.T) {
			for u := range 60 {
				req := rc.req
				req.User = tailor.UserID(fmt.Sprint("u", u))
				var got [3][]Item
				for k, e := range []*Engine{off, short, def} {
					for range 2 { // a miss, then a hit
						resp, err := e.Recommend(ctx, req)
						if err != nil {
							t.Fatalf("%s: %v", req.User, err)
						}
						got[k] = resp.Items
					}
				}
				if len(got[0]) == 0 && rc.name != "one category" && rc.name != "price band" {
					t.Errorf("%s: an empty list", req.User)
				}
				if diff := cmp.Diff(got[0], got[1]); diff != "" {
					t.Errorf("%s, ranking of 12 (-asked +cached):\n%s", req.User, diff)
				}
				if diff := cmp.Diff(got[0], got[2]); diff != "" {
					t.Errorf("%s, default ranking (-asked +cached):\n%s", req.User, diff)
				}
			}
			bought := 0
			for u := range 60 { // buy again alike
				req := rc.req
				req.User = tailor.UserID(fmt.Sprint("u", u))
				var got [3][]Item
				for k, e := range []*Engine{off, short, def} {
					for range 2 {
						resp, err := e.BuyAgain(ctx, req)
						if err != nil {
							t.Fatalf("buy again for %s: %v", req.User, err)
						}
						got[k] = resp.Items
					}
				}
				for k := 1; k < 3; k++ {
					if diff := cmp.Diff(got[0], got[k]); diff != "" {
						t.Errorf("buy again for %s, engine %d (-asked +cached):\n%s", req.User, k, diff)
					}
				}
				if len(got[0]) > 0 {
					bought++
				}
			}
			if rc.name == "none" && bought < 30 {
				t.Errorf("buy again answered %d of 60 shoppers", bought)
			}
			for _, it := range items[:40] { // similar items alike
				req := rc.req
				var got [3][]Item
				for k, e := range []*Engine{off, short, def} {
					for range 2 {
						resp, err := e.Similar(ctx, it.ID, req)
						if err != nil {
							t.Fatalf("similar to %s: %v", it.ID, err)
						}
						got[k] = resp.Items
					}
				}
				if len(got[0]) == 0 && rc.name != "one category" && rc.name != "price band" {
					t.Errorf("similar to %s: an empty list", it.ID)
				}
				for k := 1; k < 3; k++ {
					if diff := cmp.Diff(got[0], got[k]); diff != "" {
						t.Errorf("similar to %s, engine %d (-asked +cached):\n%s", it.ID, k, diff)
					}
				}
			}
		})
	}
	for _, c := range []struct {
		e      *Engine
		result string
		some   bool
	}{{off, "hit", false}, {off, "miss", false}, {short, "short", true}, {def, "hit", true}, {def, "miss", true}, {def, "short", false}} {
		n := testutil.ToFloat64(c.e.met.cache.WithLabelValues("rankings", c.result))
		if (n > 0) != c.some {
			t.Errorf("rankings %s: %g", c.result, n)
		}
	}
}

// TestCachesDoNotPinOldBuilds checks that the rankings cached with the
// histories and items do not keep a replaced model version or shop build
// alive: after a hot swap and a rebuild, the old ones are collected while
// the histories that ranked under them are still cached.
func TestCachesDoNotPinOldBuilds(t *testing.T) {
	ctx := context.Background()
	db, e := randomShopEngine(t, "ease")
	for u := range 60 {
		req := Request{User: tailor.UserID(fmt.Sprint("u", u)), N: 10}
		if _, err := e.Recommend(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := e.BuyAgain(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(e.met.rankMiss); got < 60 {
		t.Fatalf("%v rankings made, want at least 60 cached", got)
	}
	oldState, oldShop := weak.Make(e.cur.Load()), weak.Make(e.shop.Load())

	activate(t, db, "ease") // a new version, and a new event for the shop models
	writeItems(t, db, nil, []tailor.Event{{ID: "late", UserID: "u1", ItemID: "i001", Type: tailor.Purchase, Timestamp: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)}})
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rebuildShop(ctx); err != nil {
		t.Fatal(err)
	}
	if e.hist.Len() < 60 {
		t.Fatalf("%d histories cached, want the 60 that ranked", e.hist.Len())
	}
	runtime.GC()
	runtime.GC()
	if oldState.Value() != nil {
		t.Error("the replaced model version is still reachable")
	}
	if oldShop.Value() != nil {
		t.Error("the replaced shop models are still reachable")
	}
	runtime.KeepAlive(e) // the histories stay cached through the collection
}

// TestDeletionReachesEveryList deletes an item and a shopper the way the
// API does (from the store, then telling the engine), with every cache
// and shop model warm: at once, no list offers the item, and the shopper
// has no purchases to buy again, before any rebuild.
func TestDeletionReachesEveryList(t *testing.T) {
	ctx := context.Background()
	db := testStore(t)
	items := randomShop(t, db)
	activate(t, db, "ease")
	e := warmEngine(t, db, Options{Lookup: all.Lookup})
	type list struct {
		name string
		ask  func() (*Response, error)
	}
	var lists []list
	for u := range 60 {
		req := Request{User: tailor.UserID(fmt.Sprint("u", u)), N: 20}
		lists = append(lists, list{"recommendations for " + string(req.User), func() (*Response, error) { return e.Recommend(ctx, req) }},
			list{"buy again for " + string(req.User), func() (*Response, error) { return e.BuyAgain(ctx, req) }})
	}
	for _, it := range items[:50] {
		id := it.ID
		lists = append(lists, list{"similar to " + string(id), func() (*Response, error) { return e.Similar(ctx, id, Request{N: 20}) }},
			list{"bought with " + string(id), func() (*Response, error) { return e.BoughtTogether(ctx, id, Request{N: 20}) }},
			list{"cart of " + string(id), func() (*Response, error) { return e.CompleteCart(ctx, Request{N: 20, Items: []tailor.ItemID{id}}) }})
	}
	lists = append(lists, list{"trending", func() (*Response, error) { return e.Trending(ctx, Request{N: 50}) }})
	// The most offered item goes.
	offered := map[tailor.ItemID]int{}
	for _, l := range lists {
		resp, err := l.ask()
		if err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		for _, it := range resp.Items {
			offered[it.ItemID]++
		}
	}
	var gone tailor.ItemID
	for id, n := range offered {
		if n > offered[gone] {
			gone = id
		}
	}
	if _, err := db.DeleteItem(ctx, gone); err != nil {
		t.Fatal(err)
	}
	e.ItemsDeleted(gone)
	buyer := tailor.UserID("u0")
	if resp, _ := e.BuyAgain(ctx, Request{User: buyer, N: 20}); len(resp.Items) == 0 {
		t.Fatalf("%s has nothing to buy again before the deletion: pick another shopper", buyer)
	}
	if _, err := db.DeleteUser(ctx, buyer); err != nil {
		t.Fatal(err)
	}
	e.UsersDeleted(buyer)
	for _, l := range lists {
		resp, err := l.ask()
		if err != nil {
			if strings.Contains(l.name, string(gone)) {
				continue // asked about the deleted item itself: not found
			}
			t.Fatalf("%s after the deletion: %v", l.name, err)
		}
		for _, it := range resp.Items {
			if it.ItemID == gone {
				t.Errorf("%s offers the deleted item %s", l.name, gone)
			}
		}
	}
	if resp, err := e.BuyAgain(ctx, Request{User: buyer, N: 20}); err != nil || len(resp.Items) > 0 {
		t.Errorf("buy again for the deleted shopper: %v, %v", resp.Items, err)
	}
}

// mapShared is a SharedRankings in memory that counts what it is asked.
type mapShared struct {
	mu               sync.Mutex
	m                map[string][]byte
	gets, hits, keep int
}

func (s *mapShared) Ranking(_ context.Context, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	b, ok := s.m[key]
	if ok {
		s.hits++
	}
	return b, ok
}

func (s *mapShared) KeepRanking(_ context.Context, key string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keep++
	s.m[key] = b
}

// TestSharedRankings: the rankings one engine computes serve another
// engine (a replica) that shares them, which then scores nothing itself
// and answers what it would have answered alone; a ranking that is not
// one (garbage under its key) is computed again; another model version
// shares none of the first one's.
func TestSharedRankings(t *testing.T) {
	ctx := context.Background()
	db := testStore(t)
	items := randomShop(t, db)
	activate(t, db, "ease")
	shared := &mapShared{m: map[string][]byte{}}
	a := warmEngine(t, db, Options{Lookup: all.Lookup, Shared: shared})
	b := warmEngine(t, db, Options{Lookup: all.Lookup, Shared: shared})
	alone := warmEngine(t, db, Options{Lookup: all.Lookup})
	two := 2.0
	reqs := []Request{{N: 10}, {N: 5, Rules: Rules{InStockOnly: true, MinPrice: &two}}}
	answer := func(e *Engine, req Request, user int, item tailor.ItemID) ([]Item, []Item) {
		t.Helper()
		req.User = tailor.UserID(fmt.Sprint("u", user))
		p, err := e.Recommend(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		req.User = ""
		s, err := e.Similar(ctx, item, req)
		if err != nil {
			t.Fatal(err)
		}
		return p.Items, s.Items
	}
	for u := range 60 {
		answer(a, reqs[0], u, items[u].ID)
	}
	kept := shared.keep
	if kept < 100 {
		t.Fatalf("engine a kept %d rankings for 60 shoppers and 60 items", kept)
	}
	for _, req := range reqs {
		for u := range 60 {
			gotP, gotS := answer(b, req, u, items[u].ID)
			wantP, wantS := answer(alone, req, u, items[u].ID)
			if diff := cmp.Diff(wantP, gotP); diff != "" {
				t.Errorf("u%d, %+v (-alone +shared):\n%s", u, req.Rules, diff)
			}
			if diff := cmp.Diff(wantS, gotS); diff != "" {
				t.Errorf("similar to %s, %+v (-alone +shared):\n%s", items[u].ID, req.Rules, diff)
			}
		}
	}
	if shared.keep != kept || shared.hits < kept {
		t.Errorf("engine b kept %d rankings and found %d: it computed what a had", shared.keep-kept, shared.hits)
	}

	// Garbage under every key: a third engine computes and keeps again.
	shared.mu.Lock()
	for k := range shared.m {
		shared.m[k] = encodeRanking([]topk.Entry{{Index: 1 << 30, Score: 1}}, true)
	}
	shared.mu.Unlock()
	c := warmEngine(t, db, Options{Lookup: all.Lookup, Shared: shared})
	for u := range 60 {
		gotP, _ := answer(c, reqs[0], u, items[u].ID)
		wantP, _ := answer(alone, reqs[0], u, items[u].ID)
		if diff := cmp.Diff(wantP, gotP); diff != "" {
			t.Errorf("u%d after garbage (-alone +shared):\n%s", u, diff)
		}
	}
	if shared.keep != 2*kept {
		t.Errorf("after garbage, %d rankings kept again, want %d", shared.keep-kept, kept)
	}

	// Another version: its engine finds none of the first version's.
	activate(t, db, "itemknn")
	d := warmEngine(t, db, Options{Lookup: all.Lookup, Shared: shared})
	hits := shared.hits
	for u := range 60 {
		answer(d, reqs[0], u, items[u].ID)
	}
	if shared.hits != hits {
		t.Errorf("a new version found %d rankings of the old one", shared.hits-hits)
	}
}

// twoStage stands for a two-stage model (model.Deterministic, not
// ranking fixed): its order of the items depends on the history and on
// how many items the filter leaves out, as a ranker's candidates and
// their features depend on the filter.
type twoStage struct{ n int }

func (m *twoStage) Fit(_ context.Context, d *dataset.Dataset) error { m.n = d.NumItems(); return nil }
func (m *twoStage) Tasks() []model.Task                             { return []model.Task{model.TaskPersonal} }
func (m *twoStage) DeterminedByHistory(t model.Task) bool           { return t == model.TaskPersonal }
func (m *twoStage) MarshalBinary() ([]byte, error) {
	return binary.AppendUvarint(nil, uint64(m.n)), nil
}
func (m *twoStage) UnmarshalBinary(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return errors.New("two-stage: a corrupt artifact")
	}
	m.n = int(n)
	return nil
}

func (m *twoStage) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if err := model.CheckQuery("two-stage", q, m.n); err != nil {
		return dst, err
	}
	seed := 0
	for i := range m.n {
		if !q.Allowed(int32(i)) {
			seed++
		}
	}
	for _, h := range q.History {
		seed += int(h.Item)
	}
	h := topk.New(q.N)
	for i := range m.n {
		if q.Allowed(int32(i)) {
			h.Push(int32(i), float32((i*7919+seed*104729)%1009))
		}
	}
	return h.Sorted(dst), nil
}

// TestDeterministicModelCache checks the caches of a model whose answers
// a history determines but which does not rank fixed: plain requests are
// answered from the history's cached ranking and requests with rules
// from its last answer under the same rules, both the same as asking the
// model each time, also after the catalog changed.
func TestDeterministicModelCache(t *testing.T) {
	ctx := context.Background()
	db := testStore(t)
	items := randomShop(t, db)
	info := model.Info{Name: "two-stage", New: func(json.RawMessage, uint64) (model.Model, error) { return &twoStage{}, nil }}
	lookup := func(name string) (model.Info, error) {
		if name == info.Name {
			return info, nil
		}
		return all.Lookup(name)
	}
	activateInfo(t, db, info)
	off, def := warmEngine(t, db, Options{Lookup: lookup, Ranking: -1}), warmEngine(t, db, Options{Lookup: lookup})
	hits := func(cache string) float64 { return testutil.ToFloat64(def.met.cache.WithLabelValues(cache, "hit")) }
	for _, rc := range []struct {
		name  string
		req   Request
		cache string // the cache that answers it again
	}{
		{"plain", Request{N: 10}, "rankings"},
		{"page two", Request{N: 5, Offset: 5}, "rankings"},
		{"in stock", Request{N: 10, Rules: Rules{InStockOnly: true}}, "filtered answers"},
		{"in stock, further", Request{N: 10, Offset: 10, Rules: Rules{InStockOnly: true}}, "filtered answers"}, // more than was asked
		{"one category", Request{N: 5, Rules: Rules{Categories: []string{"lamps"}}}, "filtered answers"},
		{"in stock, diversified", Request{N: 10, Rules: Rules{InStockOnly: true, MaxPerCategory: 2}}, "filtered answers"},
	} {
		t.Run(rc.name, func(t *testing.T) {
			before, answered := hits(rc.cache), 0
			for u := range 60 {
				req := rc.req
				req.User = tailor.UserID(fmt.Sprint("u", u))
				var got [2][]Item
				for k, e := range []*Engine{off, def} {
					for range 2 { // a miss, then a hit
						resp, err := e.Recommend(ctx, req)
						if err != nil {
							t.Fatalf("%s: %v", req.User, err)
						}
						got[k] = resp.Items
					}
				}
				if diff := cmp.Diff(got[0], got[1]); diff != "" {
					t.Errorf("%s (-asked +cached):\n%s", req.User, diff)
				}
				if len(got[0]) > 0 {
					answered++
				}
			}
			if answered < 30 {
				t.Errorf("%d of 60 shoppers answered", answered)
			}
			if hits(rc.cache) <= before {
				t.Errorf("not answered again from the %s", rc.cache)
			}
		})
	}
	// Items out of stock, then all back: the lists under rules follow.
	for _, stock := range []bool{false, true} {
		var changed []tailor.Item
		for _, it := range items[:75] {
			it.InStock = &stock
			changed = append(changed, it)
		}
		off.ItemsChanged(changed)
		def.ItemsChanged(changed)
		for u := range 60 {
			req := Request{User: tailor.UserID(fmt.Sprint("u", u)), N: 10, Rules: Rules{InStockOnly: true}}
			var got [2][]Item
			for k, e := range []*Engine{off, def} {
				resp, err := e.Recommend(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				got[k] = resp.Items
			}
			if diff := cmp.Diff(got[0], got[1]); diff != "" {
				t.Errorf("%s, in stock %v (-asked +cached):\n%s", req.User, stock, diff)
			}
		}
	}
}

// TestPurchasesReachTheModel checks that a model that reads the purchases
// one by one (model.PurchaseReader: tifuknn) is asked with them, as it
// learnt from them: where its answer with them and without them differ,
// the served list follows the one with them.
func TestPurchasesReachTheModel(t *testing.T) {
	ctx := context.Background()
	db, def := randomShopEngine(t, "tifuknn")
	s := def.cur.Load()
	if !model.ReadsPurchases(s.model) {
		t.Fatal("tifuknn no longer reads purchases")
	}
	// The model hears the shopper's purchases one by one: where its
	// answer with them and without them differ, the served list is the
	// one with them.
	d, err := dataset.FromStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	telling := 0
	for u := range 60 {
		id := tailor.UserID(fmt.Sprint("u", u))
		resp, err := def.Recommend(ctx, Request{User: id, N: 10})
		if err != nil {
			t.Fatal(err)
		}
		ui, ok := d.UserIndex(string(id))
		if !ok || len(resp.Items) == 0 || resp.Fallback != "" {
			continue
		}
		var history, purchases []model.Interaction
		seen := map[int32]int{}
		for _, ev := range d.Events {
			if ev.User != ui {
				continue
			}
			i := s.index[tailor.ItemID(d.Items[ev.Item])]
			x := model.Interaction{Item: i, Type: d.Type(&ev), Weight: 1, Time: ev.Time}
			if x.Type == tailor.Purchase {
				purchases = append(purchases, x)
			}
			if k, ok := seen[i]; ok {
				history[k].Time = ev.Time
			} else {
				seen[i] = len(history)
				history = append(history, x)
			}
		}
		ask := func(with []model.Interaction) []tailor.ItemID {
			got, err := s.model.Answer(&model.Query{Task: model.TaskPersonal, User: -1, History: history, Purchases: with, N: 200}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var ids []tailor.ItemID
			for _, en := range got {
				ids = append(ids, s.ids[en.Index])
			}
			return ids
		}
		with, without := ask(purchases), ask(nil)
		if slices.Equal(with, without) {
			continue
		}
		telling++
		var served []tailor.ItemID
		for _, it := range resp.Items {
			served = append(served, it.ItemID)
		}
		// The served list leaves out what the history excludes: it
		// keeps the order of the answer with the purchases.
		k := 0
		for _, id := range with {
			if k < len(served) && served[k] == id {
				k++
			}
		}
		if k != len(served) {
			t.Errorf("%s: served %v, not in the order of the model's answer with the purchases %v", id, served, with)
		}
	}
	if telling == 0 {
		t.Error("no shopper's answer changes with the purchases one by one: the fixture cannot tell")
	}
}

// TestImpressionsCountedConcurrently serves lists from eight goroutines
// while impressions are flushed to the store over and over: every
// response is counted once, none lost between a count and a flush.
func TestImpressionsCountedConcurrently(t *testing.T) {
	ctx := context.Background()
	db, e := randomShopEngine(t, "ease")
	from := time.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	done := make(chan struct{})
	flushed := make(chan error, 1)
	go func() {
		defer close(flushed)
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := e.FlushImpressions(ctx); err != nil {
				flushed <- err
				return
			}
		}
	}()
	const workers, each = 8, 200
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				resp, err := e.Recommend(ctx, Request{User: tailor.UserID(fmt.Sprint("u", (w*each+k)%60)), N: 5})
				if err != nil {
					t.Error(err)
					return
				}
				resp.Release()
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := e.FlushImpressions(ctx); err != nil {
		t.Fatal(err)
	}
	imps, err := db.ImpressionCounts(ctx, from, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var responses int64
	for _, c := range imps {
		responses += c.Responses
	}
	if responses != workers*each {
		t.Errorf("%d responses counted, want %d", responses, workers*each)
	}
}
