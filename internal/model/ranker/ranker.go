// Package ranker is the learned second stage: candidate items from several
// models (generators), each described by features (every generator's
// score and rank; the shopper's purchase days, recency and cycle for the
// item; the item's popularity now, its trend over the last 7 and 30 days
// against the 30 before, its repeat share, price; the shopper's activity,
// spend and category affinity), ranked by gradient-boosted trees with the
// LambdaMART objective (package gbdt). The trees learn from the training
// data itself: features at 2·Horizon before its end with labels from the
// next Horizon, early stopping on the same one Horizon later; the
// generators are then fitted on all of it. Feature importances are kept
// (Importances).
package ranker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/gbdt"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters.
type Config struct {
	// Generators name the candidate models (default buyagain, ease,
	// itemknn, tifuknn, popular), each proposing Candidates items
	// (default 50).
	Generators []string `json:"generators,omitempty"`
	Candidates int      `json:"candidates,omitempty"`
	// HorizonDays is the label window (default 30).
	HorizonDays float64 `json:"horizon_days,omitempty"`
	// Labels says where the trees learn from: "time" (the default: the
	// purchases of the last two windows of HorizonDays, for data whose
	// test is what comes next) or "holdout" (a seeded tenth of each
	// shopper's items, at least one of five or more, hidden from the
	// generators and the features, the shoppers split four to one
	// between learning and early stopping: for data whose test items
	// are drawn at random, as under kfold).
	Labels string `json:"labels,omitempty"`
	// Prior is the weight of the first generator's order as the trees'
	// starting score (its −log(1+rank); an item it did not propose,
	// −log 1001): the trees learn what to add to it, and a list with
	// few trees keeps that order among items they score alike. 0 (the
	// default) starts every candidate at the same score.
	Prior float64 `json:"prior,omitempty"`
	// Trees, LearningRate, MaxLeaves and MinLeaf configure the trees
	// (defaults 300, 0.05, 31, 20).
	Trees        int     `json:"trees,omitempty"`
	LearningRate float64 `json:"learning_rate,omitempty"`
	MaxLeaves    int     `json:"max_leaves,omitempty"`
	MinLeaf      int     `json:"min_leaf,omitempty"`
}

// Info describes the model for package all; lookup finds the generators.
func Info(lookup func(name string) (model.Info, error)) model.Info {
	// The windows, the learning rate, the prior (none, or the first
	// generator's order) and the generators (the defaults, or with
	// repeatexplore first, as the prior).
	var grid []json.RawMessage
	for _, gens := range []string{``, `,"generators":["repeatexplore","buyagain","ease","itemknn","tifuknn","popular"]`} {
		for _, prior := range []float64{0, 1} {
			for _, h := range []int{30, 60} {
				for _, lr := range []float64{0.05, 0.1} {
					grid = append(grid, json.RawMessage(fmt.Sprintf(`{"horizon_days":%d,"learning_rate":%g,"prior":%g%s}`, h, lr, prior, gens)))
				}
			}
		}
	}
	return model.Info{Name: "ranker", Grid: grid, New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("ranker", params, &c); err != nil {
			return nil, err
		}
		if len(c.Generators) == 0 {
			c.Generators = []string{"buyagain", "ease", "itemknn", "tifuknn", "popular"}
		}
		c.Candidates = cmp.Or(c.Candidates, 50)
		c.HorizonDays = cmp.Or(c.HorizonDays, 30)
		c.Trees = cmp.Or(c.Trees, 300)
		c.LearningRate = cmp.Or(c.LearningRate, 0.05)
		c.MaxLeaves = cmp.Or(c.MaxLeaves, 31)
		c.MinLeaf = cmp.Or(c.MinLeaf, 20)
		c.Labels = cmp.Or(c.Labels, "time")
		if c.Labels != "time" && c.Labels != "holdout" {
			return nil, fmt.Errorf("ranker: labels %q must be time or holdout", c.Labels)
		}
		if !(c.Prior >= 0 && c.Prior <= 100) {
			return nil, fmt.Errorf("ranker: prior %v must be from 0 to 100", c.Prior)
		}
		if c.Candidates < 1 || c.Candidates > 1000 || !(c.HorizonDays >= 1 && c.HorizonDays <= 365) {
			return nil, fmt.Errorf("ranker: candidates %d must be from 1 to 1000 and horizon_days %v from 1 to 365", c.Candidates, c.HorizonDays)
		}
		m := &Model{cfg: c, seed: seed}
		for _, g := range c.Generators {
			if g == "ranker" {
				return nil, errors.New("ranker: a generator cannot be ranker")
			}
			info, err := lookup(g)
			if err != nil {
				return nil, fmt.Errorf("ranker: generators: %w", err)
			}
			gm, err := info.New(nil, seed)
			if err != nil {
				return nil, fmt.Errorf("ranker: generators: %w", err)
			}
			if !model.Answers(gm, model.TaskPersonal) {
				return nil, fmt.Errorf("ranker: generator %s does not answer personal queries", g)
			}
			m.infos = append(m.infos, info)
		}
		return m, nil
	}}
}

