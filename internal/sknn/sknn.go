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
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/topk"
)

// Options configure recommendations. Zero fields take the defaults.
type Options struct {
	// Neighbors is k, the number of similar sessions used (default 100),
	// and Sample the number of most recent candidate sessions compared
	// (default 1,000).
	Neighbors, Sample int
	// Sequential turns on V-SKNN: the current session's item k steps
	// back from the last weighs 1/(k+1) in the similarity (the "div"
	// weighting of Ludewig & Jannach's V-SKNN), and a neighbour's item d
	// positions from the matched item (as in STAN) scores the neighbour's
	// similarity times 1/d ("div_score"). These were chosen on the
	// validation split below over V-SKNN's linear position weights
	// without either (hit@20 0.4132 against 0.3006).
	Sequential bool
	// STAN (Garg et al. 2019) weighs the current session's items by
	// exp(−(steps back)/Lambda1), and a neighbour's items by
	// exp(−(distance from the matched item in that session)/Lambda3), the
	// matched item being the most recent current item the neighbour has.
	// The defaults, 3 and 3, were chosen on a validation split of Online
	// Retail (train before 2011-07-01, 500 sessions of July and August)
	// from {1, 3} × {1, 3}.
	STAN             bool
	Lambda1, Lambda3 float64
}

// Model holds the past sessions.
type Model struct {
	ids     map[tailor.ItemID]int32
	names   []tailor.ItemID
	items   []int32   // distinct items of each session, in order, one session after another
	start   []int32   // session s is items[start[s]:start[s+1]]
	bySes   [][]int32 // item → sessions holding it, oldest first
	posIn   [][]int32 // item → its position in each of those sessions
	popular []int32   // items by session count, most first
	count   []int     // sessions per item
	scratch sync.Pool // *scratch
}

