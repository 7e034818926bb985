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

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/shareddata"
	"github.com/tailorhq/tailor/internal/topk"
)

// catalog names items by index for a test.
type catalog struct {
	names []string
	of    map[string]int32
}

func (c *catalog) ids(ss ...string) []int32 {
	out := make([]int32, len(ss))
	for k, s := range ss {
		i, ok := c.of[s]
		if !ok {
			i = int32(len(c.names))
			c.of[s] = i
			c.names = append(c.names, s)
		}
		out[k] = i
	}
	return out
}

func (c *catalog) index(sessions ...[]int32) *Index {
	return NewIndex(len(c.names), len(sessions), func(k int) []int32 { return sessions[k] })
}

func (c *catalog) named(es []topk.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, c.names[e.Index])
	}
	return out
}

func TestNeighbours(t *testing.T) {
	c := &catalog{of: map[string]int32{}}
	sessions := [][]int32{
		c.ids("tent", "stove", "lamp"),
		c.ids("tent", "stove", "mat"),
		c.ids("pan", "plate", "cup"),
		c.ids("pan", "plate", "fork"),
		c.ids("cup", "tea"),
	}
	c.ids("nothing-known")
	m := c.index(sessions...)
	got := m.Recommend(c.ids("tent"), 3, Options{}, nil, nil, nil)
	if len(got) != 3 || c.names[got[0].Index] != "stove" {
		t.Errorf("after a tent: %v", c.named(got))
	}
	// V-SKNN follows the last item: a session that went from tents to pans
	// gets kitchen things first.
	got = m.Recommend(c.ids("tent", "pan"), 2, Options{Sequential: true}, nil, nil, nil)
	if c.names[got[0].Index] != "plate" {
		t.Errorf("tent then pan (sequential): %v", c.named(got))
	}
	// V-SKNN scores a neighbour's items by 1/(distance to the matched
	// item), and weighs the session's items by 1/(steps back + 1).
	lc := &catalog{of: map[string]int32{}}
	line := lc.index(lc.ids("a", "b", "c", "d"))
	got = line.Recommend(lc.ids("c"), 3, Options{Sequential: true}, nil, nil, nil)
	if len(got) != 3 || lc.named(got)[0] != "b" || lc.named(got)[1] != "d" || lc.named(got)[2] != "a" ||
		math.Abs(float64(got[0].Score-2*got[2].Score)) > 1e-6 || got[0].Score != got[1].Score {
		t.Errorf("c in a line of a, b, c, d: %v %v", lc.named(got), got)
	}
	tc := &catalog{of: map[string]int32{}}
	two := tc.index(tc.ids("a", "x"), tc.ids("b", "y"))
	got = two.Recommend(tc.ids("a", "b"), 2, Options{Sequential: true}, nil, nil, nil)
	if tc.named(got)[0] != "y" || math.Abs(float64(got[0].Score-2*got[1].Score)) > 1e-6 {
		t.Errorf("a then b: %v (b's session should count twice a's)", got)
	}
	if got := m.LastItem(c.ids("tent", "pan"), 1, nil, nil, nil); c.named(got)[0] != "plate" {
		t.Errorf("last item: %v", c.named(got))
	}
	for _, r := range m.Recommend(c.ids("tent", "stove"), 10, Options{}, nil, nil, nil) {
		if n := c.names[r.Index]; n == "tent" || n == "stove" {
			t.Errorf("recommends the session's own item %s", n)
		}
	}
	// An excluded item is left out; the list fills with others.
	stove := c.ids("stove")[0]
	if got := m.Recommend(c.ids("tent"), 3, Options{}, func(i int32) bool { return i != stove }, nil, nil); slices.ContainsFunc(got, func(e topk.Entry) bool { return e.Index == stove }) || len(got) != 3 {
		t.Errorf("stove excluded: %v", c.named(got))
	}
	// Unknown items and empty sessions answer with popular items, never
	// an error.
	if got := m.Recommend(c.ids("nothing-known"), 2, Options{}, nil, nil, nil); len(got) != 2 || !slices.Contains([]string{"tent", "stove", "pan", "plate", "cup"}, c.named(got)[0]) {
		t.Errorf("unknown session: %v", c.named(got))
	}
	if got := m.Recommend(nil, 2, Options{}, nil, nil, nil); len(got) != 2 {
		t.Errorf("empty session: %v", got)
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

// BenchmarkRecommend times one recommendation for the prefixes of Online
// Retail's first 200 test sessions (two to four items, as anonymous
// shoppers have), by each method, over the orders before 2011-09-01.
func BenchmarkRecommend(b *testing.B) {
	path := shareddata.Path(b, filepath.Join("online-retail", "online-retail.csv.gz"))
	d, err := dataset.Load(context.Background(), "online-retail:"+path)
	if err != nil {
		b.Fatal(err)
	}
	d = d.Select(dataset.SelectOptions{Keep: func(e *dataset.Event) bool {
		return e.Kind == dataset.KindPurchase && e.Order >= 0 && !d.Catalog[e.Item].NonProduct
	}, Order: dataset.ByID, Rows: dataset.ByOrder})
	o := d.Orders()
	cut := time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	first := slices.IndexFunc(o.Time, func(t int64) bool { return t >= cut })
	m := NewIndex(d.NumItems(), first, o.Items)
	var prefixes [][]int32
	for k := first; k < first+200; k++ {
		s := o.Items(k)
		for p := 2; p <= min(4, len(s)); p++ {
			prefixes = append(prefixes, s[:p])
		}
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{{"sknn", Options{}}, {"vsknn", Options{Sequential: true}}, {"stan", Options{STAN: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			var dst []topk.Entry
			for i := 0; b.Loop(); i++ {
				dst = m.Recommend(prefixes[i%len(prefixes)], 20, bc.opts, nil, nil, dst[:0])
			}
		})
	}
}
