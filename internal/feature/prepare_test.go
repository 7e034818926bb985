package feature

import (
	"math"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
)

func ev(id, u, i string, typ tailor.EventType, value float64, at time.Time) tailor.Event {
	e := tailor.Event{ID: id, UserID: tailor.UserID(u), ItemID: tailor.ItemID(i), Type: typ, Timestamp: at}
	if value != 0 {
		e.Value = &value
	}
	return e
}

func TestPrepare(t *testing.T) {
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	events := []tailor.Event{
		ev("1", "a", "x", tailor.View, 0, now.Add(-2*day)),
		ev("1", "a", "x", tailor.View, 0, now.Add(-2*day)), // duplicate id
		ev("2", "a", "y", tailor.Purchase, 3, now),
		ev("3", "a", "y", tailor.Return, 1, now), // nets the purchase down to 2
		ev("4", "b", "y", tailor.Purchase, 1, now),
		ev("5", "b", "y", tailor.Return, 1, now), // nets it to nothing
		ev("6", "b", "x", tailor.AddToCart, 1, now),
		ev("7", "b", "z", "wishlist", 0, now), // no weight
		ev("8", "", "x", tailor.View, 0, now), // anonymous
	}
	events[8].SessionID = "s"
	w := map[tailor.EventType]float64{tailor.View: 1, tailor.Purchase: 4, tailor.AddToCart: 2}
	d, rep, err := Prepare(events, PrepareOptions{Weights: w, NetReturns: true, HalfLife: 2 * day, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Users != 2 || rep.Items != 2 || rep.Pairs != 3 {
		t.Fatalf("report %+v", rep)
	}
	weight := func(u, i string) float64 {
		ui, _ := index(d.Users, u)
		ii, _ := index(d.Items, i)
		items, ws := d.Row(ui)
		for k, it := range items {
			if it == ii {
				return float64(ws[k])
			}
		}
		return -1
	}
	// a–x: a view two days (one half-life) ago: 1 · 0.5.
	if got := weight("a", "x"); math.Abs(got-0.5) > 1e-6 {
		t.Errorf("a–x = %v, want 0.5", got)
	}
	// a–y: a purchase (weight 4) now; the return changed its quantity,
	// not its weight.
	if got := weight("a", "y"); math.Abs(got-4) > 1e-6 {
		t.Errorf("a–y = %v, want 4", got)
	}
	if got := weight("b", "y"); got != -1 {
		t.Errorf("b–y = %v, want dropped (all returned)", got)
	}
	if got := weight("b", "x"); math.Abs(got-2) > 1e-6 {
		t.Errorf("b–x = %v, want 2", got)
	}
	byName := map[string]Step{}
	for _, s := range rep.Steps {
		byName[s.Name] = s
	}
	if s := byName["anonymous and duplicate events"]; s.Removed != 2 {
		t.Errorf("dedup step %+v", s)
	}
	if s := byName["returns netted against purchases"]; s.Removed != 3 || s.Changed != 1 {
		t.Errorf("returns step %+v", s)
	}
	if s := byName["event types without weight"]; s.Removed != 1 {
		t.Errorf("weights step %+v", s)
	}

	// Skipped items.
	_, rep, err = Prepare(events, PrepareOptions{Weights: w, SkipItem: func(i tailor.ItemID) bool { return i == "y" }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pairs != 2 {
		t.Errorf("without item y: %+v", rep)
	}

	// Confidence and k-core.
	d, rep, err = Prepare(events[:7], PrepareOptions{Weights: w, ConfidenceAlpha: 2, KCore: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Every user and item of the 2-core has two partners: a and b with x
	// and y.
	if rep.Pairs != 4 {
		t.Fatalf("2-core report %+v", rep)
	}
	for _, wt := range d.Weights {
		if wt < 1 {
			t.Errorf("confidence %v below 1", wt)
		}
	}
	if _, _, err := Prepare(events, PrepareOptions{}); err == nil {
		t.Error("no weights accepted")
	}
	if _, _, err := Prepare(events, PrepareOptions{Weights: w, HalfLife: day}); err == nil {
		t.Error("a half-life without Now accepted")
	}
}

func index(ids []string, id string) (int32, bool) {
	for i, x := range ids {
		if x == id {
			return int32(i), true
		}
	}
	return -1, false
}

func TestScalers(t *testing.T) {
	xs := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	var s StandardScaler
	s.Fit(xs)
	if s.Mean != 5 || s.Std != 2 || s.Transform(9) != 2 {
		t.Errorf("standard: %+v, 9 → %v", s, s.Transform(9))
	}
	var m MinMaxScaler
	m.Fit(xs)
	if m.Transform(2) != 0 || m.Transform(9) != 1 || m.Transform(5.5) != 0.5 {
		t.Errorf("min-max: %+v", m)
	}
	var c MinMaxScaler
	c.Fit([]float64{3, 3})
	if c.Transform(3) != 0 {
		t.Error("constant feature not mapped to 0")
	}
}
