// Package ials is implicit alternating least squares in the formulation of
// Rendle et al. 2021 ("Revisiting the Performance of iALS on Item
// Recommendation Benchmarks"): observed pairs are pulled towards 1 with a
// weight from their confidence, every pair towards 0 with the small
// unobserved weight α0, and the L2 penalty of each vector is scaled by its
// number of observations, (n + α0·N)^ν. Each half-step solves the users'
// (or items') normal equations by a few conjugate-gradient steps from the
// previous solution (Takács et al. 2011), on all cores, with the shared
// float32 kernels (Gram, CG, SIMD dot and axpy). FoldIn solves a new
// shopper's vector from their interactions without retraining.
package ials

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/factors"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// Factors is the dimension of the user and item vectors (default 64).
	Factors int `json:"factors"`
	// Iterations is the number of alternating sweeps (default 15).
	Iterations int `json:"iterations"`
	// Unobserved is α0, the weight of every pair's pull towards 0
	// (default 0.1).
	Unobserved float64 `json:"unobserved"`
	// Lambda is the L2 regularization λ (default 0.01).
	Lambda float64 `json:"lambda"`
	// Nu is ν, the exponent of the count scaling of λ (default 1).
	Nu *float64 `json:"nu"`
	// Alpha scales the confidence of an observed pair with weight w:
	// 1 + Alpha·(w − 1), so binary data weighs 1 (default 0).
	Alpha float64 `json:"alpha"`
	// CGSteps is the number of conjugate-gradient steps per solve
	// (default 3).
	CGSteps int `json:"cg_steps"`
	// InitStd is the standard deviation of the initial vectors, divided by
	// √Factors (default 0.1).
	InitStd float64 `json:"init_std"`
}

func (c *Config) defaults() error {
	if c.Factors == 0 {
		c.Factors = 64
	}
	if c.Iterations == 0 {
		c.Iterations = 15
	}
	if c.Unobserved == 0 {
		c.Unobserved = 0.1
	}
	if c.Lambda == 0 {
		c.Lambda = 0.01
	}
	if c.Nu == nil {
		nu := 1.0
		c.Nu = &nu
	}
	if c.CGSteps == 0 {
		c.CGSteps = 3
	}
	if c.InitStd == 0 {
		c.InitStd = 0.1
	}
	bad := func(name string, v any, rng string) error {
		return fmt.Errorf("ials: %s %v is out of range: %s", name, v, rng)
	}
	switch {
	case c.Factors < 1 || c.Factors > 4096:
		return bad("factors", c.Factors, "1 to 4096")
	case c.Iterations < 1 || c.Iterations > 1000:
		return bad("iterations", c.Iterations, "1 to 1000")
	case !(c.Unobserved > 0) || math.IsInf(c.Unobserved, 0):
		return bad("unobserved", c.Unobserved, "a positive number")
	case !(c.Lambda > 0) || math.IsInf(c.Lambda, 0):
		return bad("lambda", c.Lambda, "a positive number")
	case !(*c.Nu >= 0) || *c.Nu > 2:
		return bad("nu", *c.Nu, "0 to 2")
	case !(c.Alpha >= 0) || math.IsInf(c.Alpha, 0):
		return bad("alpha", c.Alpha, "0 or more")
	case c.CGSteps < 1 || c.CGSteps > 100:
		return bad("cg_steps", c.CGSteps, "1 to 100")
	case !(c.InitStd > 0):
		return bad("init_std", c.InitStd, "a positive number")
	}
	return nil
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, f := range []int{64, 128} {
		for _, a0 := range []float64{0.01, 0.1, 0.5, 0.7, 1} {
			for _, l := range []float64{0.001, 0.01, 0.05} {
				grid = append(grid, json.RawMessage(fmt.Sprintf(`{"factors":%d,"unobserved":%g,"lambda":%g}`, f, a0, l)))
			}
		}
	}
	return model.MatrixInfo(model.MatrixKind{Name: "ials", New: func(params json.RawMessage, seed uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("ials", params, &c); err != nil {
			return nil, err
		}
		return New(c, seed)
	}, Grid: grid})
}

// New returns an unfitted model whose initial vectors are drawn with seed.
func New(c Config, seed uint64) (*Model, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	return &Model{cfg: c, seed: seed}, nil
}

// Model is a fitted iALS: user vectors W and item vectors H, served by
// factors.Recommender. Recommend is safe for concurrent use.
type Model struct {
	cfg  Config
	seed uint64
	factors.Recommender
	gram []float32 // HᵀH of the fitted item vectors, for FoldIn
}

// Fit alternates between solving for the user and the item vectors.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	k := m.cfg.Factors
	nu, ni := d.NumUsers(), d.NumItems()
	r := rand.New(rand.NewPCG(m.seed, 0x69616c73))
	std := m.cfg.InitStd / math.Sqrt(float64(k))
	w, h := make([]float32, nu*k), make([]float32, ni*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * std)
	}
	for i := range h {
		h[i] = float32(r.NormFloat64() * std)
	}
	byItem := d.Transpose()
	for it := 0; it < m.cfg.Iterations; it++ {
		if err := m.sweep(ctx, d, w, h, ni); err != nil {
			return err
		}
		if err := m.sweep(ctx, byItem, h, w, nu); err != nil {
			return err
		}
		if !factors.Finite(w) || !factors.Finite(h) {
			return fmt.Errorf("ials: the factors are not finite after iteration %d: lower lambda's range or the learning setup", it+1)
		}
	}
	m.Set(d, k, w, h, nil)
	m.setGram()
	return nil
}

