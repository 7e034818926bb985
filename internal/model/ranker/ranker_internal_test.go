package ranker

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/buyagain"
	"github.com/tailorhq/tailor/internal/model/ease"
	"github.com/tailorhq/tailor/internal/model/itemknn"
	"github.com/tailorhq/tailor/internal/model/popular"
	"github.com/tailorhq/tailor/internal/model/tifuknn"
)

// lookup finds the default generators (package all imports this one).
func lookup(name string) (model.Info, error) {
	for _, info := range []model.Info{buyagain.Info(), ease.Info(), itemknn.Info(), tifuknn.Info(), popular.Info()} {
		if info.Name == name {
			return info, nil
		}
	}
	return model.Info{}, fmt.Errorf("no model %q", name)
}

// fitted returns a ranker of the given parameters fitted on d, with
// leaves of at least 5 rows (the fixtures are small).
func fitted(t *testing.T, params []byte, d *dataset.Dataset) *Model {
	t.Helper()
	mm, err := Info(lookup).New(params, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(*Model)
	m.cfg.MinLeaf = 5
	if err := m.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRanker fits on a shop where every shopper buys their own staple
// every week and a few other things: the trees learn (importances), every
// feature of every candidate is a finite number (new shoppers and items
// without a price included), the staple comes first for its shopper, and a
// query that leaves out what the shopper bought is ranked by the trees of
// new items.
func TestRanker(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	var events []tailor.Event
	n := 0
	price := 3.0
	for day := range 120 {
		for u := range 40 {
			if (day+u)%7 != 0 {
				continue
			}
			n++
			staple := fmt.Sprint("staple", u%10)
			events = append(events, tailor.Event{ID: fmt.Sprint(n), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: tailor.ItemID(staple),
				Type: tailor.Purchase, UnitPrice: &price, OrderID: fmt.Sprint("o", n), Timestamp: t0.AddDate(0, 0, day)})
			n++
			var p *float64
			if u%2 == 0 {
				p = &price
			}
			events = append(events, tailor.Event{ID: fmt.Sprint(n), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: tailor.ItemID(fmt.Sprint("other", (day*7+u)%25)),
				Type: tailor.Purchase, UnitPrice: p, OrderID: fmt.Sprint("o", n-1), Timestamp: t0.AddDate(0, 0, day).Add(time.Minute)})
		}
	}
	d := dataset.FromEvents(events, nil)
	m := fitted(t, nil, d)
	imp := m.Importances()
	total := 0.0
	for _, v := range imp {
		total += v
	}
	if len(imp) != len(m.FeatureNames()) || total <= 0 {
		t.Errorf("importances %v", imp)
	}
	u3, _ := d.UserIndex("u3")
	staple, _ := d.ItemIndex("staple3")
	got, err := m.Answer(&model.Query{Task: model.TaskPersonal, User: u3, N: 5}, nil)
	if err != nil || len(got) == 0 || got[0].Index != staple {
		t.Errorf("u3's list %v (%v), want staple3 first", got, err)
	}
	// Every feature of a training shopper and of a new one is finite.
	s := m.state
	for _, q := range []model.Query{{Task: model.TaskPersonal, User: u3, N: 50}, {Task: model.TaskPersonal, User: -1, N: 50}} {
		days, lastAny, spend, cats := map[int32][]int64{}, int64(-1), 0.0, map[string]float64{}
		if q.User >= 0 {
			days, lastAny, spend, cats = s.days[q.User], s.lastAny[q.User], s.spend[q.User], s.catShare[q.User]
		}
		gr, err := m.candidates(m.gens, s, &q, days, lastAny, spend, cats)
		if err != nil {
			t.Fatal(err)
		}
		for k, x := range gr.x {
			for j, v := range x {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Errorf("user %d, item %d: feature %s is %v", q.User, gr.items[k], m.FeatureNames()[j], v)
				}
			}
		}
	}
	// Leaving out all they bought, the staple cannot come, and the list is
	// still full.
	had := s.days[u3]
	got, err = m.Answer(&model.Query{Task: model.TaskPersonal, User: u3, N: 5, Exclude: func(i int32) bool { _, ok := had[i]; return ok }}, nil)
	if err != nil || len(got) != 5 {
		t.Errorf("new items for u3: %v (%v)", got, err)
	}
	for _, e := range got {
		if _, ok := had[e.Index]; ok {
			t.Errorf("an excluded item %d came back", e.Index)
		}
	}
}

// TestShopperFromPurchases describes every training shopper of a fixture
// from their purchases one by one, as serving passes them
// (Query.Purchases), and from the purchases in a history of one entry per
// item: the first gives what training saw (purchase days, last day,
// spend, category shares), the second at least the same items and last
// day; a purchase newer than the model gives finite features.
func TestShopperFromPurchases(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	prices := []float64{2, 3.5, 10}
	var events []tailor.Event
	for day := range 60 {
		for u := range 6 {
			if (day+u)%3 != 0 {
				continue
			}
			for k := range 1 + u%3 {
				it := (day/3 + u + k) % 9
				events = append(events, tailor.Event{ID: fmt.Sprint(len(events)), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: tailor.ItemID(fmt.Sprint("i", it)),
					Type: tailor.Purchase, UnitPrice: &prices[it%3], Timestamp: t0.AddDate(0, 0, day).Add(time.Duration(k) * time.Minute)})
			}
		}
	}
	catalog := make([]tailor.Item, 9)
	for i := range catalog {
		catalog[i] = tailor.Item{ID: tailor.ItemID(fmt.Sprint("i", i)), Categories: []string{fmt.Sprint("c", i%4)}}
	}
	d := dataset.FromEvents(events, catalog)
	s := stateAt(d, t0.AddDate(0, 0, 61).UnixNano())
	for u := range d.NumUsers() {
		var one, perItem []model.Interaction
		last := map[int32]int{}
		for _, e := range d.Events {
			if e.User != int32(u) {
				continue
			}
			x := model.Interaction{Item: e.Item, Type: tailor.Purchase, Weight: 1, Time: e.Time}
			one = append(one, x)
			if k, ok := last[e.Item]; ok {
				perItem[k].Time = e.Time
			} else {
				last[e.Item] = len(perItem)
				perItem = append(perItem, x)
			}
		}
		days, lastAny, spend, cats := s.shopper(&model.Query{User: -1, History: perItem, Purchases: one})
		if fmt.Sprint(days) != fmt.Sprint(s.days[u]) || lastAny != s.lastAny[u] || spend != s.spend[u] || fmt.Sprint(cats) != fmt.Sprint(s.catShare[u]) {
			t.Errorf("shopper %d from purchases: %v %d %v %v, training saw %v %d %v %v", u, days, lastAny, spend, cats, s.days[u], s.lastAny[u], s.spend[u], s.catShare[u])
		}
		if s.spend[u] <= 0 || len(s.catShare[u]) == 0 {
			t.Errorf("shopper %d: spend %v, categories %v", u, s.spend[u], s.catShare[u])
		}
		days, lastAny, _, _ = s.shopper(&model.Query{User: -1, History: perItem})
		if len(days) != len(s.days[u]) || lastAny != s.lastAny[u] {
			t.Errorf("shopper %d from one entry an item: %v %d, training saw %v %d", u, days, lastAny, s.days[u], s.lastAny[u])
		}
	}
	// A purchase after the model's data: "days since" is 0, not negative.
	newer := []model.Interaction{{Item: 0, Type: tailor.Purchase, Weight: 1, Time: t0.AddDate(0, 0, 90).UnixNano()}}
	days, lastAny, spend, cats := s.shopper(&model.Query{User: -1, Purchases: newer})
	x := s.features(days, lastAny, spend, cats, 0, nil, nil, nil)
	for j, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 && j != 2 && j != 6 {
			t.Errorf("feature %d of a purchase newer than the model: %v", j, v)
		}
	}
}

