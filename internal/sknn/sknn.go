// Package sknn recommends for an anonymous session from past sessions
// like it (session-based kNN; Jannach & Ludewig 2017): the current
// session's neighbours are the most similar of the recent past sessions
// that share an item with it, and an item scores the summed similarity of
// the neighbours that hold it. The sequence-aware variant (V-SKNN)
// weighs the current session's items by position, the latest most, so
// that the last views steer the answer; STAN also weighs a neighbour's
// items by how close they sit to the item it shares with the current
// session.
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
	// Sequential turns on V-SKNN's position weights.
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
	ids      map[tailor.ItemID]int32
	names    []tailor.ItemID
	sessions [][]int32         // distinct items of each session, in order
	bySes    map[int32][]int32 // item → sessions holding it, oldest first
	popular  []int32           // items by session count, most first
	count    []int             // sessions per item
	scratch  sync.Pool         // *scratch
}

// Fit indexes the sessions (each a list of items in order, oldest session
// first).
func Fit(sessions [][]tailor.ItemID) *Model {
	m := &Model{ids: map[tailor.ItemID]int32{}, bySes: map[int32][]int32{}}
	for _, s := range sessions {
		var items []int32
		for _, it := range s {
			i, ok := m.ids[it]
			if !ok {
				i = int32(len(m.names))
				m.ids[it] = i
				m.names = append(m.names, it)
				m.count = append(m.count, 0)
			}
			if !slices.Contains(items, i) {
				items = append(items, i)
			}
		}
		if len(items) == 0 {
			continue
		}
		id := int32(len(m.sessions))
		m.sessions = append(m.sessions, items)
		for _, i := range items {
			m.bySes[i] = append(m.bySes[i], id)
			m.count[i]++
		}
	}
	m.popular = make([]int32, len(m.names))
	for i := range m.popular {
		m.popular[i] = int32(i)
	}
	slices.SortFunc(m.popular, func(a, b int32) int { return cmp.Or(cmp.Compare(m.count[b], m.count[a]), cmp.Compare(a, b)) })
	nItems, nSessions := len(m.names), len(m.sessions)
	m.scratch = sync.Pool{New: func() any {
		sc := &scratch{weight: make([]float64, nItems), recency: make([]int32, nItems), score: make([]float64, nItems), seen: make([]uint32, nSessions)}
		for i := range sc.recency {
			sc.recency[i] = -1
		}
		return sc
	}}
	return m
}

// Scored is a recommended item.
type Scored struct {
	Item  tailor.ItemID `json:"item_id"`
	Score float64       `json:"score"`
}

// Recommend returns the n best items for the session (oldest item
// first), leaving out its own items; popular items fill a short list.
func (m *Model) Recommend(session []tailor.ItemID, n int, opts Options) []Scored {
	if opts.Neighbors == 0 {
		opts.Neighbors = 100
	}
	if opts.Sample == 0 {
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
	// Weights of the current session's known items: 1, V-SKNN's position
	// weight (position / length, the last one 1), or STAN's exp(−steps
	// back/λ1). Dense, by item index; recency −1 marks items not in it.
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
			w = float64(p+1) / float64(len(session))
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
	// Candidates: the most recent sessions holding any current item.
	cands := sc.cands[:0]
	for _, i := range known {
		holders := m.bySes[i]
		for _, s := range holders[max(0, len(holders)-opts.Sample):] { // the most recent are last
			if sc.seen[s] != sc.stamp {
				sc.seen[s] = sc.stamp
				cands = append(cands, s)
			}
		}
	}
	slices.SortFunc(cands, func(a, b int32) int { return cmp.Compare(b, a) })
	cands = cands[:min(len(cands), opts.Sample)]
	nbs := sc.nbs[:0]
	norm := math.Sqrt(float64(len(known)))
	for _, s := range cands {
		var sim float64
		for _, i := range m.sessions[s] {
			sim += sc.weight[i]
		}
		if !opts.Sequential || opts.STAN {
			sim /= norm * math.Sqrt(float64(len(m.sessions[s]))) // cosine
		}
		nbs = append(nbs, neighbour{s, sim})
	}
	sc.nbs = nbs
	if len(nbs) > opts.Neighbors { // the k most similar, without sorting all
		h := topk.New(opts.Neighbors)
		for k, x := range nbs {
			h.Push(int32(k), float32(x.sim))
		}
		var keep []neighbour
		for _, e := range h.Sorted(nil) {
			keep = append(keep, nbs[e.Index])
		}
		nbs = keep
	}
	touched := sc.touched[:0]
	for _, x := range nbs {
		items := m.sessions[x.s]
		match := -1 // STAN: the position of the most recent current item in the neighbour
		if opts.STAN {
			best := int32(math.MaxInt32)
			for p, i := range items {
				if r := sc.recency[i]; r >= 0 && r < best {
					best, match = r, p
				}
			}
		}
		for p, i := range items {
			if sc.recency[i] >= 0 {
				continue
			}
			w := x.sim
			if match >= 0 {
				w *= sc.decay(p-match, opts.Lambda3)
			}
			if sc.score[i] == 0 {
				touched = append(touched, i)
			}
			sc.score[i] += w
		}
	}
	// The n best by a bounded heap (ties: the lower item index).
	h := topk.New(n)
	for _, i := range touched {
		h.Push(i, float32(sc.score[i]))
	}
	best := h.Sorted(nil)
	out := make([]Scored, 0, n)
	for _, e := range best {
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
	stamp   uint32
	cands   []int32
	nbs     []neighbour
	touched []int32
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
			for _, i := range m.sessions[s] {
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
