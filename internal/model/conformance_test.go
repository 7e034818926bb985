package model_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/topk"
)

// shopFixture is a small shop: 16 items of two kinds (mugs and bags) with
// titles and categories, 30 shoppers who view and buy within their kind,
// in orders of two to four items, over 60 days.
func shopFixture(t *testing.T) *dataset.Dataset {
	t.Helper()
	events, items := shopEvents()
	return dataset.FromEvents(events, items)
}

// shopEvents are shopFixture's events and items.
func shopEvents() ([]tailor.Event, []tailor.Item) {
	var items []tailor.Item
	for i := range 16 {
		kind, colour := "MUG", []string{"RED", "BLUE", "GREEN", "PINK"}[i%4]
		if i >= 8 {
			kind = "BAG"
		}
		items = append(items, tailor.Item{ID: tailor.ItemID(fmt.Sprintf("i%02d", i)), Title: fmt.Sprintf("%s SPOTTY %s %d", colour, kind, i),
			Categories: []string{strings.ToLower(kind) + "s"}})
	}
	t0 := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	price := 2.5
	var events []tailor.Event
	n := 0
	add := func(u int, item int, typ tailor.EventType, order string, at time.Time) {
		n++
		events = append(events, tailor.Event{ID: fmt.Sprint("e", n), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: items[item].ID, Type: typ,
			UnitPrice: &price, OrderID: order, Timestamp: at})
	}
	for day := range 60 {
		for u := day % 4; u < 30; u += 5 {
			base := 8 * (u % 2)
			at := t0.AddDate(0, 0, day).Add(time.Duration(u) * time.Minute)
			add(u, base+(day+u)%8, tailor.View, "", at)
			order := fmt.Sprint("o", day, "-", u)
			for j := range 2 + (u+day)%3 {
				add(u, base+(day+j)%8, tailor.Purchase, order, at.Add(time.Duration(j)*time.Second))
			}
		}
	}
	return events, items
}

// queries are one query of each task for the fixture, over user u0 (index
// 0), who buys mugs.
func queries(t *testing.T, d *dataset.Dataset) map[model.Task][]model.Query {
	t.Helper()
	u0, _ := d.UserIndex("u0")
	var history []model.Interaction
	for _, e := range d.Events {
		if e.User == u0 {
			history = append(history, model.Interaction{Item: e.Item, Type: d.Type(&e), Weight: 1, Time: e.Time})
		}
	}
	idx := func(id string) int32 {
		i, ok := d.ItemIndex(id)
		if !ok {
			t.Fatalf("no item %s", id)
		}
		return i
	}
	excluded := idx("i03")
	exclude := func(i int32) bool { return i == excluded }
	items := func(ids ...string) []model.Interaction {
		var out []model.Interaction
		for _, id := range ids {
			out = append(out, model.Interaction{Item: idx(id), Type: tailor.AddToCart, Weight: 1})
		}
		return out
	}
	mugs := []int32{idx("i01"), idx("i02"), idx("i04"), idx("i05")}
	slices.Sort(mugs)
	return map[model.Task][]model.Query{
		model.TaskPersonal: {
			{Task: model.TaskPersonal, User: u0, History: history, N: 5, Exclude: exclude},
			{Task: model.TaskPersonal, User: -1, History: history, N: 5, Exclude: exclude},
			{Task: model.TaskPersonal, User: u0, History: history, N: 3, Candidates: mugs},
		},
		model.TaskSimilar:    {{Task: model.TaskSimilar, User: -1, Item: idx("i01"), N: 5, Exclude: exclude}},
		model.TaskBasket:     {{Task: model.TaskBasket, User: -1, History: items("i01", "i02"), N: 5, Exclude: exclude}},
		model.TaskSession:    {{Task: model.TaskSession, User: -1, History: items("i04", "i05", "i06"), N: 5, Exclude: exclude}},
		model.TaskRepurchase: {{Task: model.TaskRepurchase, User: u0, History: history, Time: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano(), N: 5, Exclude: exclude}},
		model.TaskSearch:     {{Task: model.TaskSearch, User: u0, History: history, Text: "spoty mug", N: 5, Exclude: exclude}},
	}
}

// checkAnswer checks an answer against its query.
func checkAnswer(t *testing.T, name string, q *model.Query, got []topk.Entry, n int) {
	t.Helper()
	if len(got) > q.N {
		t.Errorf("%s %s: %d items for n %d", name, q.Task, len(got), q.N)
	}
	seen := map[int32]bool{}
	for k, e := range got {
		if e.Index < 0 || int(e.Index) >= n {
			t.Fatalf("%s %s: index %d outside the catalog of %d", name, q.Task, e.Index, n)
		}
		if seen[e.Index] {
			t.Errorf("%s %s: item %d twice in %v", name, q.Task, e.Index, got)
		}
		seen[e.Index] = true
		if !q.Allowed(e.Index) {
			t.Errorf("%s %s: item %d is excluded or not a candidate", name, q.Task, e.Index)
		}
		if k > 0 && e.Score > got[k-1].Score {
			t.Errorf("%s %s: not best first: %v", name, q.Task, got)
		}
		if e.Score != e.Score {
			t.Errorf("%s %s: score NaN", name, q.Task)
		}
	}
}