// Model is a fitted ranker. It is safe for concurrent use once fitted.
type Model struct {
	cfg   Config
	seed  uint64
	infos []model.Info

	n     int
	gens  []model.Model
	state *state // what the features read, over all the training data
	// trees rank every candidate; fresh, learnt on the new items alone,
	// rank when the query leaves out everything the shopper bought.
	trees, fresh *gbdt.Model
}

// Tasks: personal recommendations.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskPersonal} }

// DeterminedByHistory reports true for personal queries when every
// generator's answers are determined by the history too (they are asked
// the query itself; the trees and the features' state are fixed once
// fitted, and a shopper's recency is counted to the end of the training
// data, not to the query's time): model.Deterministic. A filter changes
// the candidates, so the ranker does not rank fixed.
func (m *Model) DeterminedByHistory(t model.Task) bool {
	if t != model.TaskPersonal {
		return false
	}
	for _, g := range m.gens {
		if !model.RanksFixed(g, t) && !model.DeterminedByHistory(g, t) {
			return false
		}
	}
	return true
}

// ReadsPurchases reports true: a shopper's repeat purchases (their
// purchase days of each item) are features (model.PurchaseReader).
func (m *Model) ReadsPurchases() bool { return true }

const dayNanos = int64(24 * time.Hour)

// state is what the features read of the data before a cut.
type state struct {
	cut      int64 // day number
	days     []map[int32][]int64
	lastAny  []int64   // each shopper's last purchase day (−1: none)
	spend    []float64 // each shopper's spend
	pop      []float64 // purchase days of each item
	pop7     []float64 // in the last 7 days
	pop30    []float64 // in the last 30
	prev30   []float64 // in the 30 before those
	share    []float64 // share of its buyers who bought it on two days or more
	price    []float64 // its latest unit price (0: none)
	cat      []string  // its first category
	catShare []map[string]float64
}

