package content

import (
	"testing"

	"github.com/tailorhq/tailor"
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
}
