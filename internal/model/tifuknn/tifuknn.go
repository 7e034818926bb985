// Package tifuknn is TIFU-KNN (Hu, Sun, Zhang and Liu, "Modeling
// Personalized Item Frequency Information for Next-basket Recommendation",
// SIGIR 2020): a shopper is the time-decayed frequency vector of the items
// of their baskets, blended with the mean vector of their k nearest
// shoppers. Baskets are a shopper's orders (purchases without an order id
// and datasets without purchases: their events of a day; a training matrix
// without events: a shopper's row); the newest
// baskets form groups of Group baskets (the oldest group takes the rest),
// a group's vector is Σ r_b^(k−j)·basket_j / k over its k baskets, and the
// shopper's is Σ r_g^(G−i)·group_i / G over their G groups. Neighbours are
// the k nearest shoppers by Euclidean distance; a score is
// α·own + (1−α)·mean of the neighbours'.
//
// It answers personal queries: for a shopper of the training data from
// their vector, for any other history (a new shopper, live events) from
// the history's baskets (by day), with neighbours found among the training
// shoppers (a history cannot tell whose it is, so a training shopper's own
// vector can be among its neighbours). The artifact holds the shoppers'
// vectors by index, without their ids.
package tifuknn

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
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters; zero fields take the paper's defaults.
type Config struct {
	// K is the number of neighbours (default 300).
	K int `json:"k,omitempty"`
	// WithinDecay (r_b) weighs a basket inside its group, GroupDecay
	// (r_g) a group, by age (defaults 0.9 and 0.7).
	WithinDecay float64 `json:"within_decay,omitempty"`
	GroupDecay  float64 `json:"group_decay,omitempty"`
	// Alpha is the shopper's own share of a score (default 0.7).
	Alpha float64 `json:"alpha,omitempty"`
	// Group is the number of baskets in a group (default 7).
	Group int `json:"group,omitempty"`
}

func (c *Config) defaults() {
	c.K = cmp.Or(c.K, 300)
	c.WithinDecay = cmp.Or(c.WithinDecay, 0.9)
	c.GroupDecay = cmp.Or(c.GroupDecay, 0.7)
	c.Alpha = cmp.Or(c.Alpha, 0.7)
	c.Group = cmp.Or(c.Group, 7)
}

func (c *Config) validate() error {
	switch {
	case c.K < 1 || c.K > 10000:
		return fmt.Errorf("tifuknn: k %d must be from 1 to 10000", c.K)
	case !(c.WithinDecay > 0 && c.WithinDecay <= 1), !(c.GroupDecay > 0 && c.GroupDecay <= 1):
		return fmt.Errorf("tifuknn: within_decay %v and group_decay %v must be in (0, 1]", c.WithinDecay, c.GroupDecay)
	case !(c.Alpha >= 0 && c.Alpha <= 1):
		return fmt.Errorf("tifuknn: alpha %v must be in [0, 1]", c.Alpha)
	case c.Group < 1 || c.Group > 1000:
		return fmt.Errorf("tifuknn: group %d must be from 1 to 1000", c.Group)
	}
	return nil
}

// Info describes the model for package all, with a grid around the
// paper's defaults.
func Info() model.Info {
	var grid []json.RawMessage
	for _, k := range []int{100, 300} {
		for _, alpha := range []float64{0.5, 0.7, 0.9} {
			for _, rg := range []float64{0.6, 0.8} {
				for _, group := range []int{3, 7} {
					b, _ := json.Marshal(Config{K: k, Alpha: alpha, GroupDecay: rg, WithinDecay: 0.9, Group: group})
					grid = append(grid, b)
				}
			}
		}
	}
	return model.Info{Name: "tifuknn", Grid: grid, New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("tifuknn", params, &c); err != nil {
			return nil, err
		}
		c.defaults()
		if err := c.validate(); err != nil {
			return nil, err
		}
		return &Model{cfg: c}, nil
	}}
}

