// Package bpr is Bayesian personalized ranking (Rendle et al. 2009): matrix
// factorization trained by stochastic gradient ascent on the log-sigmoid
// of the score difference between an item a user has and one they do not,
// with negatives sampled uniformly or by popularity, and early stopping on
// a held-out part of the training data. Epochs run on all cores by
// stratified SGD: workers update disjoint blocks of users and items.
package bpr

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/factors"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// Factors is the vector dimension (default 64).
	Factors int `json:"factors"`
	// Epochs is the most passes over the training pairs (default 100).
	Epochs int `json:"epochs"`
	// LearningRate is the SGD step (default 0.05).
	LearningRate float64 `json:"learning_rate"`
	// Reg is the L2 regularization (default 0.0025).
	Reg float64 `json:"reg"`
	// Negatives is "uniform" (default) or "popularity" (items drawn in
	// proportion to their number of users to the power 0.75).
	Negatives string `json:"negatives"`
	// Patience stops training after this many epochs without a better
	// held-out AUC (default 5); the best epoch's vectors are kept.
	Patience int `json:"patience"`
	// Holdout is the share of training pairs held out to watch (default
	// 0.05); 0 < Holdout < 0.5.
	Holdout float64 `json:"holdout"`
}

func (c *Config) defaults() error {
	if c.Factors == 0 {
		c.Factors = 64
	}
	if c.Epochs == 0 {
		c.Epochs = 100
	}
	if c.LearningRate == 0 {
		c.LearningRate = 0.05
	}
	if c.Reg == 0 {
		c.Reg = 0.0025
	}
	if c.Negatives == "" {
		c.Negatives = "uniform"
	}
	if c.Patience == 0 {
		c.Patience = 5
	}
	if c.Holdout == 0 {
		c.Holdout = 0.05
	}
	switch {
	case c.Factors < 1 || c.Factors > 4096:
		return fmt.Errorf("bpr: factors %d is out of range: 1 to 4096", c.Factors)
	case c.Epochs < 1:
		return fmt.Errorf("bpr: epochs %d must be at least 1", c.Epochs)
	case !(c.LearningRate > 0) || c.LearningRate > 10:
		return fmt.Errorf("bpr: learning_rate %v is out of range: above 0, at most 10", c.LearningRate)
	case !(c.Reg >= 0) || math.IsInf(c.Reg, 0):
		return fmt.Errorf("bpr: reg %v must be 0 or more", c.Reg)
	case c.Negatives != "uniform" && c.Negatives != "popularity":
		return fmt.Errorf("bpr: negatives %q is not uniform or popularity", c.Negatives)
	case c.Patience < 1:
		return fmt.Errorf("bpr: patience %d must be at least 1", c.Patience)
	case !(c.Holdout > 0 && c.Holdout < 0.5):
		return fmt.Errorf("bpr: holdout %v is out of range: between 0 and 0.5", c.Holdout)
	}
	return nil
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, lr := range []float64{0.02, 0.05} {
		for _, reg := range []float64{0.001, 0.0025, 0.01} {
			for _, neg := range []string{"uniform", "popularity"} {
				grid = append(grid, json.RawMessage(fmt.Sprintf(`{"learning_rate":%g,"reg":%g,"negatives":%q}`, lr, reg, neg)))
			}
		}
	}
	return model.MatrixInfo(model.MatrixKind{Name: "bpr", New: func(params json.RawMessage, seed uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("bpr", params, &c); err != nil {
			return nil, err
		}
		return New(c, seed)
	}, Grid: grid})
}

// New returns an unfitted model whose initial vectors and samples are drawn
// with seed.
func New(c Config, seed uint64) (*Model, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	return &Model{cfg: c, seed: seed}, nil
}

// Model is a fitted BPR: user vectors, item vectors and item biases.
// Recommend is safe for concurrent use.
type Model struct {
	cfg  Config
	seed uint64
	factors.Recommender
	// Epochs is the number of epochs trained, and BestEpoch the one whose
	// vectors were kept.
	Epochs, BestEpoch int
}