// stateAt gathers the purchases before cut (Unix nanoseconds); in data
// without purchases (ratings), the events of the lowest type code the
// shoppers have stand for them.
func stateAt(d *dataset.Dataset, cut int64) *state {
	nu, ni := d.NumUsers(), d.NumItems()
	s := &state{cut: cut / dayNanos, days: make([]map[int32][]int64, nu), lastAny: make([]int64, nu), spend: make([]float64, nu),
		pop: make([]float64, ni), pop7: make([]float64, ni), pop30: make([]float64, ni), prev30: make([]float64, ni),
		share: make([]float64, ni), price: make([]float64, ni), cat: make([]string, ni), catShare: make([]map[string]float64, nu)}
	for i := range ni {
		if cs := d.Catalog[i].Categories; len(cs) > 0 {
			s.cat[i] = cs[0]
		}
	}
	// Purchases, or for data without them (ratings) the first event type
	// the shoppers have.
	bought, other := dataset.KindPurchase, dataset.Kind(math.MaxUint16)
	for k := range d.Events {
		if e := &d.Events[k]; e.User >= 0 {
			if e.Kind == dataset.KindPurchase {
				other = e.Kind
				break
			}
			other = min(other, e.Kind)
		}
	}
	if other != math.MaxUint16 {
		bought = other
	}
	priceAt := make([]int64, ni)
	for u := range nu {
		s.days[u], s.lastAny[u] = map[int32][]int64{}, -1
	}
	for k := range d.Events {
		e := &d.Events[k]
		if e.Kind != bought || e.User < 0 || e.Time >= cut {
			continue
		}
		day := e.Time / dayNanos
		ds := s.days[e.User][e.Item]
		if !slices.Contains(ds, day) {
			s.days[e.User][e.Item] = append(ds, day)
			s.pop[e.Item]++
			age := s.cut - day
			switch {
			case age < 7:
				s.pop7[e.Item]++
				s.pop30[e.Item]++
			case age < 30:
				s.pop30[e.Item]++
			case age < 60:
				s.prev30[e.Item]++
			}
		}
		s.lastAny[e.User] = max(s.lastAny[e.User], day)
		if !math.IsNaN(e.Price) && e.Time >= priceAt[e.Item] {
			s.price[e.Item], priceAt[e.Item] = e.Price, e.Time
		}
	}
	buyers, repeaters := make([]int, ni), make([]int, ni)
	for u := range nu {
		for it, ds := range s.days[u] {
			slices.Sort(ds)
			buyers[it]++
			if len(ds) >= 2 {
				repeaters[it]++
			}
		}
		s.spend[u], s.catShare[u] = s.profile(s.days[u])
	}
	for i := range ni {
		if buyers[i] > 0 {
			s.share[i] = float64(repeaters[i]) / float64(buyers[i])
		}
	}
	return s
}

// profile returns what a shopper's purchase days (sorted, by item) say
// of them: their spend (each purchase day of an item at its latest price)
// and the share of their purchase days in each category. It reads the
// items in index order, so the same days give the same sums.
func (s *state) profile(days map[int32][]int64) (float64, map[string]float64) {
	items := make([]int32, 0, len(days))
	for it := range days {
		items = append(items, it)
	}
	slices.Sort(items)
	spend, total, share := 0.0, 0.0, map[string]float64{}
	for _, it := range items {
		n := float64(len(days[it]))
		spend += n * s.price[it]
		share[s.cat[it]] += n
		total += n
	}
	for c := range share {
		share[c] /= total
	}
	return spend, share
}

// shopper is the features' view of a shopper the model does not know,
// from their purchases one by one (q.Purchases; without them, the
// purchases in q.History, one entry an item): the same days, last day,
// spend and category shares stateAt gives a training shopper, so that
// serving describes a shopper as training did.
func (s *state) shopper(q *model.Query) (map[int32][]int64, int64, float64, map[string]float64) {
	src := q.Purchases
	if src == nil {
		src = q.History
	}
	days, lastAny := map[int32][]int64{}, int64(-1)
	for _, x := range src {
		if x.Type != tailor.Purchase || x.Time <= 0 {
			continue
		}
		day := x.Time / dayNanos
		if !slices.Contains(days[x.Item], day) {
			days[x.Item] = append(days[x.Item], day)
		}
		lastAny = max(lastAny, day)
	}
	for _, ds := range days {
		slices.Sort(ds)
	}
	spend, share := s.profile(days)
	return days, lastAny, spend, share
}

