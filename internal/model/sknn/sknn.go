// Package sknn recommends for an anonymous session from past sessions
// like it (session-based kNN; Jannach & Ludewig 2017): the current
// session's neighbours are the most similar of the recent past sessions
// that share an item with it, and an item scores the summed similarity of
// the neighbours that hold it. The sequence-aware variants steer the
// answer by the last items: V-SKNN (Ludewig & Jannach 2018) weighs the
// current session's items by 1/(steps back + 1) and a neighbour's items by
// 1/(their distance to the most recent item it shares with the current
// session); STAN (Garg et al. 2019) uses exponential decays for both.
package sknn

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

// Options configure recommendations. Zero fields take the defaults.
type Options struct {
	// Neighbors is k, the number of similar sessions used (default 100),
	// and Sample the number of most recent candidate sessions compared
	// (default 1,000).
	Neighbors int `json:"neighbors"`
	Sample    int `json:"sample"`
	// Sequential turns on V-SKNN: the current session's item k steps
	// back from the last weighs 1/(k+1) in the similarity (the "div"
	// weighting of Ludewig & Jannach's V-SKNN), and a neighbour's item d
	// positions from the matched item (as in STAN) scores the neighbour's
	// similarity times 1/d ("div_score"). These were chosen on a
	// validation split of Online Retail over V-SKNN's linear position
	// weights without either (hit@20 0.4132 against 0.3006).
	Sequential bool `json:"-"`
	// STAN (Garg et al. 2019) weighs the current session's items by
	// exp(−(steps back)/Lambda1), and a neighbour's items by
	// exp(−(distance from the matched item in that session)/Lambda3), the
	// matched item being the most recent current item the neighbour has.
	// The defaults, 3 and 3, were chosen on a validation split of Online
	// Retail (train before 2011-07-01, 500 sessions of July and August)
	// from {1, 3} × {1, 3}.
	STAN    bool    `json:"-"`
	Lambda1 float64 `json:"lambda1,omitempty"`
	Lambda3 float64 `json:"lambda3,omitempty"`
}

// Index holds the past sessions by dense item index.
type Index struct {
	n       int       // items
	items   []int32   // distinct items of each session, in order, one session after another
	start   []int32   // session s is items[start[s]:start[s+1]]
	bySes   [][]int32 // item → sessions holding it, oldest first
	posIn   [][]int32 // item → its position in each of those sessions
	popular []int32   // items by session count, most first (ties: lower index)
	count   []int32   // sessions per item
	scratch sync.Pool // *scratch
}

// NewIndex indexes sessions (item lists, oldest session first) over a
// catalog of n items; session(k) returns session k's items in order.
func NewIndex(n, sessions int, session func(k int) []int32) *Index {
	m := &Index{n: n, start: []int32{0}, count: make([]int32, n), bySes: make([][]int32, n), posIn: make([][]int32, n)}
	var items []int32
	for k := range sessions {
		items = items[:0]
		for _, i := range session(k) {
			if !slices.Contains(items, i) {
				items = append(items, i)
			}
		}
		if len(items) == 0 {
			continue
		}
		id := int32(len(m.start) - 1)
		m.items = append(m.items, items...)
		m.start = append(m.start, int32(len(m.items)))
		for p, i := range items {
			m.bySes[i] = append(m.bySes[i], id)
			m.posIn[i] = append(m.posIn[i], int32(p))
			m.count[i]++
		}
	}
	m.init()
	return m
}

// init sets the popularity order and the scratch pool.
func (m *Index) init() {
	m.popular = m.popular[:0]
	for i, c := range m.count {
		if c > 0 {
			m.popular = append(m.popular, int32(i))
		}
	}
	slices.SortStableFunc(m.popular, func(a, b int32) int { return cmp.Compare(m.count[b], m.count[a]) })
	nItems, nSessions := m.n, len(m.start)-1
	m.scratch = sync.Pool{New: func() any {
		sc := &scratch{weight: make([]float64, nItems), recency: make([]int32, nItems), score: make([]float64, nItems), seen: make([]uint32, nSessions),
			overlap: make([]float64, nSessions), bestRec: make([]int32, nSessions), matchAt: make([]int32, nSessions)}
		for i := range sc.recency {
			sc.recency[i] = -1
		}
		return sc
	}}
}

