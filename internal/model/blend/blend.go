// Package blend combines the scores of several models into one ranking.
// For each user every member scores the whole catalog, the scores are
// standardized over the catalog (z-scores: minus the mean, over the
// standard deviation), and the weighted sum ranks the items. Standardizing
// puts members with different score scales (EASE's regression outputs,
// iALS's dot products, a random walk's probabilities) on one footing, so
// the weights say how much each member counts.
package blend

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Member is one blended model.
type Member struct {
	// Model is the member's model name, such as "ease".
	Model string `json:"model"`
	// Params are the member's parameters (empty for its defaults).
	Params json.RawMessage `json:"params,omitempty"`
	// Weight multiplies the member's standardized scores; it must be
	// positive.
	Weight float64 `json:"weight"`
}

// Config holds the members. With none, the default is SLIM (weight 0.3),
// iALS with 128 factors, α0 0.7 and λ 0.01 (0.5) and EASE with users
// weighed by n_u^−½ and λ 35 (0.2), each with its package's other
// defaults. The members' parameters were chosen on the validation tenths
// carved from the training parts of ml-100k's u1..u5 folds (see
// BENCHMARKS.md), never on their test parts.
type Config struct {
	Members []Member `json:"members"`
}

// DefaultMembers are the members of a blend configured without any.
func DefaultMembers() []Member {
	return []Member{
		{Model: "slim", Weight: 0.3},
		{Model: "ials", Params: json.RawMessage(`{"factors":128,"unobserved":0.7,"lambda":0.01}`), Weight: 0.5},
		{Model: "ease", Params: json.RawMessage(`{"lambda":35,"user_weight":0.5}`), Weight: 0.2},
	}
}

// Info describes the model for package all. lookup finds the members'
// model kinds by name (package all passes its own Lookup, so that blend
// does not import every model).
func Info(lookup func(name string) (model.Info, error)) model.Info {
	// The grid: SLIM, iALS and EASE with weights on a simplex (steps of
	// 0.2, every member present), equal thirds and the default weights;
	// each with iALS's α0 at 0.5 or 0.7 and EASE plain (λ 500) or with
	// users weighed (λ 35, user_weight ½). Under a search each distinct
	// member is fitted once per validation split (model.FitCache), so the
	// weights cost only scoring.
	var grid []json.RawMessage
	weights := [][3]float64{{0.3, 0.5, 0.2}, {1.0 / 3, 1.0 / 3, 1.0 / 3}}
	for a := 1; a <= 3; a++ {
		for b := 1; a+b <= 4; b++ {
			weights = append(weights, [3]float64{float64(a) / 5, float64(b) / 5, float64(5-a-b) / 5})
		}
	}
	for _, ials := range []string{`{"factors":128,"unobserved":0.7,"lambda":0.01}`, `{"factors":128,"unobserved":0.5,"lambda":0.01}`} {
		for _, ease := range []string{`{"lambda":35,"user_weight":0.5}`, `{"lambda":500}`} {
			for _, w := range weights {
				b, _ := json.Marshal(Config{Members: []Member{
					{Model: "slim", Weight: w[0]},
					{Model: "ials", Params: json.RawMessage(ials), Weight: w[1]},
					{Model: "ease", Params: json.RawMessage(ease), Weight: w[2]},
				}})
				grid = append(grid, b)
			}
		}
	}
	// And the shop family: the shopper's own purchases (buyagain) with
	// EASE for what else goes with them.
	for _, w := range []float64{0.2, 0.4, 0.6, 0.8} {
		b, _ := json.Marshal(Config{Members: []Member{{Model: "buyagain", Weight: w}, {Model: "ease", Weight: math.Round((1-w)*10) / 10}}})
		grid = append(grid, b)
	}
	return model.MatrixInfo(model.MatrixKind{Name: "blend", New: func(params json.RawMessage, seed uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("blend", params, &c); err != nil {
			return nil, err
		}
		return New(c, seed, lookup)
	}, Grid: grid})
}

// New returns an unfitted blend; each member is made with the same seed.
func New(c Config, seed uint64, lookup func(name string) (model.Info, error)) (*Model, error) {
	if len(c.Members) == 0 {
		c.Members = DefaultMembers()
	}
	m := &Model{cfg: c, seed: seed}
	for i, mem := range c.Members {
		if mem.Model == "blend" {
			return nil, fmt.Errorf("blend: members[%d].model: a blend cannot contain a blend", i)
		}
		if !(mem.Weight > 0) || math.IsInf(mem.Weight, 0) {
			return nil, fmt.Errorf("blend: members[%d].weight %v must be a positive number", i, mem.Weight)
		}
		info, err := lookup(mem.Model)
		if err != nil {
			return nil, fmt.Errorf("blend: members[%d].model: %w", i, err)
		}
		sub, err := info.New(mem.Params, seed)
		if err != nil {
			return nil, fmt.Errorf("blend: members[%d]: %w", i, err)
		}
		mx, ok := model.AsMatrix(sub)
		if !ok {
			return nil, fmt.Errorf("blend: members[%d].model: %s is not a matrix model", i, mem.Model)
		}
		sc, ok := mx.(model.Scorer)
		if !ok {
			return nil, fmt.Errorf("blend: members[%d].model: %s cannot score the whole catalog", i, mem.Model)
		}
		m.members = append(m.members, sc)
	}
	return m, nil
}

// Model is a blend. Recommend is safe for concurrent use after Fit.
type Model struct {
	cfg     Config
	seed    uint64
	members []model.Scorer
	n       int
	bufs    sync.Pool // *[]float32 of 2·n: the sum and one member's scores
}