// features describes item it for shopper u (whose purchase days are days)
// given each generator's score and rank (rank −1: not proposed).
func (s *state) features(days map[int32][]int64, lastAny int64, spend float64, catShare map[string]float64, it int32, scores []float32, tops []float32, ranks []int) []float32 {
	f := make([]float32, 0, 3*len(scores)+16)
	for g := range scores {
		rel, r, in := float32(0), float32(math.Log1p(1000)), float32(0)
		if ranks[g] >= 0 {
			if tops[g] > 0 {
				rel = scores[g] / tops[g]
			}
			r, in = float32(math.Log1p(float64(ranks[g]))), 1
		}
		f = append(f, rel, r, in)
	}
	ds := days[it]
	n, since, ratio := float64(len(ds)), 3650.0, 0.0
	if len(ds) > 0 {
		since = float64(max(0, s.cut-ds[len(ds)-1])) // a purchase newer than the model: just bought
		cycle := 0.0
		if len(ds) >= 2 {
			cycle = float64(ds[len(ds)-1]-ds[0]) / float64(len(ds)-1)
		}
		if cycle > 0 {
			ratio = math.Log(math.Max(0.5, since) / cycle)
		}
	}
	userSince := 3650.0
	if lastAny >= 0 {
		userSince = float64(max(0, s.cut-lastAny))
	}
	trend := (s.pop30[it] + 1) / (s.prev30[it] + 1)
	f = append(f,
		float32(math.Log1p(n)), float32(math.Log1p(since)), float32(ratio),
		float32(math.Log1p(s.pop[it])), float32(math.Log1p(s.pop7[it])), float32(math.Log1p(s.pop30[it])), float32(math.Log(trend)),
		float32(s.share[it]), float32(math.Log1p(s.price[it])), float32(catShare[s.cat[it]]),
		float32(math.Log1p(float64(len(days)))), float32(math.Log1p(userSince)), float32(math.Log1p(spend)))
	return f
}

// FeatureNames name the features, in order, for the importances.
func (m *Model) FeatureNames() []string {
	var names []string
	for _, info := range m.infos {
		names = append(names, info.Name+" score", info.Name+" rank", info.Name+" proposed")
	}
	return append(names, "purchase days", "days since bought", "since/cycle", "popularity", "popularity 7d", "popularity 30d",
		"trend 30d/prev 30d", "repeat share", "price", "category affinity", "shopper items", "shopper days since", "shopper spend")
}

// Importances returns the trees' total split gain by feature name.
func (m *Model) Importances() map[string]float64 {
	out := map[string]float64{}
	if m.trees == nil {
		return out
	}
	for k, name := range m.FeatureNames() {
		out[name] = m.trees.Importance[k]
	}
	return out
}

// group is one shopper's candidates with their features.
type group struct {
	items []int32
	x     [][]float32
}

// candidates asks every generator for the shopper and describes the union
// of what they propose.
func (m *Model) candidates(gens []model.Model, s *state, q *model.Query, days map[int32][]int64, lastAny int64, spend float64, catShare map[string]float64) (group, error) {
	type prop struct {
		score float32
		rank  int
	}
	byItem := map[int32][]prop{}
	tops := make([]float32, len(gens))
	var order []int32
	for g, gm := range gens {
		gq := *q
		gq.N, gq.Boost = m.cfg.Candidates, nil
		got, err := gm.Answer(&gq, nil)
		if err != nil {
			return group{}, fmt.Errorf("ranker: %s: %w", m.infos[g].Name, err)
		}
		if len(got) > 0 {
			tops[g] = got[0].Score
		}
		for r, e := range got {
			ps, ok := byItem[e.Index]
			if !ok {
				ps = make([]prop, len(gens))
				for k := range ps {
					ps[k].rank = -1
				}
				order = append(order, e.Index)
			}
			ps[g] = prop{e.Score, r}
			byItem[e.Index] = ps
		}
	}
	slices.Sort(order)
	gr := group{items: order}
	scores, ranks := make([]float32, len(gens)), make([]int, len(gens))
	for _, it := range order {
		for g, p := range byItem[it] {
			scores[g], ranks[g] = p.score, p.rank
		}
		gr.x = append(gr.x, s.features(days, lastAny, spend, catShare, it, scores, tops, ranks))
	}
	return gr, nil
}

