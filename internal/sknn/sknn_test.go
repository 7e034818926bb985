package sknn

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/orders"
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
	// V-SKNN scores a neighbour's items by 1/(distance to the matched
	// item), and weighs the session's items by 1/(steps back + 1).
	line := Fit([][]tailor.ItemID{ids("a", "b", "c", "d")})
	got = line.Recommend(ids("c"), 3, Options{Sequential: true})
	if len(got) != 3 || got[0].Item != "b" || got[1].Item != "d" || got[2].Item != "a" ||
		math.Abs(got[0].Score-2*got[2].Score) > 1e-12 || got[0].Score != got[1].Score {
		t.Errorf("c in a line of a, b, c, d: %+v", got)
	}
	two := Fit([][]tailor.ItemID{ids("a", "x"), ids("b", "y")})
	got = two.Recommend(ids("a", "b"), 2, Options{Sequential: true})
	if got[0].Item != "y" || math.Abs(got[0].Score-2*got[1].Score) > 1e-12 {
		t.Errorf("a then b: %+v (b's session should count twice a's)", got)
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
	train, test := orders.Split(data.Events, time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), func(id tailor.ItemID) bool { return data.Items[id].NonProduct })
	// The first 500 test sessions keep the test under a few seconds;
	// 'tailor eval --protocol session-next' runs all of them.
	scores := Evaluate(train, test[:min(500, len(test))], 10)
	for _, s := range scores {
		t.Logf("%-14s hit@20 %.4f mrr@20 %.4f (%d predictions)", s.Model, s.HitRate, s.MRR, s.Predictions)
	}
	// The sequence-aware variants, V-SKNN and STAN, are ahead of both
	// baselines.
	last, pop := scores[3], scores[4]
	for _, s := range scores[1:3] {
		if !(s.HitRate > last.HitRate && s.MRR > last.MRR && s.HitRate > pop.HitRate && s.MRR > pop.MRR) {
			t.Errorf("%s is not ahead of last-item kNN and popularity: %+v", s.Model, scores)
		}
	}
}

// BenchmarkRecommend times one recommendation for the prefixes of Online
// Retail's first 200 test sessions (two to four items, as anonymous
// shoppers have), by each method, over the orders before 2011-09-01.
func BenchmarkRecommend(b *testing.B) {
	path := shareddata.Path(b, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := eval.Load(context.Background(), "online-retail:"+path)
	if err != nil {
		b.Fatal(err)
	}
	train, test := orders.Split(data.Events, time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), func(id tailor.ItemID) bool { return data.Items[id].NonProduct })
	m := Fit(train)
	var prefixes [][]tailor.ItemID
	for _, s := range test[:200] {
		for p := 2; p <= min(4, len(s)); p++ {
			prefixes = append(prefixes, s[:p])
		}
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{{"sknn", Options{}}, {"vsknn", Options{Sequential: true}}, {"stan", Options{STAN: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				m.Recommend(prefixes[i%len(prefixes)], 20, bc.opts)
			}
		})
	}
}

// TestSelectFront checks the quickselect against a full sort on
// random similarities with many ties.
func TestSelectFront(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, 100, 1000} {
		for _, k := range []int{1, n / 2, n - 1} {
			if k < 1 || k >= n {
				continue
			}
			nbs := make([]neighbour, n)
			for i := range nbs {
				nbs[i] = neighbour{s: int32(i), sim: float64(r.IntN(10))}
			}
			r.Shuffle(n, func(i, j int) { nbs[i], nbs[j] = nbs[j], nbs[i] })
			want := slices.Clone(nbs)
			slices.SortFunc(want, func(a, b neighbour) int { return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(b.s, a.s)) })
			selectFront(nbs, k, moreSimilar)
			got := slices.Clone(nbs[:k])
			slices.SortFunc(got, func(a, b neighbour) int { return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(b.s, a.s)) })
			if !slices.Equal(got, want[:k]) {
				t.Errorf("n %d k %d: selected %v, want %v", n, k, got, want[:k])
			}
		}
	}
}
