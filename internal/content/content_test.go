package content

import (
	"cmp"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/kernels"
)

func TestNearestByMeaning(t *testing.T) {
	items := []tailor.Item{
		{ID: "red-bag", Title: "Jumbo bag red retrospot"},
		{ID: "pink-bag", Title: "Jumbo bag pink polkadot"},
		{ID: "lunch-bag", Title: "Lunch bag red retrospot"},
		{ID: "holder", Title: "White hanging heart t-light holder"},
		{ID: "lantern", Title: "White metal lantern", Description: "hanging t-light"},
		{ID: "cake", Title: "Pack of 60 paper cake cases"},
	}
	m, err := Fit(items, Options{Dims: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Nearest(m.Vector("holder"), 2, func(id tailor.ItemID) bool { return id != "holder" })
	if got[0].Item != "lantern" {
		t.Errorf("nearest to the heart holder: %+v", got)
	}
	p := m.Profile([]tailor.ItemID{"red-bag", "pink-bag", "unknown"})
	if got := m.Nearest(p, 1, func(id tailor.ItemID) bool { return id != "red-bag" && id != "pink-bag" }); got[0].Item != "lunch-bag" {
		t.Errorf("nearest to a bag profile: %+v", got)
	}
	if m.Profile([]tailor.ItemID{"unknown"}) != nil || m.Vector("unknown") != nil {
		t.Error("unknown items have vectors")
	}
	if _, err := Fit(nil, Options{}); err == nil {
		t.Error("no items: no error")
	}
	// A text folded in lands where the item with the same words is (the
	// sample is small enough for the decomposition to be exact), and a
	// query finds the items of its words' meaning.
	if c := kernels.Dot(m.EmbedText("White hanging heart t-light holder"), m.Vector("holder")); c < 0.999 {
		t.Errorf("the holder's title folded in: cosine %v with the holder", c)
	}
	if got := m.Nearest(m.EmbedText("a hanging lantern"), 2, nil); len(got) != 2 ||
		!slices.Contains([]tailor.ItemID{"lantern", "holder"}, got[0].Item) || !slices.Contains([]tailor.ItemID{"lantern", "holder"}, got[1].Item) {
		t.Errorf("nearest to a hanging lantern: %+v", got)
	}
	if m.EmbedText("zzz qqq") != nil {
		t.Error("a text without known words has a vector")
	}
}

// TestNearestMatchesFullSort checks the bounded selection against sorting
// every item, ties (items with the same words, given out of id order)
// going to the smaller id.
func TestNearestMatchesFullSort(t *testing.T) {
	items := []tailor.Item{
		{ID: "z-mug", Title: "Spotty mug"},
		{ID: "b-mug", Title: "Spotty mug"},
		{ID: "m-mug", Title: "Spotty mug"},
		{ID: "a-cup", Title: "Spotty cup and mug"},
		{ID: "lamp", Title: "Brass lamp"},
		{ID: "c-lamp", Title: "Brass lamp shade"},
		{ID: "bag", Title: "Spotty bag"},
	}
	m, err := Fit(items, Options{Dims: 3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, probe := range []tailor.ItemID{"z-mug", "lamp", "bag"} {
		vec := m.Vector(probe)
		var all []Scored
		for _, it := range items {
			all = append(all, Scored{it.ID, float64(kernels.Dot(vec, m.Vector(it.ID)))})
		}
		slices.SortFunc(all, func(a, b Scored) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Item, b.Item)) })
		for n := 1; n <= len(items)+1; n++ {
			got := m.Nearest(vec, n, nil)
			if diff := gocmp.Diff(all[:min(n, len(all))], got); diff != "" {
				t.Errorf("nearest %d to %s (-full sort +got):\n%s", n, probe, diff)
			}
		}
	}
	if got := m.Nearest(m.Vector("lamp"), 0, nil); len(got) != 0 {
		t.Errorf("n = 0: %v", got)
	}
}
