package tifuknn_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/tifuknn"
)

// TestHandComputed: three baskets of shopper u1 in groups of two (the
// oldest group takes the rest), decays ½, give u1 = {A: 0.5, B: 0.125,
// C: 0.25}; u2 = {A: 1} is nearer than u3 = {D: 1}, so with α = ½ and one
// neighbour the scores are A 0.75, C 0.125, B 0.0625, and D none.
func TestHandComputed(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	buy := func(id, user, item, order string, days int) tailor.Event {
		return tailor.Event{ID: id, UserID: tailor.UserID(user), ItemID: tailor.ItemID(item), Type: tailor.Purchase, OrderID: order, Timestamp: t0.AddDate(0, 0, days)}
	}
	d := dataset.FromEvents([]tailor.Event{
		buy("1", "u1", "A", "o1", 0), buy("2", "u1", "B", "o2", 1), buy("3", "u1", "A", "o3", 2), buy("4", "u1", "C", "o3", 2),
		buy("5", "u2", "A", "o4", 0), buy("6", "u3", "D", "o5", 0),
	}, nil)
	info := tifuknn.Info()
	m, err := info.New(json.RawMessage(`{"k":1,"within_decay":0.5,"group_decay":0.5,"alpha":0.5,"group":2}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	u1, _ := d.UserIndex("u1")
	idx := func(id string) int32 { i, _ := d.ItemIndex(id); return i }
	type scored struct {
		item  string
		score float64
	}
	check := func(what string, q model.Query, want []scored) {
		t.Helper()
		got, err := m.Answer(&q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %v", what, got)
		}
		for k, w := range want {
			if got[k].Index != idx(w.item) || math.Abs(float64(got[k].Score)-w.score) > 1e-6 {
				t.Errorf("%s: %d: %v, want %s %v", what, k, got[k], w.item, w.score)
			}
		}
	}
	check("a training shopper", model.Query{Task: model.TaskPersonal, User: u1, N: 10}, []scored{{"A", 0.75}, {"C", 0.125}, {"B", 0.0625}})
	// The same purchases as a history (baskets by day) make the same
	// vector, whose nearest training shopper is u1 itself (a history
	// cannot tell): own and neighbour are the same vector.
	var hist []model.Interaction
	for _, e := range []struct {
		item string
		days int
	}{{"A", 0}, {"B", 1}, {"A", 2}, {"C", 2}} {
		hist = append(hist, model.Interaction{Item: idx(e.item), Type: tailor.Purchase, Weight: 1, Time: t0.AddDate(0, 0, e.days).UnixNano()})
	}
	check("a history", model.Query{Task: model.TaskPersonal, User: -1, History: hist, N: 10}, []scored{{"A", 0.5}, {"C", 0.25}, {"B", 0.125}})
	// Saved and loaded, it answers the same.
	b, err := m.(model.Persistent).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m, _ = info.New(json.RawMessage(`{"k":1,"within_decay":0.5,"group_decay":0.5,"alpha":0.5,"group":2}`), 1)
	if err := m.(model.Persistent).UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	check("loaded", model.Query{Task: model.TaskPersonal, User: u1, N: 10}, []scored{{"A", 0.75}, {"C", 0.125}, {"B", 0.0625}})
	if _, err := info.New(json.RawMessage(`{"alpha":2}`), 1); err == nil {
		t.Error("alpha 2 was accepted")
	}
}