// fitGenerators fits fresh generators on d.
func (m *Model) fitGenerators(ctx context.Context, d *dataset.Dataset) ([]model.Model, error) {
	var gens []model.Model
	for _, info := range m.infos {
		gm, err := info.New(nil, m.seed)
		if err != nil {
			return nil, err
		}
		if err := gm.Fit(ctx, d); err != nil {
			return nil, fmt.Errorf("ranker: %s: %w", info.Name, err)
		}
		gens = append(gens, gm)
	}
	return gens, nil
}

// learningSet describes, for every shopper with purchases before cut and
// after it within the horizon, the generators' candidates (fitted before
// cut) with labels: bought within the horizon; all candidates, and apart
// those the shopper had not bought before.
func (m *Model) learningSet(ctx context.Context, d *dataset.Dataset, cut, until int64) (*gbdt.Data, *gbdt.Data, error) {
	early := d.Subset(func(e *dataset.Event) bool { return e.Time < cut }, d.RowKind())
	gens, err := m.fitGenerators(ctx, early)
	if err != nil {
		return nil, nil, err
	}
	s := stateAt(d, cut)
	bought := make([]map[int32]bool, d.NumUsers())
	for k := range d.Events {
		e := &d.Events[k]
		if e.Kind == dataset.KindPurchase && e.User >= 0 && e.Time >= cut && e.Time < until {
			if bought[e.User] == nil {
				bought[e.User] = map[int32]bool{}
			}
			bought[e.User][e.Item] = true
		}
	}
	all, fresh := &gbdt.Data{Groups: []int{0}}, &gbdt.Data{Groups: []int{0}}
	for u := range d.NumUsers() {
		if bought[u] == nil || len(s.days[u]) == 0 {
			continue
		}
		if u%128 == 0 && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		q := model.Query{Task: model.TaskPersonal, User: int32(u), Time: cut}
		gr, err := m.candidates(gens, s, &q, s.days[u], s.lastAny[u], s.spend[u], s.catShare[u])
		if err != nil {
			return nil, nil, err
		}
		pos, posFresh := 0, 0
		for k, it := range gr.items {
			y := float32(0)
			if bought[u][it] {
				y, pos = 1, pos+1
			}
			m.addRow(all, gr.x[k], y)
			if _, had := s.days[u][it]; !had {
				m.addRow(fresh, gr.x[k], y)
				posFresh += int(y)
			}
		}
		closeGroup(all, pos)
		closeGroup(fresh, posFresh)
	}
	if len(all.Groups) < 2 {
		return nil, nil, fmt.Errorf("ranker: no shopper bought a proposed item in the window before %s", time.Unix(0, until).UTC().Format(time.DateOnly))
	}
	if len(fresh.Groups) < 2 {
		fresh = nil // nobody bought a new item: the trees of all items serve
	}
	return all, fresh, nil
}

// margin is a candidate's starting score: the first generator's order
// weighted by Config.Prior (x[1] is its log rank).
func (m *Model) margin(x []float32) float64 { return -m.cfg.Prior * float64(x[1]) }

// addRow appends a candidate's features, label and starting score.
func (m *Model) addRow(data *gbdt.Data, x []float32, y float32) {
	data.X, data.Y, data.Margin = append(data.X, x), append(data.Y, y), append(data.Margin, m.margin(x))
}

// closeGroup ends a shopper's group, or drops it when it has no positive
// label (no gradient and no NDCG).
func closeGroup(data *gbdt.Data, pos int) {
	if pos == 0 {
		start := data.Groups[len(data.Groups)-1]
		data.X, data.Y, data.Margin = data.X[:start], data.Y[:start], data.Margin[:start]
		return
	}
	data.Groups = append(data.Groups, len(data.X))
}

