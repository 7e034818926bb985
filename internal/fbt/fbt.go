// Package fbt mines "frequently bought together" rules from orders: for
// items i and j bought in the same basket, the support of the pair, the
// confidence of i → j (the share of i's baskets that also hold j) and the
// lift (how much more often than chance). Rules that could be
// coincidence are dropped: a pair needs MinCount baskets, a lift above 1,
// and a 95% Wilson lower bound of its confidence of at least
// MinConfidence; rules rank by that lower bound, so a rule seen in 3 of 4
// baskets does not beat one seen in 300 of 500.
package fbt

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/tailorhq/tailor"
)

// Options configure Mine. Zero fields take the defaults.
type Options struct {
	// MinCount is the fewest baskets a pair must share (default 3).
	MinCount int
	// MinConfidence is the smallest 95% lower bound of the confidence
	// (default 0.01).
	MinConfidence float64
	// MaxBasket caps the items of a basket counted in pairs (default 100;
	// larger baskets are wholesale orders that pair everything with
	// everything).
	MaxBasket int
	// PerItem is how many rules each item keeps (default 50).
	PerItem int
}

// Rule is i → j.
type Rule struct {
	Item tailor.ItemID `json:"item_id"`
	// Count is the number of baskets holding both items, Confidence
	// Count over the antecedent's baskets, Lower its 95% Wilson lower
	// bound, Lift Confidence over the consequent's share of all baskets.
	Count      int     `json:"count"`
	Confidence float64 `json:"confidence"`
	Lower      float64 `json:"confidence_lower"`
	Lift       float64 `json:"lift"`
}

// Model holds each item's rules, best first.
type Model struct {
	Baskets int
	Support map[tailor.ItemID]int // baskets holding the item
	Rules   map[tailor.ItemID][]Rule
}

// wilsonLower is the 95% Wilson score lower bound of x successes in n.
func wilsonLower(x, n float64) float64 {
	if n == 0 {
		return 0
	}
	const z = 1.959964
	p := x / n
	den := 1 + z*z/n
	centre := p + z*z/(2*n)
	margin := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n))
	return (centre - margin) / den
}

// Mine finds the rules of the baskets (each a set of items; duplicates
// within a basket count once).
func Mine(baskets [][]tailor.ItemID, opts Options) (*Model, error) {
	if opts.MinCount == 0 {
		opts.MinCount = 3
	}
	if opts.MinConfidence == 0 {
		opts.MinConfidence = 0.01
	}
	if opts.MaxBasket == 0 {
		opts.MaxBasket = 100
	}
	if opts.PerItem == 0 {
		opts.PerItem = 50
	}
	if opts.MinCount < 1 || opts.MinConfidence < 0 || opts.MinConfidence >= 1 || opts.MaxBasket < 2 || opts.PerItem < 1 {
		return nil, fmt.Errorf("fbt: options out of range: %+v", opts)
	}
	// Dense ids for speed.
	ids := map[tailor.ItemID]int32{}
	var names []tailor.ItemID
	id := func(it tailor.ItemID) int32 {
		if i, ok := ids[it]; ok {
			return i
		}
		i := int32(len(names))
		ids[it] = i
		names = append(names, it)
		return i
	}
	support := []int{}
	pairs := map[[2]int32]int{}
	n := 0
	var set []int32
	for _, b := range baskets {
		set = set[:0]
		for _, it := range b {
			set = append(set, id(it))
		}
		slices.Sort(set)
		set = slices.Compact(set)
		if len(set) == 0 {
			continue
		}
		n++
		for len(support) < len(names) {
			support = append(support, 0)
		}
		for _, i := range set {
			support[i]++
		}
		if len(set) < 2 || len(set) > opts.MaxBasket {
			continue
		}
		for a, i := range set {
			for _, j := range set[a+1:] {
				pairs[[2]int32{i, j}]++
			}
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("fbt: no baskets")
	}
	m := &Model{Baskets: n, Support: map[tailor.ItemID]int{}, Rules: map[tailor.ItemID][]Rule{}}
	for i, c := range support {
		m.Support[names[i]] = c
	}
	add := func(from, to int32, c int) {
		ni, nj := float64(support[from]), float64(support[to])
		conf := float64(c) / ni
		lift := conf / (nj / float64(n))
		lower := wilsonLower(float64(c), ni)
		if lift <= 1 || lower < opts.MinConfidence {
			return
		}
		m.Rules[names[from]] = append(m.Rules[names[from]], Rule{Item: names[to], Count: c, Confidence: conf, Lower: lower, Lift: lift})
	}
	for p, c := range pairs {
		if c < opts.MinCount {
			continue
		}
		add(p[0], p[1], c)
		add(p[1], p[0], c)
	}
	for it, rs := range m.Rules {
		slices.SortFunc(rs, func(a, b Rule) int {
			return cmp.Or(cmp.Compare(b.Lower, a.Lower), cmp.Compare(b.Count, a.Count), cmp.Compare(a.Item, b.Item))
		})
		m.Rules[it] = rs[:min(len(rs), opts.PerItem)]
	}
	return m, nil
}

// Scored is an item with a score.
type Scored struct {
	Item  tailor.ItemID `json:"item_id"`
	Score float64       `json:"score"`
	// Because is the cart item whose rule gives the most.
	Because tailor.ItemID `json:"because,omitempty"`
}

// Complete ranks additions to a basket: each candidate scores the sum,
// over the basket's items, of their rules' confidence lower bounds. Items
// already in the basket are left out; n caps the answer.
func (m *Model) Complete(basket []tailor.ItemID, n int) []Scored {
	score := map[tailor.ItemID]*Scored{}
	best := map[tailor.ItemID]float64{}
	for _, it := range basket {
		for _, r := range m.Rules[it] {
			if slices.Contains(basket, r.Item) {
				continue
			}
			s := score[r.Item]
			if s == nil {
				s = &Scored{Item: r.Item}
				score[r.Item] = s
			}
			s.Score += r.Lower
			if r.Lower > best[r.Item] {
				best[r.Item], s.Because = r.Lower, it
			}
		}
	}
	out := make([]Scored, 0, len(score))
	for _, s := range score {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Scored) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Item, b.Item)) })
	return out[:min(n, len(out))]
}
