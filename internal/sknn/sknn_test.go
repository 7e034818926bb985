package sknn

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/shareddata"
)

func ids(ss ...string) []tailor.ItemID {
	out := make([]tailor.ItemID, len(ss))
	for i, s := range ss {
		out[i] = tailor.ItemID(s)
	}
	return out
}

func TestNeighbours(t *testing.T) {
	m := Fit([][]tailor.ItemID{
		ids("tent", "stove", "lamp"),
		ids("tent", "stove", "mat"),
		ids("pan", "plate", "cup"),
		ids("pan", "plate", "fork"),
		ids("cup", "tea"),
	})
	got := m.Recommend(ids("tent"), 3, Options{})
	if len(got) != 3 || got[0].Item != "stove" {
		t.Errorf("after a tent: %+v", got)
	}
	// V-SKNN follows the last item: a session that went from tents to pans
	// gets kitchen things first.
	got = m.Recommend(ids("tent", "pan"), 2, Options{Sequential: true})
	if got[0].Item != "plate" {
		t.Errorf("tent then pan (sequential): %+v", got)
	}
	if got := m.LastItem(ids("tent", "pan"), 1); got[0].Item != "plate" {
		t.Errorf("last item: %+v", got)
	}
	for _, r := range m.Recommend(ids("tent", "stove"), 10, Options{}) {
		if r.Item == "tent" || r.Item == "stove" {
			t.Errorf("recommends the session's own item %s", r.Item)
		}
	}
	// Unknown items and empty sessions answer with popular items, never
	// an error.
	if got := m.Recommend(ids("nothing-known"), 2, Options{}); len(got) != 2 || !slices.Contains([]tailor.ItemID{"tent", "stove", "pan", "plate", "cup"}, got[0].Item) {
		t.Errorf("unknown session: %+v", got)
	}
	if got := m.Recommend(nil, 2, Options{}); len(got) != 2 {
		t.Errorf("empty session: %+v", got)
	}
}

// TestOnlineRetail is the session-next protocol on Online Retail: invoices
// before 2011-09-01 train, later ones are the test sessions.
func TestOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	path := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := eval.Load(context.Background(), "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	train, test := eval.Sessions(data.Events, time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), func(id tailor.ItemID) bool { return data.Items[id].NonProduct })
	// The first 500 test sessions keep the test under a few seconds;
	// 'tailor eval --protocol session-next' runs all of them.
	scores := Evaluate(train, test[:min(500, len(test))], 10)
	for _, s := range scores {
		t.Logf("%-14s hit@20 %.4f mrr@20 %.4f (%d predictions)", s.Model, s.HitRate, s.MRR, s.Predictions)
	}
	// STAN, the sequence-aware variant, is ahead of both baselines.
	stan, last, pop := scores[2], scores[3], scores[4]
	if !(stan.HitRate > last.HitRate && stan.MRR > last.MRR && stan.HitRate > pop.HitRate && stan.MRR > pop.MRR) {
		t.Errorf("stan is not ahead of last-item kNN and popularity: %+v", scores)
	}
}