// vec is a sparse vector: items ascending.
type vec struct {
	items []int32
	vals  []float32
}

// Model is a fitted TIFU-KNN. It is safe for concurrent use once fitted.
type Model struct {
	cfg Config
	n   int // items
	// users' vectors, their squared norms, and each one's neighbours.
	users []vec
	norm2 []float32
	nbrs  [][]int32
	// postings list the users of each item with their value, for the
	// neighbours of a history.
	postings [][]posting

	// scratch holds answers' working arrays (*scratch), reused: a dense
	// score per item and one dot product per shopper were 30 KB and more
	// allocated by every query.
	scratch sync.Pool
}

// scratch is one answer's working memory: scores and dots are all zero
// and touched empty between uses.
type scratch struct {
	scores  []float32 // by item
	touched []int32   // the items with a score
	dots    []float32 // by shopper
}

// getScratch returns zeroed working arrays for the model's sizes.
func (m *Model) getScratch() *scratch {
	s, _ := m.scratch.Get().(*scratch)
	if s == nil || len(s.scores) != m.n || len(s.dots) != len(m.users) {
		s = &scratch{scores: make([]float32, m.n), dots: make([]float32, len(m.users))}
	}
	return s
}

// putScratch zeroes what an answer touched and keeps the arrays.
func (m *Model) putScratch(s *scratch) {
	for _, it := range s.touched {
		s.scores[it] = 0
	}
	s.touched = s.touched[:0]
	m.scratch.Put(s)
}

type posting struct {
	user int32
	val  float32
}

// Tasks: personal recommendations, and repurchase (the same scores over
// the shopper's own past items).
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskPersonal, model.TaskRepurchase} }

// DeterminedByHistory reports true for both tasks: a history's answer is
// its vector and its neighbours', whatever the query's time
// (model.Deterministic).
func (m *Model) DeterminedByHistory(t model.Task) bool {
	return t == model.TaskPersonal || t == model.TaskRepurchase
}

// ReadsPurchases reports true: a history's baskets are its purchases with
// their times, which Query.Purchases gives one by one
// (model.PurchaseReader).
func (m *Model) ReadsPurchases() bool { return true }

// basket is one basket's items at a time.
type basket struct {
	time  int64
	items []int32
}

// day is the start of t's UTC day.
func day(t int64) int64 {
	y, mo, d := time.Unix(0, t).UTC().Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).UnixNano()
}

// basketsOf groups (time, order, item) lines into baskets by order, or by
// day for lines without one, oldest first.
func basketsOf(lines []line) []basket {
	type key struct {
		order int32
		day   int64
	}
	byKey := map[key]*basket{}
	var keys []key
	for _, l := range lines {
		k := key{order: l.order, day: -1}
		if l.order < 0 {
			k.day = day(l.time)
		}
		b := byKey[k]
		if b == nil {
			b = &basket{time: l.time}
			byKey[k] = b
			keys = append(keys, k)
		}
		b.time = min(b.time, l.time)
		if !slices.Contains(b.items, l.item) {
			b.items = append(b.items, l.item)
		}
	}
	out := make([]basket, len(keys))
	for i, k := range keys {
		out[i] = *byKey[k]
	}
	slices.SortStableFunc(out, func(a, b basket) int { return cmp.Compare(a.time, b.time) })
	return out
}

type line struct {
	time  int64
	order int32
	item  int32
}

// vector is the shopper vector of baskets (oldest first).
func (m *Model) vector(bs []basket) vec {
	acc := map[int32]float64{}
	g := m.cfg.Group
	ng := (len(bs) + g - 1) / g
	// Groups of Group baskets counted from the newest; the oldest group
	// takes the rest.
	for gi := 0; gi < ng; gi++ {
		hi := len(bs) - (ng-1-gi)*g
		lo := max(0, hi-g)
		if gi == 0 {
			lo = 0
		}
		k := hi - lo
		gw := math.Pow(m.cfg.GroupDecay, float64(ng-1-gi)) / float64(ng)
		for j := lo; j < hi; j++ {
			bw := gw * math.Pow(m.cfg.WithinDecay, float64(hi-1-j)) / float64(k)
			for _, it := range bs[j].items {
				acc[it] += bw
			}
		}
	}
	v := vec{items: make([]int32, 0, len(acc))}
	for it := range acc {
		v.items = append(v.items, it)
	}
	slices.Sort(v.items)
	v.vals = make([]float32, len(v.items))
	for k, it := range v.items {
		v.vals[k] = float32(acc[it])
	}
	return v
}