// Fit learns the trees on the last two horizons of the data, then fits the
// generators on all of it.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	m.n = d.NumItems()
	if m.cfg.Labels == "holdout" {
		return m.fitHoldout(ctx, d)
	}
	var end, first int64 = 0, math.MaxInt64
	for k := range d.Events {
		end, first = max(end, d.Events[k].Time), min(first, d.Events[k].Time)
	}
	if end == 0 {
		return errors.New("ranker: the data has no events")
	}
	h := min(int64(m.cfg.HorizonDays*float64(dayNanos)), (end-first)/4)
	train, trainFresh, err := m.learningSet(ctx, d, end-2*h, end-h)
	if err != nil {
		return err
	}
	valid, validFresh, err := m.learningSet(ctx, d, end-h, end+1)
	if err != nil {
		return err
	}
	o := gbdt.Options{Objective: gbdt.LambdaRank, Trees: m.cfg.Trees, LearningRate: m.cfg.LearningRate, MaxLeaves: m.cfg.MaxLeaves, MinLeaf: m.cfg.MinLeaf, NDCGAt: 20}
	if m.trees, err = gbdt.Train(ctx, train, valid, o); err != nil {
		return fmt.Errorf("ranker: %w", err)
	}
	m.fresh = m.trees
	if trainFresh != nil && validFresh != nil {
		if m.fresh, err = gbdt.Train(ctx, trainFresh, validFresh, o); err != nil {
			return fmt.Errorf("ranker: new items: %w", err)
		}
	}
	if m.gens, err = m.fitGenerators(ctx, d); err != nil {
		return err
	}
	m.state = stateAt(d, end+1)
	return nil
}

// Answer ranks the generators' candidates for the shopper by the trees.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskPersonal {
		return dst, &model.TaskError{Model: "ranker", Task: q.Task}
	}
	if m.trees == nil {
		return dst, errors.New("ranker: not fitted")
	}
	if err := model.CheckQuery("ranker", q, m.n); err != nil {
		return dst, err
	}
	s := m.state
	var (
		days     map[int32][]int64
		lastAny  int64
		spend    float64
		catShare map[string]float64
	)
	if q.User >= 0 && int(q.User) < len(s.days) {
		days, lastAny, spend, catShare = s.days[q.User], s.lastAny[q.User], s.spend[q.User], s.catShare[q.User]
	} else {
		days, lastAny, spend, catShare = s.shopper(q)
	}
	gq := *q
	gq.Exclude = func(i int32) bool { return !q.Allowed(i) }
	gr, err := m.candidates(m.gens, s, &gq, days, lastAny, spend, catShare)
	if err != nil {
		return dst, err
	}
	// A query that leaves out everything the shopper bought asks for new
	// items: the trees learnt on those rank them.
	trees := m.trees
	if len(days) > 0 {
		trees = m.fresh
		for it := range days {
			if q.Allowed(it) {
				trees = m.trees
				break
			}
		}
	}
	h := topk.New(q.N)
	for k, it := range gr.items {
		if q.Allowed(it) {
			h.Push(it, q.Boosted(it, float32(trees.Predict(gr.x[k])+m.margin(gr.x[k]))))
		}
	}
	return h.Sorted(dst), nil
}