// Fit trains by SGD until the held-out AUC stops improving.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	k := m.cfg.Factors
	nu, ni := d.NumUsers(), d.NumItems()
	r := rand.New(rand.NewPCG(m.seed, 0x627072))
	std := 0.1 / math.Sqrt(float64(k))
	w, h, bias := make([]float32, nu*k), make([]float32, ni*k), make([]float32, ni)
	for i := range w {
		w[i] = float32(r.NormFloat64() * std)
	}
	for i := range h {
		h[i] = float32(r.NormFloat64() * std)
	}
	// Split the pairs: a seeded share is held out to watch.
	type pair struct{ u, i int32 }
	var train, held []pair
	for u := 0; u < nu; u++ {
		items, _ := d.Row(int32(u))
		for _, i := range items {
			if len(items) > 2 && r.Float64() < m.cfg.Holdout {
				held = append(held, pair{int32(u), i})
			} else {
				train = append(train, pair{int32(u), i})
			}
		}
	}
	if len(train) == 0 {
		return fmt.Errorf("bpr: no training pairs")
	}
	// Stratified parallel SGD (DSGD, Gemulla et al. 2011): users and items
	// fall into P blocks each (index mod P); in sub-epoch s, worker p
	// samples pairs whose user is in block p and whose item is in block
	// (p+s) mod P, with negatives from that item block too, so no two
	// workers touch the same vector. Each worker has its own seeded
	// source, so a fit is reproducible for a given P.
	P := max(1, min(runtime.GOMAXPROCS(0), ni, nu))
	strata := make([][]pair, P*P) // [userBlock*P + itemBlock]
	for _, p := range train {
		b := int(p.u)%P*P + int(p.i)%P
		strata[b] = append(strata[b], p)
	}
	// Negatives per item block: uniform, or by popularity^0.75 through a
	// cumulative table.
	blockItems := make([][]int32, P)
	cums := make([][]float64, P)
	pop := d.ItemUsers()
	for i := 0; i < ni; i++ {
		blk := i % P
		blockItems[blk] = append(blockItems[blk], int32(i))
		if m.cfg.Negatives == "popularity" {
			prev := 0.0
			if n := len(cums[blk]); n > 0 {
				prev = cums[blk][n-1]
			}
			cums[blk] = append(cums[blk], prev+math.Pow(float64(pop[i]), 0.75))
		}
	}
	negative := func(r *rand.Rand, blk int) int32 {
		items := blockItems[blk]
		cum := cums[blk]
		if cum == nil || cum[len(cum)-1] == 0 {
			return items[r.IntN(len(items))]
		}
		x := r.Float64() * cum[len(cum)-1]
		k, _ := slices.BinarySearch(cum, x)
		return items[min(k, len(items)-1)]
	}
	lr, reg := float32(m.cfg.LearningRate), float32(m.cfg.Reg)
	step := func(r *rand.Rand, pairs []pair, blk int) {
		for range pairs {
			p := pairs[r.IntN(len(pairs))]
			j := negative(r, blk)
			if d.Has(p.u, j) {
				continue
			}
			wu, hi, hj := w[int(p.u)*k:int(p.u+1)*k], h[int(p.i)*k:int(p.i+1)*k], h[int(j)*k:int(j+1)*k]
			x := bias[p.i] - bias[j] + kernels.Dot(wu, hi) - kernels.Dot(wu, hj)
			g := float32(1 / (1 + math.Exp(float64(x)))) // σ(−x)
			bias[p.i] += lr * (g - reg*bias[p.i])
			bias[j] += lr * (-g - reg*bias[j])
			for a := range wu {
				wa, ia, ja := wu[a], hi[a], hj[a]
				wu[a] += lr * (g*(ia-ja) - reg*wa)
				hi[a] += lr * (g*wa - reg*ia)
				hj[a] += lr * (-g*wa - reg*ja)
			}
		}
	}
	bestAUC := -1.0
	var bestW, bestH, bestBias []float32
	since := 0
	for epoch := 1; epoch <= m.cfg.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for sub := 0; sub < P; sub++ {
			var wg sync.WaitGroup
			for wk := 0; wk < P; wk++ {
				blk := (wk + sub) % P
				pairs := strata[wk*P+blk]
				if len(pairs) == 0 {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(m.seed, uint64(epoch)<<32|uint64(sub)<<16|uint64(wk)))
					step(r, pairs, blk)
				}()
			}
			wg.Wait()
		}
		if !factors.Finite(w) || !factors.Finite(h) || !factors.Finite(bias) {
			return fmt.Errorf("bpr: the factors are not finite after epoch %d: lower learning_rate", epoch)
		}
		m.Epochs = epoch
		if len(held) == 0 {
			continue
		}
		// Held-out AUC against one sampled negative per held-out pair.
		var hit float64
		ar := rand.New(rand.NewPCG(m.seed, 0x61756300))
		for _, p := range held {
			j := int32(ar.IntN(ni))
			if score(w, h, bias, k, p.u, p.i) > score(w, h, bias, k, p.u, j) {
				hit++
			}
		}
		auc := hit / float64(len(held))
		if auc > bestAUC {
			bestAUC, m.BestEpoch, since = auc, epoch, 0
			bestW, bestH, bestBias = append(bestW[:0], w...), append(bestH[:0], h...), append(bestBias[:0], bias...)
			continue
		}
		if since++; since >= m.cfg.Patience {
			break
		}
	}
	if bestW != nil {
		w, h, bias = bestW, bestH, bestBias
	}
	m.Set(d, k, w, h, bias)
	return nil
}

func score(w, h, bias []float32, k int, u, i int32) float32 {
	s := bias[i]
	wu, hi := w[int(u)*k:int(u+1)*k], h[int(i)*k:int(i+1)*k]
	for a := range wu {
		s += wu[a] * hi[a]
	}
	return s
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	return m.Decode(data, m.cfg.Factors)
}

var _ model.PersistentMatrix = (*Model)(nil)
