// Package fbt mines "frequently bought together" rules from orders: for
// items i and j bought in the same basket, the support of the pair, the
// confidence of i → j (the share of i's baskets that also hold j) and the
// lift (how much more often than chance). Rules that could be coincidence
// are dropped: a pair needs MinCount baskets, a lift above 1, and a 95%
// Wilson lower bound of its confidence of at least MinConfidence; rules
// rank by that lower bound, so a rule seen in 3 of 4 baskets does not beat
// one seen in 300 of 500.
//
// Two models answer from the rules: fbt scores a candidate by the sum,
// over the basket's items, of their rules' lower bounds; cooccur (the
// baseline) by the sum of the raw pair counts of every pair with a lift
// above 1. Both answer basket queries (a cart, a basket with one item
// hidden) and similar-item queries (the items bought with one), and with
// Fill (the default) complete a short list with the items in the most
// baskets.
package fbt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// MinCount is the fewest baskets a pair must share (default 3; the
	// cooccur model's default is 1).
	MinCount int `json:"min_count"`
	// MinConfidence is the smallest 95% lower bound of the confidence
	// (default 0.01; cooccur's 1e-9).
	MinConfidence float64 `json:"min_confidence"`
	// MaxBasket caps the items of a basket counted in pairs (default 100;
	// larger baskets are wholesale orders that pair everything with
	// everything).
	MaxBasket int `json:"max_basket"`
	// PerItem is how many rules each item keeps (default 50; cooccur's
	// 200).
	PerItem int `json:"per_item"`
	// NoFill leaves a list short when the rules give fewer items than
	// asked, instead of filling it with the items in the most baskets
	// (what "frequently bought together" on a product page wants).
	NoFill bool `json:"no_fill"`
}

func (c *Config) defaults(raw bool) error {
	if c.MinCount == 0 {
		c.MinCount = 3
		if raw {
			c.MinCount = 1
		}
	}
	if c.MinConfidence == 0 {
		c.MinConfidence = 0.01
		if raw {
			c.MinConfidence = 1e-9
		}
	}
	if c.MaxBasket == 0 {
		c.MaxBasket = 100
	}
	if c.PerItem == 0 {
		c.PerItem = 50
		if raw {
			c.PerItem = 200
		}
	}
	switch {
	case c.MinCount < 1:
		return fmt.Errorf("min_count %d must be at least 1", c.MinCount)
	case !(c.MinConfidence >= 0 && c.MinConfidence < 1):
		return fmt.Errorf("min_confidence %v must be from 0 to below 1", c.MinConfidence)
	case c.MaxBasket < 2:
		return fmt.Errorf("max_basket %d must be at least 2", c.MaxBasket)
	case c.PerItem < 1:
		return fmt.Errorf("per_item %d must be at least 1", c.PerItem)
	}
	return nil
}

// Info describes the fbt model for package all.
func Info() model.Info { return info("fbt", false) }

// CooccurInfo describes the cooccur baseline for package all.
func CooccurInfo() model.Info { return info("cooccur", true) }

func info(name string, raw bool) model.Info {
	var grid []json.RawMessage
	if !raw {
		for _, mc := range []int{2, 3, 5} {
			for _, conf := range []float64{0.005, 0.01, 0.02} {
				b, _ := json.Marshal(Config{MinCount: mc, MinConfidence: conf})
				grid = append(grid, b)
			}
		}
	}
	return model.Info{Name: name, Grid: grid, New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		c := Config{}
		if err := model.DecodeParams(name, params, &c); err != nil {
			return nil, err
		}
		if err := c.defaults(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return &Model{name: name, cfg: c, raw: raw}, nil
	}}
}

// Rule is i → j.
type Rule struct {
	Item int32
	// Count is the number of baskets holding both items, Lower the 95%
	// Wilson lower bound of the confidence, Lift the confidence over the
	// consequent's share of all baskets.
	Count int32
	Lower float64
	Lift  float64
}

// Model holds each item's rules, best first. It is safe for concurrent
// use once fitted.
type Model struct {
	name string
	cfg  Config
	raw  bool // cooccur: score by counts

	n       int
	baskets int
	support []int32 // baskets holding each item
	start   []int32 // item i's rules are rules[start[i]:start[i+1]]
	rules   []Rule
	popular []int32 // items by support, most first (ties: lower index)

	scratch sync.Pool // *scratch, for Answer
}