// fitHoldout learns the trees on a seeded tenth of each shopper's items
// (Config.Labels "holdout"), then fits the generators on all of d. Data
// given as a matrix alone (a protocol's split of pairs) stands for its
// events with one event an entry, at its time.
func (m *Model) fitHoldout(ctx context.Context, d *dataset.Dataset) error {
	mx, err := d.Matrix()
	if err != nil {
		return fmt.Errorf("ranker: %w", err)
	}
	events := d.Events
	if len(events) == 0 {
		for u := range mx.NumUsers() {
			for k := mx.RowPtr[u]; k < mx.RowPtr[u+1]; k++ {
				events = append(events, dataset.Event{User: int32(u), Item: mx.Cols[k], Order: -1, Kind: dataset.KindRating,
					Value: math.NaN(), Price: math.NaN(), Time: mx.Times[k] * int64(time.Second)})
			}
		}
		d = d.Derive(events, d.RowKind(), mx)
	}
	var end int64
	for k := range events {
		end = max(end, events[k].Time)
	}
	rng := rand.New(rand.NewPCG(m.seed, 0x4e1d))
	held := make([][]int32, d.NumUsers()) // sorted
	for u := range d.NumUsers() {
		items, _ := mx.Row(int32(u))
		if len(items) < 5 {
			continue
		}
		for _, k := range rng.Perm(len(items))[:max(1, len(items)/10)] {
			held[u] = append(held[u], items[k])
		}
		slices.Sort(held[u])
	}
	isHeld := func(u, it int32) bool {
		_, ok := slices.BinarySearch(held[u], it)
		return u >= 0 && ok
	}
	// The generators and the features see the rest: the matrix without
	// the held items (weights as they were) and their events.
	rest := &feature.Dataset{Users: mx.Users, Items: mx.Items, RowPtr: make([]int64, 1, mx.NumUsers()+1)}
	for u := range mx.NumUsers() {
		for k := mx.RowPtr[u]; k < mx.RowPtr[u+1]; k++ {
			if !isHeld(int32(u), mx.Cols[k]) {
				rest.Cols, rest.Weights, rest.Times = append(rest.Cols, mx.Cols[k]), append(rest.Weights, mx.Weights[k]), append(rest.Times, mx.Times[k])
			}
		}
		rest.RowPtr = append(rest.RowPtr, int64(len(rest.Cols)))
	}
	var kept []dataset.Event
	for k := range events {
		if e := &events[k]; e.User < 0 || !isHeld(e.User, e.Item) {
			kept = append(kept, *e)
		}
	}
	early := d.Derive(kept, d.RowKind(), rest)
	gens, err := m.fitGenerators(ctx, early)
	if err != nil {
		return err
	}
	s := stateAt(early, end+1)
	train, valid := &gbdt.Data{Groups: []int{0}}, &gbdt.Data{Groups: []int{0}}
	for u := range d.NumUsers() {
		if len(held[u]) == 0 {
			continue
		}
		if u%128 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		own, _ := rest.Row(int32(u))
		q := model.Query{Task: model.TaskPersonal, User: int32(u), Exclude: func(i int32) bool {
			_, ok := slices.BinarySearch(own, i)
			return ok
		}}
		gr, err := m.candidates(gens, s, &q, s.days[u], s.lastAny[u], s.spend[u], s.catShare[u])
		if err != nil {
			return err
		}
		data := train
		if rng.IntN(5) == 0 {
			data = valid
		}
		pos := 0
		for k, it := range gr.items {
			y := float32(0)
			if isHeld(int32(u), it) {
				y, pos = 1, pos+1
			}
			m.addRow(data, gr.x[k], y)
		}
		closeGroup(data, pos)
	}
	if len(train.Groups) < 2 || len(valid.Groups) < 2 {
		return errors.New("ranker: no shopper's held-out items were proposed by the generators")
	}
	o := gbdt.Options{Objective: gbdt.LambdaRank, Trees: m.cfg.Trees, LearningRate: m.cfg.LearningRate, MaxLeaves: m.cfg.MaxLeaves, MinLeaf: m.cfg.MinLeaf, NDCGAt: 20}
	if m.trees, err = gbdt.Train(ctx, train, valid, o); err != nil {
		return fmt.Errorf("ranker: %w", err)
	}
	m.fresh = m.trees
	if m.gens, err = m.fitGenerators(ctx, d); err != nil {
		return err
	}
	m.state = stateAt(d, end+1)
	return nil
}