func (v vec) norm2() float32 {
	var s float32
	for _, x := range v.vals {
		s += x * x
	}
	return s
}

// Fit builds every shopper's vector and finds their neighbours.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	m.n = d.NumItems()
	purchases := false
	for k := range d.Events {
		if d.Events[k].Kind == dataset.KindPurchase {
			purchases = true
			break
		}
	}
	lines := make([][]line, d.NumUsers())
	for k := range d.Events {
		e := &d.Events[k]
		if e.User < 0 || (purchases && e.Kind != dataset.KindPurchase) {
			continue
		}
		lines[e.User] = append(lines[e.User], line{time: e.Time, order: e.Order, item: e.Item})
	}
	// Protocols that split (shopper, item) pairs give a training matrix
	// without events: a shopper's row is then one basket.
	var mx *feature.Dataset
	for u := range lines {
		if len(lines[u]) > 0 {
			continue
		}
		if mx == nil {
			var err error
			if mx, err = d.Matrix(); err != nil {
				return err
			}
		}
		items, weights := mx.Row(int32(u))
		for k, it := range items {
			if weights[k] > 0 {
				lines[u] = append(lines[u], line{order: -1, item: it})
			}
		}
	}
	m.users, m.norm2 = make([]vec, d.NumUsers()), make([]float32, d.NumUsers())
	m.postings = make([][]posting, m.n)
	for u := range lines {
		m.users[u] = m.vector(basketsOf(lines[u]))
		m.norm2[u] = m.users[u].norm2()
		for k, it := range m.users[u].items {
			m.postings[it] = append(m.postings[it], posting{int32(u), m.users[u].vals[k]})
		}
	}
	m.nbrs = make([][]int32, d.NumUsers())
	for u := range m.users {
		if u%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		m.nbrs[u] = m.neighbours(m.users[u], int32(u))
	}
	return nil
}

// neighbours returns the K training shoppers nearest to v by Euclidean
// distance, leaving out self (−1: none), nearest first, ties to the
// smaller index. Shoppers sharing no item with v are at distance
// √(|v|² + |w|²).
func (m *Model) neighbours(v vec, self int32) []int32 {
	sc := m.getScratch()
	defer m.putScratch(sc)
	dots := sc.dots
	defer clear(dots)
	for k, it := range v.items {
		for _, p := range m.postings[it] {
			dots[p.user] += v.vals[k] * p.val
		}
	}
	n2 := v.norm2()
	h := topk.New(m.cfg.K)
	for w := range m.users {
		if int32(w) == self || len(m.users[w].items) == 0 {
			continue
		}
		h.Push(int32(w), -(n2 + m.norm2[w] - 2*dots[w])) // nearest: largest negative distance²
	}
	best := h.Sorted(nil)
	out := make([]int32, len(best))
	for i, e := range best {
		out[i] = e.Index
	}
	return out
}