// scratch is one query's dense scores: score[i] is item i's when
// mark[i] == gen (so that nothing is cleared between queries), and
// touched lists those items.
type scratch struct {
	score   []float64
	mark    []uint32
	gen     uint32
	touched []int32
	ranked  []scored
}

// scored is a candidate and its score.
type scored struct {
	i int32
	s float64
}

// before orders candidates: higher score first, then lower index.
func before(a, b scored) bool { return a.s > b.s || (a.s == b.s && a.i < b.i) }

// getScratch returns a scratch for a catalog of n items with a new
// generation.
func (m *Model) getScratch() *scratch {
	sc, _ := m.scratch.Get().(*scratch)
	if sc == nil || len(sc.score) != m.n {
		sc = &scratch{score: make([]float64, m.n), mark: make([]uint32, m.n)}
	}
	sc.gen++
	if sc.gen == 0 { // wrapped: every mark may look current
		clear(sc.mark)
		sc.gen = 1
	}
	sc.touched, sc.ranked = sc.touched[:0], sc.ranked[:0]
	return sc
}

// popBest removes and returns the best candidate of the heap h (ordered
// by before).
func popBest(h []scored) (scored, []scored) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	down(h, 0)
	return top, h
}

// heapify orders h as a heap under before.
func heapify(h []scored) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(h, i)
	}
}