// session returns session s's items.
func (m *Index) session(s int32) []int32 { return m.items[m.start[s]:m.start[s+1]] }

// Recommend appends to dst the n best items for the session (item indices,
// oldest first), leaving out its own items and those allowed rejects (nil:
// none); the items in the most sessions fill a short list (score 0).
// boost, if not nil, scales each scored item's score before the choice.
func (m *Index) Recommend(session []int32, n int, opts Options, allowed func(int32) bool, boost func(int32, float32) float32, dst []topk.Entry) []topk.Entry {
	if opts.Neighbors <= 0 {
		opts.Neighbors = 100
	}
	if opts.Sample <= 0 {
		opts.Sample = 1000
	}
	if opts.Lambda1 == 0 {
		opts.Lambda1 = 3
	}
	if opts.Lambda3 == 0 {
		opts.Lambda3 = 3
	}
	sc := m.scratch.Get().(*scratch)
	defer m.scratch.Put(sc)
	sc.stamp++
	if sc.stamp == 0 { // wrapped: forget every mark
		clear(sc.seen)
		sc.stamp = 1
	}
	// Weights of the current session's items: 1, V-SKNN's 1/(steps
	// back + 1), or STAN's exp(−steps back/λ1). Dense, by item index;
	// recency −1 marks items not in the session.
	var known []int32
	for p, i := range session {
		w := 1.0
		switch {
		case opts.STAN:
			w = math.Exp(-float64(len(session)-1-p) / opts.Lambda1)
		case opts.Sequential:
			w = 1 / float64(len(session)-p)
		}
		if sc.recency[i] < 0 {
			known = append(known, i)
		}
		sc.weight[i] = math.Max(sc.weight[i], w)
		sc.recency[i] = int32(len(session) - 1 - p)
	}
	defer func() {
		for _, i := range known {
			sc.weight[i], sc.recency[i] = 0, -1
		}
	}()
	// Candidates: the most recent sessions holding any current item, each
	// with the summed weights of the current items it holds, added up
	// from the posting lists (each list's most recent Sample sessions)
	// rather than by reading every candidate's items. The sums are exact
	// for the candidates kept: a session that holds item i but is older
	// than i's Sample most recent holders is older than Sample candidates.
	// Each also notes where it holds the most recent current item (the
	// match that STAN's and V-SKNN's item weights count from).
	cands := sc.cands[:0]
	ordered := opts.STAN || opts.Sequential
	for _, i := range known {
		holders, at := m.bySes[i], m.posIn[i]
		w, r := sc.weight[i], sc.recency[i]
		for k := max(0, len(holders)-opts.Sample); k < len(holders); k++ { // the most recent are last
			s := holders[k]
			if sc.seen[s] != sc.stamp {
				sc.seen[s] = sc.stamp
				sc.overlap[s], sc.bestRec[s] = 0, math.MaxInt32
				cands = append(cands, s)
			}
			sc.overlap[s] += w
			if ordered && r < sc.bestRec[s] {
				sc.bestRec[s], sc.matchAt[s] = r, at[k]
			}
		}
	}
	if len(cands) > opts.Sample {
		slices.Sort(cands)
		cands = cands[len(cands)-opts.Sample:]
	}
	nbs := sc.nbs[:0]
	norm := math.Sqrt(float64(len(known)))
	for _, s := range cands {
		nbs = append(nbs, neighbour{s, sc.overlap[s] / (norm * math.Sqrt(float64(m.start[s+1]-m.start[s])))}) // cosine
	}
	sc.nbs = nbs
	if len(nbs) > opts.Neighbors { // the k most similar, without sorting all
		selectFront(nbs, opts.Neighbors, moreSimilar)
		nbs = nbs[:opts.Neighbors]
	}
	touched := sc.touched[:0]
	for _, x := range nbs {
		items := m.session(x.s)
		match := -1 // the position of the most recent current item in the neighbour
		if ordered {
			match = int(sc.matchAt[x.s])
		}
		for p, i := range items {
			if sc.recency[i] >= 0 {
				continue
			}
			w := x.sim
			switch {
			case match >= 0 && opts.STAN:
				w *= sc.decay(p-match, opts.Lambda3)
			case match >= 0:
				w /= float64(max(p-match, match-p)) // V-SKNN; p ≠ match, as the matched item is skipped
			}
			if sc.score[i] == 0 {
				touched = append(touched, i)
			}
			sc.score[i] += w
		}
	}
	// The n best by a bounded heap (ties: the lower item index), then by
	// their exact scores.
	h := &sc.heap
	h.Reset(n)
	for _, i := range touched {
		if allowed == nil || allowed(i) {
			s := float32(sc.score[i])
			if boost != nil {
				s = boost(i, s)
			}
			h.Push(i, s)
		}
	}
	sc.sorted = h.Sorted(sc.sorted[:0])
	start := len(dst)
	dst = append(dst, sc.sorted...)
	if boost == nil {
		out := dst[start:]
		slices.SortStableFunc(out, func(a, b topk.Entry) int {
			return cmp.Or(cmp.Compare(sc.score[b.Index], sc.score[a.Index]), cmp.Compare(a.Index, b.Index))
		})
	}
	for _, i := range touched {
		sc.score[i] = 0
	}
	sc.cands, sc.touched = cands, touched
	return m.fill(dst, start, session, n, allowed)
}