// Answer ranks the allowed items by α·own + (1−α)·neighbours' mean.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskPersonal && q.Task != model.TaskRepurchase {
		return dst, &model.TaskError{Model: "tifuknn", Task: q.Task}
	}
	if m.users == nil {
		return dst, errors.New("tifuknn: not fitted")
	}
	if err := model.CheckQuery("tifuknn", q, m.n); err != nil {
		return dst, err
	}
	var own vec
	var nbrs []int32
	if q.User >= 0 && int(q.User) < len(m.users) && q.Task == model.TaskPersonal {
		own, nbrs = m.users[q.User], m.nbrs[q.User]
	} else {
		src := q.History
		if q.Purchases != nil {
			src = q.Purchases // every purchase with its time: the baskets
		}
		lines := make([]line, 0, len(src))
		for _, h := range src {
			if h.Weight > 0 {
				lines = append(lines, line{time: h.Time, order: -1, item: h.Item})
			}
		}
		own = m.vector(basketsOf(lines))
		if len(own.items) > 0 {
			nbrs = m.neighbours(own, -1)
		}
	}
	sc := m.getScratch()
	defer m.putScratch(sc)
	scores := sc.scores
	add := func(v vec, w float32) {
		for k, it := range v.items {
			if scores[it] == 0 {
				sc.touched = append(sc.touched, it)
			}
			scores[it] += w * v.vals[k]
		}
	}
	add(own, float32(m.cfg.Alpha))
	if len(nbrs) > 0 {
		w := float32((1 - m.cfg.Alpha) / float64(len(nbrs)))
		for _, v := range nbrs {
			add(m.users[v], w)
		}
	}
	h := topk.New(q.N)
	for _, it := range sc.touched {
		if !q.Allowed(it) {
			continue
		}
		if q.Task == model.TaskRepurchase {
			if _, mine := slices.BinarySearch(own.items, it); !mine {
				continue
			}
		}
		h.Push(it, q.Boosted(it, scores[it]))
	}
	return h.Sorted(dst), nil
}

// MarshalBinary encodes the shoppers' vectors and neighbours.
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.users == nil {
		return nil, errors.New("tifuknn: not fitted")
	}
	var ptr, nptr []int64
	var items, nbrs []int32
	var vals []float32
	ptr, nptr = append(ptr, 0), append(nptr, 0)
	for u := range m.users {
		items = append(items, m.users[u].items...)
		vals = append(vals, m.users[u].vals...)
		ptr = append(ptr, int64(len(items)))
		nbrs = append(nbrs, m.nbrs[u]...)
		nptr = append(nptr, int64(len(nbrs)))
	}
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.n))
	e.Int64s(ptr)
	e.Int32s(items)
	e.Float32s(vals)
	e.Int64s(nptr)
	e.Int32s(nbrs)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	n := int(d.Uint64())
	ptr, items, vals, nptr, nbrs := d.Int64s(), d.Int32s(), d.Float32s(), d.Int64s(), d.Int32s()
	if err := d.Err(); err != nil {
		return err
	}
	nu := len(ptr) - 1
	if nu < 0 || len(nptr) != nu+1 || len(items) != len(vals) || ptr[nu] != int64(len(items)) || nptr[nu] != int64(len(nbrs)) {
		return fmt.Errorf("tifuknn: %w", feature.ErrCorrupt)
	}
	m.n, m.users, m.norm2, m.nbrs, m.postings = n, make([]vec, nu), make([]float32, nu), make([][]int32, nu), make([][]posting, n)
	for u := 0; u < nu; u++ {
		if ptr[u] > ptr[u+1] || nptr[u] > nptr[u+1] {
			return fmt.Errorf("tifuknn: %w", feature.ErrCorrupt)
		}
		m.users[u] = vec{items: items[ptr[u]:ptr[u+1]:ptr[u+1]], vals: vals[ptr[u]:ptr[u+1]:ptr[u+1]]}
		m.nbrs[u] = nbrs[nptr[u]:nptr[u+1]:nptr[u+1]]
		for k, it := range m.users[u].items {
			if it < 0 || int(it) >= n {
				return fmt.Errorf("tifuknn: %w", feature.ErrCorrupt)
			}
			m.postings[it] = append(m.postings[it], posting{int32(u), m.users[u].vals[k]})
		}
		for _, v := range m.nbrs[u] {
			if v < 0 || int(v) >= nu {
				return fmt.Errorf("tifuknn: %w", feature.ErrCorrupt)
			}
		}
		m.norm2[u] = m.users[u].norm2()
	}
	return nil
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int { return m.n }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}