// down moves h[i] down the heap to its place.
func down(h []scored, i int) {
	for {
		l, best := 2*i+1, i
		if l < len(h) && before(h[l], h[best]) {
			best = l
		}
		if r := l + 1; r < len(h) && before(h[r], h[best]) {
			best = r
		}
		if best == i {
			return
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
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

// Fit mines the rules of the dataset's orders.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	o := d.Orders()
	if o.Len() == 0 {
		return fmt.Errorf("%s: the data has no orders (purchases with an order id)", m.name)
	}
	m.mine(d.NumItems(), o.Len(), o.Items)
	return ctx.Err()
}

// mine counts the pairs of the baskets.
func (m *Model) mine(n, baskets int, basket func(k int) []int32) {
	m.n = n
	m.support = make([]int32, n)
	pairs := map[[2]int32]int32{}
	var set []int32
	m.baskets = 0
	for k := range baskets {
		set = append(set[:0], basket(k)...)
		slices.Sort(set)
		set = slices.Compact(set)
		if len(set) == 0 {
			continue
		}
		m.baskets++
		for _, i := range set {
			m.support[i]++
		}
		if len(set) < 2 || len(set) > m.cfg.MaxBasket {
			continue
		}
		for a, i := range set {
			for _, j := range set[a+1:] {
				pairs[[2]int32{i, j}]++
			}
		}
	}
	byItem := make([][]Rule, n)
	nb := float64(m.baskets)
	add := func(from, to, c int32) {
		ni, nj := float64(m.support[from]), float64(m.support[to])
		conf := float64(c) / ni
		lift := conf / (nj / nb)
		lower := wilsonLower(float64(c), ni)
		if lift <= 1 || lower < m.cfg.MinConfidence {
			return
		}
		byItem[from] = append(byItem[from], Rule{Item: to, Count: c, Lower: lower, Lift: lift})
	}
	for p, c := range pairs {
		if int(c) < m.cfg.MinCount {
			continue
		}
		add(p[0], p[1], c)
		add(p[1], p[0], c)
	}
	m.start = make([]int32, n+1)
	m.rules = m.rules[:0]
	for i, rs := range byItem {
		slices.SortFunc(rs, func(a, b Rule) int {
			return cmp.Or(cmp.Compare(b.Lower, a.Lower), cmp.Compare(b.Count, a.Count), cmp.Compare(a.Item, b.Item))
		})
		m.rules = append(m.rules, rs[:min(len(rs), m.cfg.PerItem)]...)
		m.start[i+1] = int32(len(m.rules))
	}
	m.setPopular()
}

func (m *Model) setPopular() {
	m.popular = m.popular[:0]
	for i, s := range m.support {
		if s > 0 {
			m.popular = append(m.popular, int32(i))
		}
	}
	slices.SortStableFunc(m.popular, func(a, b int32) int { return cmp.Compare(m.support[b], m.support[a]) })
}

// Rules returns item i's rules, best first. The slice aliases the model.
func (m *Model) Rules(i int32) []Rule { return m.rules[m.start[i]:m.start[i+1]] }

// Tasks: basket completion and the items bought with one.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskBasket, model.TaskSimilar} }

// Answer ranks additions to the basket of q.History (or to the item of a
// similar-item query): each candidate scores the sum, over the basket's
// items, of their rules' lower bounds (cooccur: counts). Items already in
// the basket are left out. Unless NoFill, the items in the most baskets
// complete a short list (score 0).
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskBasket && q.Task != model.TaskSimilar {
		return dst, &model.TaskError{Model: m.name, Task: q.Task}
	}
	if err := model.CheckQuery(m.name, q, m.n); err != nil {
		return dst, err
	}
	basket := make([]int32, 0, len(q.History)+1)
	if q.Task == model.TaskSimilar {
		basket = append(basket, q.Item)
	} else {
		for _, h := range q.History {
			basket = append(basket, h.Item)
		}
	}
	sc := m.getScratch()
	defer m.scratch.Put(sc)
	for _, it := range basket {
		for _, r := range m.Rules(it) {
			if slices.Contains(basket, r.Item) {
				continue
			}
			v := r.Lower
			if m.raw {
				v = float64(r.Count)
			}
			if sc.mark[r.Item] != sc.gen {
				sc.mark[r.Item], sc.score[r.Item] = sc.gen, 0
				sc.touched = append(sc.touched, r.Item)
			}
			sc.score[r.Item] += v
		}
	}
	start := len(dst)
	// Best first from a heap, each checked against the query's filter only
	// when its turn comes: most candidates are never looked at. A boost
	// reorders, so under one every candidate is filtered and boosted first.
	for _, i := range sc.touched {
		s := sc.score[i]
		if q.Boost != nil {
			if !q.Allowed(i) {
				continue
			}
			s = float64(model.Boosted(float32(s), q.Boost(i)))
		}
		sc.ranked = append(sc.ranked, scored{i, s})
	}
	h := sc.ranked
	heapify(h)
	for len(h) > 0 && len(dst)-start < q.N {
		var r scored
		r, h = popBest(h)
		if q.Boost != nil || q.Allowed(r.i) {
			dst = append(dst, topk.Entry{Index: r.i, Score: float32(r.s)})
		}
	}
	if !m.cfg.NoFill {
		for _, i := range m.popular {
			if len(dst)-start >= q.N {
				break
			}
			if sc.mark[i] == sc.gen || slices.Contains(basket, i) || !q.Allowed(i) {
				continue
			}
			dst = append(dst, topk.Entry{Index: i, Score: 0})
		}
	}
	return dst, nil
}

// Because names the basket item whose rule gives the candidate the most.
func (m *Model) Because(items []int32, item int32) (int32, bool) {
	best, by := -1.0, int32(-1)
	for _, it := range items {
		if int(it) >= m.n {
			continue
		}
		for _, r := range m.Rules(it) {
			if r.Item == item && r.Lower > best {
				best, by = r.Lower, it
			}
		}
	}
	return by, by >= 0
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int { return m.n }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}

// MarshalBinary encodes the rules.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.n))
	e.Uint64(uint64(m.baskets))
	e.Int32s(m.support)
	e.Int32s(m.start)
	items, counts := make([]int32, len(m.rules)), make([]int32, len(m.rules))
	lower, lift := make([]float64, len(m.rules)), make([]float64, len(m.rules))
	for k, r := range m.rules {
		items[k], counts[k], lower[k], lift[k] = r.Item, r.Count, r.Lower, r.Lift
	}
	e.Int32s(items)
	e.Int32s(counts)
	e.Float64s(lower)
	e.Float64s(lift)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	n, baskets := int(d.Uint64()), int(d.Uint64())
	support, start := d.Int32s(), d.Int32s()
	items, counts, lower, lift := d.Int32s(), d.Int32s(), d.Float64s(), d.Float64s()
	if err := d.Err(); err != nil {
		return err
	}
	if len(support) != n || len(start) != n+1 || len(counts) != len(items) || len(lower) != len(items) || len(lift) != len(items) ||
		int(start[n]) != len(items) {
		return errors.New("fbt: corrupt artifact")
	}
	for _, i := range items {
		if i < 0 || int(i) >= n {
			return errors.New("fbt: corrupt artifact")
		}
	}
	m.n, m.baskets, m.support, m.start = n, baskets, support, start
	m.rules = make([]Rule, len(items))
	for k := range items {
		m.rules[k] = Rule{Item: items[k], Count: counts[k], Lower: lower[k], Lift: lift[k]}
	}
	m.setPopular()
	return nil
}

var (
	_ model.Persistent = (*Model)(nil)
	_ model.Explainer  = (*Model)(nil)
	_ model.Sized      = (*Model)(nil)
)
