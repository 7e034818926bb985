package fbt

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// reference answers a query the plain way: every candidate's score in a
// map, the filter applied to all of them, a full sort, then the fill.
func reference(m *Model, q *model.Query) []topk.Entry {
	basket := []int32{q.Item}
	if q.Task == model.TaskBasket {
		basket = basket[:0]
		for _, h := range q.History {
			basket = append(basket, h.Item)
		}
	}
	score := map[int32]float64{}
	for _, it := range basket {
		for _, r := range m.Rules(it) {
			if slices.Contains(basket, r.Item) {
				continue
			}
			if m.raw {
				score[r.Item] += float64(r.Count)
			} else {
				score[r.Item] += r.Lower
			}
		}
	}
	var ranked []scored
	for i, s := range score {
		if q.Allowed(i) {
			if q.Boost != nil {
				s = float64(model.Boosted(float32(s), q.Boost(i)))
			}
			ranked = append(ranked, scored{i, s})
		}
	}
	slices.SortFunc(ranked, func(a, b scored) int { return cmp.Or(cmp.Compare(b.s, a.s), cmp.Compare(a.i, b.i)) })
	var out []topk.Entry
	for _, r := range ranked[:min(len(ranked), q.N)] {
		out = append(out, topk.Entry{Index: r.i, Score: float32(r.s)})
	}
	for _, i := range m.popular {
		if len(out) >= q.N {
			break
		}
		if _, ok := score[i]; ok || slices.Contains(basket, i) || !q.Allowed(i) {
			continue
		}
		out = append(out, topk.Entry{Index: i})
	}
	return out
}

// TestAnswerAsReference: the dense scores, the heap and the filter
// checked only as candidates come out answer exactly what scoring every
// candidate, filtering all and sorting answers, for both models, with and
// without exclusions and boosts, on random orders (seeded).
func TestAnswerAsReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const items = 60
	var catalog []tailor.Item
	for i := range items {
		catalog = append(catalog, tailor.Item{ID: tailor.ItemID(fmt.Sprintf("i%02d", i))})
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []tailor.Event
	for o := range 400 {
		base := r.IntN(items - 8)
		for j := range 2 + r.IntN(5) {
			events = append(events, tailor.Event{ID: fmt.Sprint("e", len(events)), UserID: tailor.UserID(fmt.Sprint("u", o%50)),
				ItemID: catalog[base+r.IntN(8)+j%2].ID, Type: tailor.Purchase, OrderID: fmt.Sprint("o", o), Timestamp: t0.Add(time.Duration(o) * time.Hour)})
		}
	}
	d := dataset.FromEvents(events, catalog)
	for _, info := range []model.Info{Info(), CooccurInfo()} {
		for _, params := range []string{`{}`, `{"min_count":1,"min_confidence":0.001}`} {
			mm, err := info.New([]byte(params), 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := mm.Fit(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			m := mm.(*Model)
			for c := range 300 {
				q := model.Query{Task: model.TaskBasket, User: -1, N: 1 + r.IntN(15)}
				if c%3 == 0 {
					q.Task, q.Item = model.TaskSimilar, int32(r.IntN(m.n))
				} else {
					for range 1 + r.IntN(4) {
						q.History = append(q.History, model.Interaction{Item: int32(r.IntN(m.n)), Type: tailor.Purchase, Weight: 1})
					}
				}
				if c%2 == 0 {
					gone := map[int32]bool{}
					for range r.IntN(30) {
						gone[int32(r.IntN(m.n))] = true
					}
					q.Exclude = func(i int32) bool { return gone[i] }
				}
				if c%5 == 0 {
					q.Boost = func(i int32) float64 { return 1 + float64(i%3) }
				}
				got, err := m.Answer(&q, nil)
				if err != nil {
					t.Fatal(err)
				}
				if want := reference(m, &q); !slices.Equal(got, want) {
					t.Fatalf("%s %s, query %d (%s, n %d):\n got %v\nwant %v", info.Name, params, c, q.Task, q.N, got, want)
				}
			}
		}
	}
}