type neighbour struct {
	s   int32
	sim float64
}

// selectFront moves the k first of xs in the order before (a strict
// total order) to its front, in no particular order, by quickselect:
// linear time on average, where a heap of k would take n·log k.
func selectFront[T any](xs []T, k int, before func(a, b T) bool) {
	lo, hi, target := 0, len(xs)-1, k-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		xs[mid], xs[hi] = xs[hi], xs[mid]
		pivot, store := xs[hi], lo
		for i := lo; i < hi; i++ {
			if before(xs[i], pivot) {
				xs[i], xs[store] = xs[store], xs[i]
				store++
			}
		}
		xs[store], xs[hi] = xs[hi], xs[store]
		switch {
		case store == target:
			return
		case store < target:
			lo = store + 1
		default:
			hi = store - 1
		}
	}
}

// moreSimilar orders neighbours by similarity, ties to the more recent
// session.
func moreSimilar(a, b neighbour) bool { return a.sim > b.sim || (a.sim == b.sim && a.s > b.s) }

// decay is exp(−|d|/lambda), from a table for small distances.
func (sc *scratch) decay(d int, lambda float64) float64 {
	if d < 0 {
		d = -d
	}
	if sc.expLambda != lambda {
		sc.expLambda = lambda
		sc.expTab = sc.expTab[:0]
		for k := 0; k < 256; k++ {
			sc.expTab = append(sc.expTab, math.Exp(-float64(k)/lambda))
		}
	}
	if d < len(sc.expTab) {
		return sc.expTab[d]
	}
	return math.Exp(-float64(d) / lambda)
}

// scratch is one request's working memory, pooled.
type scratch struct {
	expTab    []float64
	expLambda float64

	weight  []float64 // by item
	recency []int32   // by item; −1: not in the session
	score   []float64 // by item
	seen    []uint32  // by session: the stamp of the request that saw it
	overlap []float64 // by session: the weights of the current items it holds (valid where seen)
	bestRec []int32   // by session: the steps back of the most recent current item it holds
	matchAt []int32   // by session: that item's position in it
	stamp   uint32
	cands   []int32
	nbs     []neighbour
	touched []int32
	heap    topk.Heap // for the items
	sorted  []topk.Entry
}