// system is one row's normal equations over fixed vectors y (n×k):
// (α0·G + Σ_i c_i·y_i y_iᵀ + reg·I) x = Σ_i c_i·y_i, with G = YᵀY.
type system struct {
	m       *Model
	g       []float32 // YᵀY, k×k
	y       []float32
	items   []int32
	weights []float32
	reg     float32
	tmp     []float32 // k
}

// mul sets out = A·v.
func (s *system) mul(v, out []float32) {
	k := len(v)
	kernels.MatVec(s.g, v, out)
	a0 := float32(s.m.cfg.Unobserved)
	for a := range out {
		out[a] = a0*out[a] + s.reg*v[a]
	}
	for t, i := range s.items {
		hv := s.y[int(i)*k : (int(i)+1)*k]
		kernels.Axpy(s.m.confidence(s.weights[t])*kernels.Dot(hv, v), hv, out)
	}
}

// rhs sets b = Σ_i c_i·y_i.
func (s *system) rhs(b []float32) {
	k := len(b)
	clear(b)
	for t, i := range s.items {
		kernels.Axpy(s.m.confidence(s.weights[t]), s.y[int(i)*k:(int(i)+1)*k], b)
	}
}

// regularization returns λ·(count + α0·n)^ν for a row with count
// observations among n.
func (m *Model) regularization(count, n int) float32 {
	return float32(m.cfg.Lambda * math.Pow(float64(count)+m.cfg.Unobserved*float64(n), *m.cfg.Nu))
}

// sweep solves, for every row u of x (the rows of matrix r), the normal
// equations of system by CG from x_u.
func (m *Model) sweep(ctx context.Context, r *feature.Dataset, x, y []float32, n int) error {
	k := m.cfg.Factors
	g := make([]float32, k*k)
	kernels.Gram(y, n, k, make([]float32, n*k), g)
	rows := r.NumUsers()
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(runtime.GOMAXPROCS(0))
	const chunk = 256
	for start := 0; start < rows; start += chunk {
		eg.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			sys := system{m: m, g: g, y: y, tmp: make([]float32, k)}
			b, work := make([]float32, k), make([]float32, 3*k)
			for u := start; u < min(start+chunk, rows); u++ {
				sys.items, sys.weights = r.Row(int32(u))
				sys.reg = m.regularization(len(sys.items), n)
				sys.rhs(b)
				kernels.CG(sys.mul, b, x[u*k:(u+1)*k], m.cfg.CGSteps, work)
			}
			return nil
		})
	}
	return eg.Wait()
}

// FoldIn returns the user vector that best explains the given interactions
// (item indices and weights, as in a training row) with the item vectors
// held fixed: the same normal equations a user's half-step solves, solved
// exactly by Cholesky. It lets a new or changed shopper be scored without
// retraining. Unknown indices (outside the catalog) are an error.
func (m *Model) FoldIn(items []int32, weights []float32) ([]float32, error) {
	k := m.cfg.Factors
	y, g := m.ItemVectors(), m.gram
	ni := len(y) / k
	if len(weights) != len(items) {
		return nil, fmt.Errorf("ials: fold-in of %d items with %d weights", len(items), len(weights))
	}
	for _, i := range items {
		if i < 0 || int(i) >= ni {
			return nil, fmt.Errorf("ials: fold-in item index %d is outside the catalog of %d", i, ni)
		}
	}
	sys := system{m: m, g: g, y: y, items: items, weights: weights, reg: m.regularization(len(items), ni)}
	b32 := make([]float32, k)
	sys.rhs(b32)
	a := make([]float64, k*k)
	col, out := make([]float32, k), make([]float32, k)
	for c := 0; c < k; c++ { // A column by column: A·e_c
		clear(col)
		col[c] = 1
		sys.mul(col, out)
		for r := range out {
			a[r*k+c] = float64(out[r])
		}
	}
	b := make([]float64, k)
	for i, v := range b32 {
		b[i] = float64(v)
	}
	if err := kernels.CholeskySolve(a, k, b); err != nil {
		return nil, fmt.Errorf("ials: fold-in: %w", err)
	}
	x := make([]float32, k)
	for i, v := range b {
		x[i] = float32(v)
	}
	return x, nil
}

// ScoreHistory folds the interactions in and scores every item for the
// resulting vector.
func (m *Model) ScoreHistory(items []int32, weights []float32, scores []float32) error {
	x, err := m.FoldIn(items, weights)
	if err != nil {
		return err
	}
	kernels.MatVec(m.ItemVectors(), x, scores)
	return nil
}

// RecommendHistory folds the interactions in and recommends for the
// resulting vector.
func (m *Model) RecommendHistory(items []int32, weights []float32, n int, exclude func(int32) bool, dst []topk.Entry) ([]topk.Entry, error) {
	x, err := m.FoldIn(items, weights)
	if err != nil {
		return dst, err
	}
	return m.RecommendVector(x, n, exclude, dst), nil
}

// confidence is the weight of an observed pair's pull towards 1.
func (m *Model) confidence(w float32) float32 {
	return float32(1 + m.cfg.Alpha*(float64(w)-1))
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	if err := m.Decode(data, m.cfg.Factors); err != nil {
		return err
	}
	m.setGram()
	return nil
}

// setGram computes HᵀH of the fitted item vectors, for FoldIn.
func (m *Model) setGram() {
	k := m.cfg.Factors
	h := m.ItemVectors()
	m.gram = make([]float32, k*k)
	kernels.Gram(h, len(h)/k, k, make([]float32, len(h)), m.gram)
}

var (
	_ model.PersistentMatrix = (*Model)(nil)
	_ model.HistoryScorer    = (*Model)(nil)
	_ model.Explainer        = (*Model)(nil)
)