// TestHoldoutLabels fits the ranker with labels from a held-out tenth of
// each shopper's items on ratings given as a matrix alone (as kfold gives
// its training part): shoppers rate within one of four genres, and the
// trees, started at EASE's order (prior), put a film of the shopper's
// genre first for most of them, never one they rated. A label source it
// does not know, or a negative prior, is an error naming the parameter.
func TestHoldoutLabels(t *testing.T) {
	var events []tailor.Event
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rated := map[[2]int]bool{}
	r := rand.New(rand.NewPCG(3, 5))
	for u := range 80 {
		for k := range 10 {
			it := u%4 + 4*r.IntN(12) // films of genre g are g, g+4, …, g+44
			if k%5 == 4 {
				it = r.IntN(48) // now and then outside the genre
			}
			if rated[[2]int{u, it}] {
				continue
			}
			rated[[2]int{u, it}] = true
			five := 5.0
			events = append(events, tailor.Event{ID: fmt.Sprint(len(events)), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: tailor.ItemID(fmt.Sprint("i", it)),
				Type: tailor.Rating, Value: &five, Timestamp: t0.Add(time.Duration(len(events)) * time.Hour)})
		}
	}
	full := dataset.FromEvents(events, nil)
	mx, err := full.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	d := full.Derive(nil, dataset.ByUser, mx) // the matrix alone
	info := Info(lookup)
	for param, bad := range map[string]string{"labels": `{"labels":"random"}`, "prior": `{"prior":-1}`} {
		if _, err := info.New([]byte(bad), 1); err == nil || !strings.Contains(err.Error(), param) {
			t.Errorf("%s: err = %v, want one naming %s", bad, err, param)
		}
	}
	m := fitted(t, []byte(`{"labels":"holdout","prior":1,"generators":["ease","itemknn","popular"],"candidates":20}`), d)
	if m.trees.BestTrees < 1 {
		t.Errorf("%d trees kept", m.trees.BestTrees)
	}
	inGenre, users := 0, 0
	for u := range d.NumUsers() {
		own, _ := mx.Row(int32(u))
		got, err := m.Answer(&model.Query{Task: model.TaskPersonal, User: int32(u), N: 5, Exclude: func(i int32) bool {
			_, ok := slices.BinarySearch(own, i)
			return ok
		}}, nil)
		if err != nil || len(got) != 5 {
			t.Fatalf("user %d: %v (%v)", u, got, err)
		}
		for _, e := range got {
			if _, ok := slices.BinarySearch(own, e.Index); ok {
				t.Errorf("user %d: a rated item %d came back", u, e.Index)
			}
		}
		var genre int
		fmt.Sscanf(d.Users[u], "u%d", &genre)
		var it int
		fmt.Sscanf(d.Items[got[0].Index], "i%d", &it)
		users++
		if it%4 == genre%4 {
			inGenre++
		}
	}
	if inGenre < users*3/4 {
		t.Errorf("%d of %d shoppers get a film of their genre first", inGenre, users)
	}
}