// MarshalBinary encodes the trees, the generators' artifacts and the
// features' state (the shoppers' purchase days by index, without ids).
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.trees == nil {
		return nil, errors.New("ranker: not fitted")
	}
	trees, err := json.Marshal([]*gbdt.Model{m.trees, m.fresh})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.n))
	e.String(string(trees))
	for g, gm := range m.gens {
		p, ok := gm.(model.Persistent)
		if !ok || !model.IsPersistent(gm) {
			return nil, fmt.Errorf("ranker: generator %s: %w", m.infos[g].Name, model.ErrNotPersistent)
		}
		payload, err := p.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("ranker: generator %s: %w", m.infos[g].Name, err)
		}
		e.String(string(payload))
	}
	s := m.state
	var ptr, days []int64
	var items []int32
	ptr = append(ptr, 0)
	for u := range s.days {
		keys := make([]int32, 0, len(s.days[u]))
		for it := range s.days[u] {
			keys = append(keys, it)
		}
		slices.Sort(keys)
		for _, it := range keys {
			items = append(items, it)
			days = append(days, int64(len(s.days[u][it])))
			days = append(days, s.days[u][it]...)
		}
		ptr = append(ptr, int64(len(items)))
	}
	e.Int64s([]int64{s.cut})
	e.Int64s(ptr)
	e.Int32s(items)
	e.Int64s(days)
	e.Int64s(s.lastAny)
	e.Float64s(s.spend)
	for _, v := range [][]float64{s.pop, s.pop7, s.pop30, s.prev30, s.share, s.price} {
		e.Float64s(v)
	}
	e.Strings(s.cat)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	n := int(d.Uint64())
	var trees []*gbdt.Model
	if err := json.Unmarshal([]byte(d.String()), &trees); err != nil || len(trees) != 2 || trees[0] == nil || trees[1] == nil {
		return fmt.Errorf("ranker: %w: the trees", feature.ErrCorrupt)
	}
	var gens []model.Model
	for _, info := range m.infos {
		payload := d.Bytes()
		if err := d.Err(); err != nil {
			return err
		}
		gm, err := info.New(nil, m.seed)
		if err != nil {
			return err
		}
		p, ok := gm.(model.Persistent)
		if !ok {
			return fmt.Errorf("ranker: generator %s: %w", info.Name, model.ErrNotPersistent)
		}
		if err := p.UnmarshalBinary(payload); err != nil {
			return fmt.Errorf("ranker: generator %s: %w", info.Name, err)
		}
		if sz, ok := gm.(model.Sized); ok {
			sz.SetNumItems(n)
		}
		gens = append(gens, gm)
	}
	cut, ptr, items, days, lastAny, spend := d.Int64s(), d.Int64s(), d.Int32s(), d.Int64s(), d.Int64s(), d.Float64s()
	var cols [6][]float64
	for k := range cols {
		cols[k] = d.Float64s()
	}
	cat := d.Strings()
	if err := d.Err(); err != nil {
		return err
	}
	nu := len(ptr) - 1
	if len(cut) != 1 || nu < 0 || len(lastAny) != nu || len(spend) != nu || len(cat) != n || ptr[nu] != int64(len(items)) {
		return fmt.Errorf("ranker: %w", feature.ErrCorrupt)
	}
	for _, c := range cols {
		if len(c) != n {
			return fmt.Errorf("ranker: %w", feature.ErrCorrupt)
		}
	}
	s := &state{cut: cut[0], days: make([]map[int32][]int64, nu), lastAny: lastAny, spend: spend, pop: cols[0], pop7: cols[1], pop30: cols[2],
		prev30: cols[3], share: cols[4], price: cols[5], cat: cat, catShare: make([]map[string]float64, nu)}
	at := 0
	for u := range nu {
		s.days[u] = map[int32][]int64{}
		for k := ptr[u]; k < ptr[u+1]; k++ {
			it := items[k]
			if it < 0 || int(it) >= n || at >= len(days) {
				return fmt.Errorf("ranker: %w", feature.ErrCorrupt)
			}
			c := int(days[at])
			if c < 1 || at+1+c > len(days) {
				return fmt.Errorf("ranker: %w", feature.ErrCorrupt)
			}
			s.days[u][it] = days[at+1 : at+1+c : at+1+c]
			at += 1 + c
		}
		_, s.catShare[u] = s.profile(s.days[u])
	}
	m.n, m.trees, m.fresh, m.gens, m.state = n, trees[0], trees[1], gens, s
	return nil
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int { return m.n }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}

// ForgetUsers removes deleted shoppers from the generators that keep
// their ids and rows (the ranker's own state is by index, without ids).
func (m *Model) ForgetUsers(gone func(id string) bool) int {
	n := 0
	for _, gm := range m.gens {
		n = max(n, model.ForgetUsers(gm, gone))
	}
	return n
}