// Fit fits every member on the same data, one after the other. Under a
// parameter search whose context carries a model.FitCache, a member
// already fitted on d with the same parameters and seed is reused.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	cache := model.FitCacheFrom(ctx)
	for i, sc := range m.members {
		mem := m.cfg.Members[i]
		if cache == nil {
			if err := sc.(model.Matrix).Fit(ctx, d); err != nil {
				return fmt.Errorf("blend: member %d (%s): %w", i, mem.Model, err)
			}
			continue
		}
		var params bytes.Buffer
		if len(mem.Params) > 0 {
			if err := json.Compact(&params, mem.Params); err != nil {
				return fmt.Errorf("blend: member %d (%s) params: %w", i, mem.Model, err)
			}
		}
		fitted, err := cache.Fit(ctx, d, fmt.Sprintf("%s %s %d", mem.Model, params.Bytes(), m.seed), sc.(model.Matrix))
		if err != nil {
			return fmt.Errorf("blend: member %d (%s): %w", i, mem.Model, err)
		}
		m.members[i] = fitted.(model.Scorer)
	}
	m.init(d.NumItems())
	return nil
}

func (m *Model) init(n int) {
	m.n = n
	m.bufs = sync.Pool{New: func() any { s := make([]float32, 2*n); return &s }}
}

// Score sets scores to the weighted sum of the members' standardized
// scores for user u.
func (m *Model) Score(u int32, scores []float32) {
	_ = m.combine(scores, func(i int, one []float32) error {
		m.members[i].Score(u, one)
		return nil
	})
}

// ScoreHistory combines the members' scores for the history; every member
// must be a model.HistoryScorer.
func (m *Model) ScoreHistory(items []int32, weights []float32, scores []float32) error {
	return m.combine(scores, func(i int, one []float32) error {
		hs, ok := m.members[i].(model.HistoryScorer)
		if !ok {
			return fmt.Errorf("blend: member %d (%s) cannot score a live history", i, m.cfg.Members[i].Model)
		}
		return hs.ScoreHistory(items, weights, one)
	})
}

// Because asks the members that can explain, heaviest first.
func (m *Model) Because(items []int32, item int32) (int32, bool) {
	order := make([]int, len(m.members))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(m.cfg.Members[b].Weight, m.cfg.Members[a].Weight) })
	for _, i := range order {
		if ex, ok := m.members[i].(model.Explainer); ok {
			if j, ok := ex.Because(items, item); ok {
				return j, true
			}
		}
	}
	return -1, false
}

// combine sets scores to the weighted sum of the standardized scores that
// fill(i, one) writes for member i.
func (m *Model) combine(scores []float32, fill func(i int, one []float32) error) error {
	bp := m.bufs.Get().(*[]float32)
	defer m.bufs.Put(bp)
	one := (*bp)[m.n:]
	clear(scores)
	for i := range m.members {
		if err := fill(i, one); err != nil {
			return err
		}
		var sum, sq float64
		for _, v := range one {
			sum += float64(v)
		}
		mean := sum / float64(len(one))
		for _, v := range one {
			d := float64(v) - mean
			sq += d * d
		}
		sd := math.Sqrt(sq / float64(len(one)))
		if !(sd > 0) {
			continue // a member with no opinion on this user adds nothing
		}
		w, mu := float32(m.cfg.Members[i].Weight/sd), float32(mean)
		for j, v := range one {
			scores[j] += w * (v - mu)
		}
	}
	return nil
}

// Recommend ranks by the blended scores.
func (m *Model) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	bp := m.bufs.Get().(*[]float32)
	scores := (*bp)[:m.n]
	m.Score(u, scores)
	dst = append(dst, topk.Select(scores, n, exclude)...)
	m.bufs.Put(bp)
	return dst
}

// ForgetUsers removes the shoppers gone reports true for from every member
// that keeps any.
func (m *Model) ForgetUsers(gone func(id string) bool) int {
	n := 0
	for _, sc := range m.members {
		if f, ok := sc.(model.Forgetter); ok {
			n = max(n, f.ForgetUsers(gone))
		}
	}
	return n
}

// MarshalBinary encodes each member's artifact payload, in order.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.n))
	for i, sc := range m.members {
		p, ok := sc.(model.PersistentMatrix)
		if !ok {
			return nil, fmt.Errorf("blend: member %d (%s): %w", i, m.cfg.Members[i].Model, model.ErrNotPersistent)
		}
		payload, err := p.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("blend: member %d (%s): %w", i, m.cfg.Members[i].Model, err)
		}
		e.String(string(payload))
	}
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote into the members this
// blend was configured with.
func (m *Model) UnmarshalBinary(data []byte) error {
	dec := feature.NewDecoder(data)
	n := int(dec.Uint64())
	for i, sc := range m.members {
		payload := dec.String()
		if err := dec.Err(); err != nil {
			return err
		}
		p, ok := sc.(model.PersistentMatrix)
		if !ok {
			return fmt.Errorf("blend: member %d (%s): %w", i, m.cfg.Members[i].Model, model.ErrNotPersistent)
		}
		if err := p.UnmarshalBinary([]byte(payload)); err != nil {
			return fmt.Errorf("blend: member %d (%s): %w", i, m.cfg.Members[i].Model, err)
		}
	}
	if err := dec.Err(); err != nil {
		return err
	}
	m.init(n)
	return nil
}

var (
	_ model.PersistentMatrix = (*Model)(nil)
	_ model.Scorer           = (*Model)(nil)
	_ model.HistoryScorer    = (*Model)(nil)
	_ model.Explainer        = (*Model)(nil)
)