// fill completes dst[start:] to n items with the items in the most
// sessions (score 0) that are not in the session, not listed and allowed.
func (m *Index) fill(dst []topk.Entry, start int, session []int32, n int, allowed func(int32) bool) []topk.Entry {
	for _, i := range m.popular {
		if len(dst)-start >= n {
			break
		}
		if slices.Contains(session, i) || (allowed != nil && !allowed(i)) || slices.ContainsFunc(dst[start:], func(e topk.Entry) bool { return e.Index == i }) {
			continue
		}
		dst = append(dst, topk.Entry{Index: i, Score: 0})
	}
	return dst
}

// LastItem is the baseline "last-item kNN": items scored by their cosine
// co-occurrence in past sessions with the session's last item that any
// past session holds; the items in the most sessions fill a short list.
func (m *Index) LastItem(session []int32, n int, allowed func(int32) bool, boost func(int32, float32) float32, dst []topk.Entry) []topk.Entry {
	score := map[int32]float64{}
	for p := len(session) - 1; p >= 0; p-- {
		last := session[p]
		if m.count[last] == 0 {
			continue
		}
		for _, s := range m.bySes[last] {
			for _, i := range m.session(s) {
				if i != last {
					score[i]++
				}
			}
		}
		for i, c := range score {
			score[i] = c / math.Sqrt(float64(m.count[last])*float64(m.count[i]))
		}
		break
	}
	type scored struct {
		i int32
		s float64
	}
	out := make([]scored, 0, len(score))
	for i, s := range score {
		if !slices.Contains(session, i) && (allowed == nil || allowed(i)) {
			if boost != nil {
				s = float64(boost(i, float32(s)))
			}
			out = append(out, scored{i, s})
		}
	}
	slices.SortFunc(out, func(a, b scored) int { return cmp.Or(cmp.Compare(b.s, a.s), cmp.Compare(a.i, b.i)) })
	start := len(dst)
	for _, x := range out[:min(n, len(out))] {
		dst = append(dst, topk.Entry{Index: x.i, Score: float32(x.s)})
	}
	return m.fill(dst, start, session, n, allowed)
}

// Model is a session model behind the model contract: sknn, vsknn, stan
// or last-item-knn, over the dataset's orders as sessions. It is safe for
// concurrent use once fitted.
type Model struct {
	name string
	opts Options
	idx  *Index
}

// Info describes plain session kNN (cosine over the session as a set).
func Info() model.Info { return info("sknn", Options{}) }

// VSKNNInfo describes V-SKNN (Ludewig & Jannach 2018).
func VSKNNInfo() model.Info { return info("vsknn", Options{Sequential: true}) }

// STANInfo describes STAN (Garg et al. 2019).
func STANInfo() model.Info { return info("stan", Options{STAN: true}) }

// LastItemInfo describes the last-item kNN baseline.
func LastItemInfo() model.Info { return info("last-item-knn", Options{}) }

// params are the parameters of the variants (stan alone takes the
// lambdas, last-item-knn none).
type params struct {
	Neighbors int      `json:"neighbors"`
	Sample    int      `json:"sample"`
	Lambda1   *float64 `json:"lambda1"`
	Lambda3   *float64 `json:"lambda3"`
}