// TestConformance runs every registered model through the contract: it
// fits on a small shop, answers each task it declares (within n, allowed
// items only, best first) and refuses the others with a TaskError, names
// an unknown parameter, round-trips its artifact (when it can be saved)
// and answers concurrently.
func TestConformance(t *testing.T) {
	d := shopFixture(t)
	qs := queries(t, d)
	for _, info := range all.Models() {
		t.Run(info.Name, func(t *testing.T) {
			if _, err := info.New(json.RawMessage(`{"no_such_parameter":1}`), 1); err == nil || !strings.Contains(err.Error(), "no_such_parameter") {
				t.Errorf("an unknown parameter: err = %v, want one naming it", err)
			}
			for _, g := range info.Grid {
				if _, err := info.New(g, 1); err != nil {
					t.Errorf("grid point %s: %v", g, err)
				}
			}
			m, err := info.New(nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			tasks := m.Tasks()
			if len(tasks) == 0 {
				t.Fatal("answers no task")
			}
			if err := m.Fit(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			answers := map[string][]topk.Entry{}
			for _, task := range model.Tasks() {
				for k := range qs[task] {
					q := qs[task][k]
					got, err := m.Answer(&q, nil)
					if !slices.Contains(tasks, task) {
						var te *model.TaskError
						if !errors.As(err, &te) {
							t.Errorf("%s, which it does not declare: err = %v, want a TaskError", task, err)
						}
						continue
					}
					if task == model.TaskPersonal && q.User < 0 && !model.AnswersHistories(m) {
						continue
					}
					if err != nil {
						t.Fatalf("%s query %d: %v", task, k, err)
					}
					checkAnswer(t, info.Name, &q, got, d.NumItems())
					if k == 0 && len(got) == 0 {
						t.Errorf("%s: an empty answer on the fixture", task)
					}
					answers[fmt.Sprint(task, k)] = got
					// An index outside the catalog is an error, not a panic.
					bad := q
					bad.History = append(slices.Clone(q.History), model.Interaction{Item: int32(d.NumItems() + 5), Weight: 1})
					bad.Item = int32(d.NumItems() + 5)
					if task != model.TaskSearch || len(q.History) > 0 {
						if _, err := m.Answer(&bad, nil); err == nil && (task == model.TaskSimilar || len(bad.History) > 0) {
							t.Errorf("%s: an index outside the catalog was accepted", task)
						}
					}
				}
			}
			// A model that ranks a task fixed (model.FixedRanker): its
			// filtered answer is the first items of its unfiltered one that
			// pass the filter.
			for _, task := range []model.Task{model.TaskPersonal, model.TaskSimilar, model.TaskRepurchase} {
				if !model.RanksFixed(m, task) {
					continue
				}
				q := qs[task][0]
				if task == model.TaskPersonal {
					q.User = -1 // fixed ranking is a claim about history queries
				}
				q.Exclude, q.N = nil, d.NumItems()
				whole, err := m.Answer(&q, nil)
				if err != nil {
					t.Fatalf("%s without a filter: %v", task, err)
				}
				for _, keep := range []func(int32) bool{func(i int32) bool { return i%2 == 0 }, func(i int32) bool { return i%3 != 1 }} {
					f := q
					f.N = 3
					f.Exclude = func(i int32) bool { return !keep(i) }
					got, err := m.Answer(&f, nil)
					if err != nil {
						t.Fatalf("%s filtered: %v", task, err)
					}
					var want []topk.Entry
					for _, e := range whole {
						if len(want) < f.N && keep(e.Index) {
							want = append(want, e)
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s claims a fixed ranking, but filtered it answers %v, not %v", task, got, want)
					}
				}
			}
			// A model whose answers a history determines
			// (model.Deterministic): the same question gets the same
			// answer, whatever its time; a shorter one its first items.
			for _, task := range []model.Task{model.TaskPersonal, model.TaskSimilar, model.TaskBasket, model.TaskSession, model.TaskRepurchase} {
				if !model.Answers(m, task) || !model.DeterminedByHistory(m, task) {
					continue
				}
				q := qs[task][0]
				q.User, q.N = -1, d.NumItems()
				if model.ReadsPurchases(m) {
					for _, h := range q.History {
						if h.Type == tailor.Purchase {
							q.Purchases = append(q.Purchases, h)
						}
					}
				}
				whole, err := m.Answer(&q, nil)
				if err != nil {
					t.Fatalf("%s: %v", task, err)
				}
				later := q
				later.Time = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
				if again, err := m.Answer(&later, nil); err != nil || !slices.Equal(again, whole) {
					t.Errorf("%s claims answers a history determines, but asked again later it answers %v (%v), not %v", task, again, err, whole)
				}
				short := q
				short.N = 3
				if got, err := m.Answer(&short, nil); err != nil || !slices.Equal(got, whole[:min(3, len(whole))]) {
					t.Errorf("%s claims answers a history determines, but for 3 items it answers %v (%v), not the first of %v", task, got, err, whole)
				}
				if len(q.Purchases) > 0 {
					bad := q
					bad.Purchases = append(slices.Clone(q.Purchases), model.Interaction{Item: int32(d.NumItems() + 5), Type: tailor.Purchase, Weight: 1})
					if _, err := m.Answer(&bad, nil); err == nil {
						t.Errorf("%s: a purchase outside the catalog was accepted", task)
					}
				}
			}
			// Concurrent answers agree with the sequential ones.
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, task := range tasks {
						for k := range qs[task] {
							q := qs[task][k]
							if task == model.TaskPersonal && q.User < 0 && !model.AnswersHistories(m) {
								continue
							}
							got, err := m.Answer(&q, nil)
							if err != nil || !slices.Equal(got, answers[fmt.Sprint(task, k)]) {
								t.Errorf("%s query %d concurrently: %v, %v", task, k, got, err)
							}
						}
					}
				}()
			}
			wg.Wait()
			if !model.IsPersistent(m) {
				return
			}
			var buf bytes.Buffer
			if _, err := model.Save(&buf, info.Name, nil, m); err != nil {
				t.Fatal(err)
			}
			loaded, name, _, err := model.Load(bytes.NewReader(buf.Bytes()), all.Lookup)
			if err != nil || name != info.Name {
				t.Fatalf("load: %s, %v", name, err)
			}
			for _, task := range tasks {
				for k := range qs[task] {
					q := qs[task][k]
					if task == model.TaskPersonal && q.User < 0 && !model.AnswersHistories(m) {
						continue
					}
					got, err := loaded.Answer(&q, nil)
					if err != nil || !slices.Equal(got, answers[fmt.Sprint(task, k)]) {
						t.Errorf("%s query %d after loading: %v (%v), fitted %v", task, k, got, err, answers[fmt.Sprint(task, k)])
					}
				}
			}
		})
	}
}

// TestForgetUsers fits every model that can be saved on the shop fixture
// with one shopper of a distinctive id, removes that shopper from the
// loaded model, and saves it again: the id appears nowhere in the new
// artifact, the model loads, and it still answers for another shopper.
// Models that keep shoppers' data must implement model.Forgetter.
func TestForgetUsers(t *testing.T) {
	const forgotten = "shopper-to-forget-7f3a9c"
	events, items := shopEvents()
	for i := range events {
		if events[i].UserID == "u7" {
			events[i].UserID = forgotten
		}
	}
	d := dataset.FromEvents(events, items)
	qs := queries(t, d)
	for _, info := range all.Models() {
		t.Run(info.Name, func(t *testing.T) {
			m, err := info.New(nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !model.IsPersistent(m) {
				t.Skip("cannot be saved")
			}
			if err := m.Fit(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			var before bytes.Buffer
			if _, err := model.Save(&before, info.Name, nil, m); err != nil {
				t.Fatal(err)
			}
			holds := bytes.Contains(before.Bytes(), []byte(forgotten))
			loaded, _, _, err := model.LoadBytes(before.Bytes(), all.Lookup)
			if err != nil {
				t.Fatal(err)
			}
			n := model.ForgetUsers(loaded, func(id string) bool { return id == forgotten })
			if holds && n != 1 {
				t.Fatalf("the artifact holds the shopper's id, and ForgetUsers removed %d shoppers, not 1", n)
			}
			if !holds && n != 0 {
				t.Errorf("the artifact does not hold the shopper, and ForgetUsers removed %d", n)
			}
			var after bytes.Buffer
			if _, err := model.Save(&after, info.Name, nil, loaded); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(after.Bytes(), []byte(forgotten)) {
				t.Error("the artifact still holds the shopper's id")
			}
			again, _, _, err := model.LoadBytes(after.Bytes(), all.Lookup)
			if err != nil {
				t.Fatalf("load the scrubbed artifact: %v", err)
			}
			for _, task := range again.Tasks() {
				if len(qs[task]) == 0 {
					continue
				}
				q := qs[task][0]
				if task == model.TaskPersonal && q.User < 0 && !model.AnswersHistories(again) {
					continue
				}
				if _, err := again.Answer(&q, nil); err != nil {
					t.Errorf("%s after scrubbing: %v", task, err)
				}
			}
		})
	}
}
