// Package repeatexplore is a next-basket model that says, for a shopper
// and an item, how likely they are to buy it within the coming weeks, for
// the items they bought before (repeat) and for new ones (explore), on one
// scale, so that one list mixes both by that chance.
//
// Repeat: a logistic regression over the shopper's purchase days of the
// item, the days since the last, that time against the item's usual cycle
// (the shopper's own mean gap when they bought it on two days or more,
// else the item's median gap, else the shop's), the item's repeat share
// (its buyers who bought it on two days or more) and the shopper's repeat
// share. Explore: another model (EASE by default) proposes new items, and a
// logistic regression turns their score (against the shopper's best) and
// rank into a chance. Both regressions learn from the training data
// itself: features at HorizonDays before its end, labels from the purchases
// in those last days; the statistics and the explore model are then fitted
// on all of it.
package repeatexplore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters.
type Config struct {
	// Explore names the model that proposes new items (default "ease")
	// and Params its parameters.
	Explore string          `json:"explore,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	// HorizonDays is the window the chances are learnt on (default 60).
	HorizonDays float64 `json:"horizon_days,omitempty"`
	// Candidates is how many new items are proposed per shopper (default
	// 100).
	Candidates int `json:"candidates,omitempty"`
}

// Info describes the model for package all; lookup finds the explore
// model's kind.
func Info(lookup func(name string) (model.Info, error)) model.Info {
	var grid []json.RawMessage
	for _, h := range []int{30, 60, 90} {
		grid = append(grid, json.RawMessage(fmt.Sprintf(`{"horizon_days":%d}`, h)))
	}
	return model.Info{Name: "repeatexplore", Grid: grid, New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("repeatexplore", params, &c); err != nil {
			return nil, err
		}
		c.Explore = cmp.Or(c.Explore, "ease")
		c.HorizonDays = cmp.Or(c.HorizonDays, 60)
		c.Candidates = cmp.Or(c.Candidates, 100)
		if !(c.HorizonDays >= 1 && c.HorizonDays <= 730) || c.Candidates < 1 || c.Candidates > 10000 {
			return nil, fmt.Errorf("repeatexplore: horizon_days %v must be from 1 to 730 and candidates %d from 1 to 10000", c.HorizonDays, c.Candidates)
		}
		if c.Explore == "repeatexplore" {
			return nil, errors.New("repeatexplore: explore cannot name repeatexplore")
		}
		info, err := lookup(c.Explore)
		if err != nil {
			return nil, fmt.Errorf("repeatexplore: explore: %w", err)
		}
		m := &Model{cfg: c, info: info, seed: seed}
		if _, err := info.New(c.Params, seed); err != nil {
			return nil, fmt.Errorf("repeatexplore: explore: %w", err)
		}
		return m, nil
	}}
}

// Model is a fitted repeat/explore model. It is safe for concurrent use
// once fitted.
type Model struct {
	cfg  Config
	info model.Info
	seed uint64

	n        int
	explore  model.Model
	items    itemStats
	end      int64 // the newest training event, Unix nanoseconds
	repeatW  []float64
	exploreW []float64
	// hist are the training shoppers' purchase days, for queries by
	// training shopper whose history has no times.
	hist []history
}

const dayNanos = 24 * 3600 * 1e9

// itemStats are what the shop's purchases say of each item.
type itemStats struct {
	cycle  []float64 // median gap between a shopper's purchase days, in days (0: none)
	share  []float64 // share of its buyers who bought it on two days or more
	global float64   // the median gap over all items
}

// history is a shopper's purchase days of each item.
type history map[int32][]int64 // item → its purchase days (Unix day numbers), ascending

// historiesBefore gathers each shopper's purchase days of each item before
// cutoff (0: all).
func historiesBefore(d *dataset.Dataset, cutoff int64) []history {
	p := d.Purchases()
	out := make([]history, d.NumUsers())
	for u := range out {
		items, times := p.Of(int32(u))
		h := history{}
		for k, it := range items {
			if cutoff != 0 && times[k] >= cutoff {
				continue
			}
			day := times[k] / int64(dayNanos)
			if ds := h[it]; len(ds) == 0 || ds[len(ds)-1] != day {
				h[it] = append(ds, day)
			}
		}
		for it := range h {
			slices.Sort(h[it])
			h[it] = slices.Compact(h[it])
		}
		out[u] = h
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

func statsOf(hs []history, n int) itemStats {
	gaps := make([][]float64, n)
	buyers, repeaters := make([]int, n), make([]int, n)
	var all []float64
	for _, h := range hs {
		for it, days := range h {
			buyers[it]++
			if len(days) >= 2 {
				repeaters[it]++
				g := float64(days[len(days)-1]-days[0]) / float64(len(days)-1)
				gaps[it] = append(gaps[it], g)
				all = append(all, g)
			}
		}
	}
	s := itemStats{cycle: make([]float64, n), share: make([]float64, n), global: math.Max(1, median(all))}
	for i := range n {
		s.cycle[i] = median(gaps[i])
		if buyers[i] > 0 {
			s.share[i] = float64(repeaters[i]) / float64(buyers[i])
		}
	}
	return s
}

// repeatFeatures describes a shopper's item at day now.
func (s *itemStats) repeatFeatures(h history, it int32, now int64, userShare float64) []float64 {
	days := h[it]
	cycle := s.cycle[it]
	if len(days) >= 2 {
		cycle = float64(days[len(days)-1]-days[0]) / float64(len(days)-1)
	}
	if cycle <= 0 {
		cycle = s.global
	}
	elapsed := math.Max(0.5, float64(now-days[len(days)-1]))
	ratio := math.Log(elapsed / cycle)
	return []float64{1, math.Log1p(float64(len(days))), math.Log1p(elapsed), ratio, ratio * ratio, s.share[it], userShare}
}

// userShare is the share of a shopper's items bought on two days or more,
// smoothed towards a fifth.
func userShare(h history) float64 {
	rep := 0
	for _, days := range h {
		if len(days) >= 2 {
			rep++
		}
	}
	return (float64(rep) + 1) / (float64(len(h)) + 5)
}

// exploreFeatures describe a proposed new item by its score against the
// shopper's best and its rank.
func exploreFeatures(score, best float32, rank int, known int) []float64 {
	rel := 0.0
	if best > 0 {
		rel = float64(score / best)
	}
	return []float64{1, rel, math.Log1p(float64(rank)), math.Log1p(float64(known))}
}

// Fit learns the two regressions on the training data's last HorizonDays,
// then fits the statistics and the explore model on all of it.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	m.n = d.NumItems()
	for k := range d.Events {
		m.end = max(m.end, d.Events[k].Time)
	}
	first := m.end
	for k := range d.Events {
		first = min(first, d.Events[k].Time)
	}
	// The window must leave data to learn from: a third of the span at
	// most.
	horizon := min(int64(m.cfg.HorizonDays*dayNanos), (m.end-first)/3)
	cut := m.end - horizon
	before := historiesBefore(d, cut)
	all := historiesBefore(d, 0)
	s := statsOf(before, m.n)
	now := cut / int64(dayNanos)
	// Repeat examples: every (shopper, item) bought before the cut;
	// label: bought again after it.
	var rx [][]float64
	var ry []float64
	for u, h := range before {
		share := userShare(h)
		for it, days := range h {
			rx = append(rx, s.repeatFeatures(h, it, now, share))
			later := all[u][it]
			ry = append(ry, b2f(later[len(later)-1] > days[len(days)-1]))
		}
	}
	// Explore examples: the explore model, fitted before the cut, proposes
	// new items to each shopper with a history; label: bought after it.
	ex, err := m.info.New(m.cfg.Params, m.seed)
	if err != nil {
		return err
	}
	early := d.Subset(func(e *dataset.Event) bool { return e.Time < cut }, d.RowKind())
	if err := ex.Fit(ctx, early); err != nil {
		return fmt.Errorf("repeatexplore: explore: %w", err)
	}
	var xx [][]float64
	var xy []float64
	for u, h := range before {
		if len(h) == 0 {
			continue
		}
		if u%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		q := model.Query{Task: model.TaskPersonal, User: int32(u), N: m.cfg.Candidates, Exclude: func(i int32) bool { _, had := h[i]; return had }}
		got, err := ex.Answer(&q, nil)
		if err != nil || len(got) == 0 {
			continue
		}
		for r, e := range got {
			_, bought := all[u][e.Index]
			xx = append(xx, exploreFeatures(e.Score, got[0].Score, r, len(h)))
			xy = append(xy, b2f(bought))
		}
	}
	m.repeatW = logistic(rx, ry, 7)
	m.exploreW = logistic(xx, xy, 4)
	// Now on all the data.
	m.items, m.hist = statsOf(all, m.n), all
	m.explore, err = m.info.New(m.cfg.Params, m.seed)
	if err != nil {
		return err
	}
	return m.explore.Fit(ctx, d)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// logistic fits a logistic regression of k features (L2 1e-3, Newton's
// method with a fixed number of steps); without examples of both labels,
// only the intercept (a constant chance).
func logistic(x [][]float64, y []float64, k int) []float64 {
	w := make([]float64, k)
	pos := 0.0
	for _, v := range y {
		pos += v
	}
	if pos == 0 || pos == float64(len(y)) {
		w[0] = math.Log((pos + 0.5) / (float64(len(y)) - pos + 0.5))
		return w
	}
	for range 25 {
		g := make([]float64, k)
		h := make([]float64, k*k)
		for i, xi := range x {
			p := sigmoid(dot(w, xi))
			for a := range k {
				g[a] += (p - y[i]) * xi[a]
				for b := range k {
					h[a*k+b] += p * (1 - p) * xi[a] * xi[b]
				}
			}
		}
		for a := range k {
			g[a] += 1e-3 * w[a]
			h[a*k+a] += 1e-3
		}
		step, ok := solve(h, g, k)
		if !ok {
			break
		}
		for a := range k {
			w[a] -= step[a]
		}
	}
	return w
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// solve solves h·x = g for a small symmetric positive definite h by
// Gaussian elimination with partial pivoting.
func solve(h, g []float64, k int) ([]float64, bool) {
	a := slices.Clone(h)
	b := slices.Clone(g)
	for c := range k {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r*k+c]) > math.Abs(a[p*k+c]) {
				p = r
			}
		}
		if math.Abs(a[p*k+c]) < 1e-12 {
			return nil, false
		}
		for j := range k {
			a[c*k+j], a[p*k+j] = a[p*k+j], a[c*k+j]
		}
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < k; r++ {
			f := a[r*k+c] / a[c*k+c]
			for j := c; j < k; j++ {
				a[r*k+j] -= f * a[c*k+j]
			}
			b[r] -= f * b[c]
		}
	}
	x := make([]float64, k)
	for r := k - 1; r >= 0; r-- {
		s := b[r]
		for j := r + 1; j < k; j++ {
			s -= a[r*k+j] * x[j]
		}
		x[r] = s / a[r*k+r]
	}
	return x, true
}

// Tasks: personal recommendations and repurchase.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskPersonal, model.TaskRepurchase} }

// Answer ranks the shopper's past items and the explore model's proposals
// by their chance of being bought.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskPersonal && q.Task != model.TaskRepurchase {
		return dst, &model.TaskError{Model: "repeatexplore", Task: q.Task}
	}
	if m.explore == nil {
		return dst, errors.New("repeatexplore: not fitted")
	}
	if err := model.CheckQuery("repeatexplore", q, m.n); err != nil {
		return dst, err
	}
	h := history{}
	if q.User >= 0 && int(q.User) < len(m.hist) {
		for it, days := range m.hist[q.User] {
			h[it] = slices.Clone(days)
		}
	}
	for _, x := range q.History {
		if x.Type == "purchase" && x.Time > 0 {
			day := x.Time / int64(dayNanos)
			if ds := h[x.Item]; len(ds) == 0 || ds[len(ds)-1] != day {
				h[x.Item] = append(ds, day)
			}
		}
	}
	for it := range h {
		slices.Sort(h[it])
		h[it] = slices.Compact(h[it])
	}
	now := cmp.Or(q.Time, m.end) / int64(dayNanos)
	best := topk.New(q.N)
	share := userShare(h)
	for it := range h {
		if q.Allowed(it) {
			best.Push(it, q.Boosted(it, float32(sigmoid(dot(m.repeatW, m.items.repeatFeatures(h, it, now, share))))))
		}
	}
	if q.Task == model.TaskPersonal {
		eq := *q
		eq.N = m.cfg.Candidates
		eq.Boost = nil
		eq.Exclude = func(i int32) bool {
			_, had := h[i]
			return had || !q.Allowed(i)
		}
		eq.Candidates = q.Candidates
		got, err := m.explore.Answer(&eq, nil)
		if err != nil {
			return dst, fmt.Errorf("repeatexplore: explore: %w", err)
		}
		for r, e := range got {
			best.Push(e.Index, q.Boosted(e.Index, float32(sigmoid(dot(m.exploreW, exploreFeatures(e.Score, got[0].Score, r, len(h)))))))
		}
	}
	return best.Sorted(dst), nil
}

// MarshalBinary encodes the statistics, the regressions, the shoppers'
// purchase days (by index, without ids) and the explore model.
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.explore == nil {
		return nil, errors.New("repeatexplore: not fitted")
	}
	p, ok := m.explore.(model.Persistent)
	if !ok || !model.IsPersistent(m.explore) {
		return nil, fmt.Errorf("repeatexplore: explore %s: %w", m.cfg.Explore, model.ErrNotPersistent)
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("repeatexplore: explore: %w", err)
	}
	var ptr []int64
	var items []int32
	var days []int64
	ptr = append(ptr, 0)
	for _, h := range m.hist {
		keys := make([]int32, 0, len(h))
		for it := range h {
			keys = append(keys, it)
		}
		slices.Sort(keys)
		for _, it := range keys {
			items = append(items, it)
			days = append(days, int64(len(h[it])))
			days = append(days, h[it]...)
		}
		ptr = append(ptr, int64(len(items)))
	}
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.n))
	e.Int64s([]int64{m.end})
	e.Float64s(m.items.cycle)
	e.Float64s(m.items.share)
	e.Float64s([]float64{m.items.global})
	e.Float64s(m.repeatW)
	e.Float64s(m.exploreW)
	e.Int64s(ptr)
	e.Int32s(items)
	e.Int64s(days)
	e.String(string(payload))
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	n := int(d.Uint64())
	end, cycle, share, global := d.Int64s(), d.Float64s(), d.Float64s(), d.Float64s()
	rw, xw := d.Float64s(), d.Float64s()
	ptr, items, days := d.Int64s(), d.Int32s(), d.Int64s()
	payload := d.Bytes()
	if err := d.Err(); err != nil {
		return err
	}
	if len(end) != 1 || len(cycle) != n || len(share) != n || len(global) != 1 || len(rw) != 7 || len(xw) != 4 || len(ptr) == 0 || ptr[len(ptr)-1] != int64(len(items)) {
		return fmt.Errorf("repeatexplore: %w", feature.ErrCorrupt)
	}
	hist := make([]history, len(ptr)-1)
	at := 0
	for u := range hist {
		hist[u] = history{}
		for k := ptr[u]; k < ptr[u+1]; k++ {
			if at >= len(days) || items[k] < 0 || int(items[k]) >= n {
				return fmt.Errorf("repeatexplore: %w", feature.ErrCorrupt)
			}
			c := int(days[at])
			if c < 1 || at+1+c > len(days) {
				return fmt.Errorf("repeatexplore: %w", feature.ErrCorrupt)
			}
			hist[u][items[k]] = days[at+1 : at+1+c : at+1+c]
			at += 1 + c
		}
	}
	ex, err := m.info.New(m.cfg.Params, m.seed)
	if err != nil {
		return err
	}
	p, ok := ex.(model.Persistent)
	if !ok || !model.IsPersistent(ex) {
		return fmt.Errorf("repeatexplore: explore %s: %w", m.cfg.Explore, model.ErrNotPersistent)
	}
	if err := p.UnmarshalBinary(payload); err != nil {
		return fmt.Errorf("repeatexplore: explore: %w", err)
	}
	if s, ok := ex.(model.Sized); ok {
		s.SetNumItems(n)
	}
	m.n, m.end, m.items, m.repeatW, m.exploreW, m.hist, m.explore = n, end[0], itemStats{cycle: cycle, share: share, global: global[0]}, rw, xw, hist, ex
	return nil
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int { return m.n }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}

// ForgetUsers removes deleted shoppers from the explore model, which
// keeps their ids and rows (this model's own purchase days are by index,
// without ids).
func (m *Model) ForgetUsers(gone func(id string) bool) int {
	return model.ForgetUsers(m.explore, gone)
}