func info(name string, base Options) model.Info {
	var grid []json.RawMessage
	switch name {
	case "sknn", "vsknn":
		for _, k := range []int{50, 100, 300} {
			for _, s := range []int{1000, 3000} {
				b, _ := json.Marshal(map[string]int{"neighbors": k, "sample": s})
				grid = append(grid, b)
			}
		}
	case "stan":
		for _, l1 := range []float64{1, 3} {
			for _, l3 := range []float64{1, 3} {
				b, _ := json.Marshal(map[string]float64{"lambda1": l1, "lambda3": l3})
				grid = append(grid, b)
			}
		}
	}
	return model.Info{Name: name, Grid: grid, New: func(raw json.RawMessage, _ uint64) (model.Model, error) {
		o := base
		var p params
		if err := model.DecodeParams(name, raw, &p); err != nil {
			return nil, err
		}
		switch {
		case name == "last-item-knn" && (p.Neighbors != 0 || p.Sample != 0 || p.Lambda1 != nil || p.Lambda3 != nil):
			return nil, fmt.Errorf("last-item-knn takes no parameters")
		case name != "stan" && (p.Lambda1 != nil || p.Lambda3 != nil):
			return nil, fmt.Errorf("%s: lambda1 and lambda3 are stan's parameters", name)
		case p.Neighbors < 0:
			return nil, fmt.Errorf("%s: neighbors %d must be positive", name, p.Neighbors)
		case p.Sample < 0:
			return nil, fmt.Errorf("%s: sample %d must be positive", name, p.Sample)
		}
		o.Neighbors, o.Sample = p.Neighbors, p.Sample
		for _, l := range []struct {
			name string
			v    *float64
			dst  *float64
		}{{"lambda1", p.Lambda1, &o.Lambda1}, {"lambda3", p.Lambda3, &o.Lambda3}} {
			if l.v == nil {
				continue
			}
			if !(*l.v > 0) || math.IsInf(*l.v, 0) {
				return nil, fmt.Errorf("%s: %s %v must be a positive number", name, l.name, *l.v)
			}
			*l.dst = *l.v
		}
		return &Model{name: name, opts: o}, nil
	}}
}

// Fit indexes the dataset's orders as past sessions.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	o := d.Orders()
	if o.Len() == 0 {
		return fmt.Errorf("%s: the data has no orders (purchases with an order id) to learn sessions from", m.name)
	}
	m.idx = NewIndex(d.NumItems(), o.Len(), o.Items)
	return ctx.Err()
}

// Tasks: the next item of a session; last-item kNN also answers
// similar-item queries (the items in sessions with the item).
func (m *Model) Tasks() []model.Task {
	if m.name == "last-item-knn" {
		return []model.Task{model.TaskSession, model.TaskSimilar}
	}
	return []model.Task{model.TaskSession}
}

// Answer ranks the next items of the session in q.History.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if !slices.Contains(m.Tasks(), q.Task) {
		return dst, &model.TaskError{Model: m.name, Task: q.Task}
	}
	if m.idx == nil {
		return dst, fmt.Errorf("%s: not fitted", m.name)
	}
	if err := model.CheckQuery(m.name, q, m.idx.n); err != nil {
		return dst, err
	}
	session := make([]int32, 0, len(q.History)+1)
	for _, h := range q.History {
		session = append(session, h.Item)
	}
	if q.Task == model.TaskSimilar {
		session = append(session, q.Item)
	}
	var allowed func(int32) bool
	if q.Exclude != nil || q.Candidates != nil {
		allowed = q.Allowed
	}
	var boost func(int32, float32) float32
	if q.Boost != nil {
		boost = q.Boosted
	}
	if m.name == "last-item-knn" {
		return m.idx.LastItem(session, q.N, allowed, boost, dst), nil
	}
	return m.idx.Recommend(session, q.N, m.opts, allowed, boost, dst), nil
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int {
	if m.idx == nil {
		return 0
	}
	return m.idx.n
}

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}

// MarshalBinary encodes the sessions.
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.idx == nil {
		return nil, errors.New("sknn: not fitted")
	}
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.idx.n))
	e.Int32s(m.idx.start)
	e.Int32s(m.idx.items)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	n := int(d.Uint64())
	start, items := d.Int32s(), d.Int32s()
	if err := d.Err(); err != nil {
		return err
	}
	if len(start) == 0 || start[0] != 0 || int(start[len(start)-1]) != len(items) {
		return errors.New("sknn: corrupt artifact")
	}
	for k := 1; k < len(start); k++ {
		if start[k] < start[k-1] {
			return errors.New("sknn: corrupt artifact")
		}
	}
	for _, i := range items {
		if i < 0 || int(i) >= n {
			return errors.New("sknn: corrupt artifact")
		}
	}
	m.idx = NewIndex(n, len(start)-1, func(k int) []int32 { return items[start[k]:start[k+1]] })
	return nil
}

var (
	_ model.Persistent = (*Model)(nil)
	_ model.Sized      = (*Model)(nil)
)