// Fit indexes the sessions (each a list of items in order, oldest session
// first).
func Fit(sessions [][]tailor.ItemID) *Model {
	m := &Model{ids: map[tailor.ItemID]int32{}, start: []int32{0}}
	for _, s := range sessions {
		var items []int32
		for _, it := range s {
			i, ok := m.ids[it]
			if !ok {
				i = int32(len(m.names))
				m.ids[it] = i
				m.names = append(m.names, it)
				m.count = append(m.count, 0)
				m.bySes, m.posIn = append(m.bySes, nil), append(m.posIn, nil)
			}
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
	m.popular = make([]int32, len(m.names))
	for i := range m.popular {
		m.popular[i] = int32(i)
	}
	slices.SortFunc(m.popular, func(a, b int32) int { return cmp.Or(cmp.Compare(m.count[b], m.count[a]), cmp.Compare(a, b)) })
	nItems, nSessions := len(m.names), len(m.start)-1
	m.scratch = sync.Pool{New: func() any {
		sc := &scratch{weight: make([]float64, nItems), recency: make([]int32, nItems), score: make([]float64, nItems), seen: make([]uint32, nSessions),
			overlap: make([]float64, nSessions), bestRec: make([]int32, nSessions), matchAt: make([]int32, nSessions)}
		for i := range sc.recency {
			sc.recency[i] = -1
		}
		return sc
	}}
	return m
}

// session returns session s's items.
func (m *Model) session(s int32) []int32 { return m.items[m.start[s]:m.start[s+1]] }

// Scored is a recommended item.
type Scored struct {
	Item  tailor.ItemID `json:"item_id"`
	Score float64       `json:"score"`
}

// Recommend returns the n best items for the session (oldest item
// first), leaving out its own items; popular items fill a short list.
func (m *Model) Recommend(session []tailor.ItemID, n int, opts Options) []Scored {
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
	// Weights of the current session's known items: 1, V-SKNN's 1/(steps
	// back + 1), or STAN's exp(−steps back/λ1). Dense, by item index;
	// recency −1 marks items not in the session.
	var known []int32
	for p, it := range session {
		i, ok := m.ids[it]
		if !ok {
			continue
		}
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
	// The n best by a bounded heap (ties: the lower item index).
	h := &sc.heap
	h.Reset(n)
	for _, i := range touched {
		h.Push(i, float32(sc.score[i]))
	}
	sc.sorted = h.Sorted(sc.sorted[:0])
	out := make([]Scored, 0, n)
	for _, e := range sc.sorted {
		out = append(out, Scored{m.names[e.Index], sc.score[e.Index]})
	}
	for _, i := range touched {
		sc.score[i] = 0
	}
	sc.cands, sc.touched = cands, touched
	return m.topScored(out, session, n)
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

// topScored sorts scored items and fills a short list with popular ones.
func (m *Model) topScored(out []Scored, session []tailor.ItemID, n int) []Scored {
	slices.SortFunc(out, func(a, b Scored) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Item, b.Item)) })
	out = out[:min(len(out), n)]
	for _, i := range m.popular {
		if len(out) >= n {
			break
		}
		name := m.names[i]
		if !slices.Contains(session, name) && !slices.ContainsFunc(out, func(s Scored) bool { return s.Item == name }) {
			out = append(out, Scored{name, 0})
		}
	}
	return out
}

// LastItem is the baseline "last-item kNN": items scored by their cosine
// co-occurrence in past sessions with the session's last known item.
func (m *Model) LastItem(session []tailor.ItemID, n int) []Scored {
	score := map[int32]float64{}
	for p := len(session) - 1; p >= 0; p-- {
		last, ok := m.ids[session[p]]
		if !ok {
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
	return m.top(score, session, n)
}

// Popular is the baseline of the most frequent items.
func (m *Model) Popular(session []tailor.ItemID, n int) []Scored {
	return m.top(nil, session, n)
}

// top ranks the scored items outside the session, filled with popular ones.
func (m *Model) top(score map[int32]float64, session []tailor.ItemID, n int) []Scored {
	out := make([]Scored, 0, len(score))
	for i, s := range score {
		if !slices.Contains(session, m.names[i]) {
			out = append(out, Scored{m.names[i], s})
		}
	}
	return m.topScored(out, session, n)
}

// Score is a method's next-item accuracy.
type Score struct {
	Model       string  `json:"model"`
	HitRate     float64 `json:"hit@20"`
	MRR         float64 `json:"mrr@20"`
	Predictions int     `json:"predictions"`
}

// Evaluate is the session-next protocol: for each test session, for each
// of its first maxPrefix prefixes (at least one item, at most maxPrefix),
// the next item is ranked from the prefix; HitRate@20 and MRR@20 of sknn,
// vsknn, stan, last-item kNN and popular.
func Evaluate(train, test [][]tailor.ItemID, maxPrefix int) []Score {
	m := Fit(train)
	methods := []struct {
		name string
		f    func([]tailor.ItemID) []Scored
	}{
		{"sknn", func(s []tailor.ItemID) []Scored { return m.Recommend(s, 20, Options{}) }},
		{"vsknn", func(s []tailor.ItemID) []Scored { return m.Recommend(s, 20, Options{Sequential: true}) }},
		{"stan", func(s []tailor.ItemID) []Scored { return m.Recommend(s, 20, Options{STAN: true}) }},
		{"last-item-knn", func(s []tailor.ItemID) []Scored { return m.LastItem(s, 20) }},
		{"popular", func(s []tailor.ItemID) []Scored { return m.Popular(s, 20) }},
	}
	scores := make([]Score, len(methods))
	for i, x := range methods {
		scores[i].Model = x.name
	}
	for _, s := range test {
		for p := 1; p < len(s) && p <= maxPrefix; p++ {
			prefix, next := s[:p], s[p]
			if slices.Contains(prefix, next) {
				continue
			}
			for i, x := range methods {
				scores[i].Predictions++
				for k, r := range x.f(prefix) {
					if r.Item == next {
						scores[i].HitRate++
						scores[i].MRR += 1 / float64(k+1)
						break
					}
				}
			}
		}
	}
	for i := range scores {
		if scores[i].Predictions > 0 {
			scores[i].HitRate /= float64(scores[i].Predictions)
			scores[i].MRR /= float64(scores[i].Predictions)
		}
	}
	return scores
}
