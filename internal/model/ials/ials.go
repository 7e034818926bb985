// Package ials is implicit alternating least squares in the formulation of
// Rendle et al. 2021 ("Revisiting the Performance of iALS on Item
// Recommendation Benchmarks"): observed pairs are pulled towards 1 with a
// weight from their confidence, every pair towards 0 with the small
// unobserved weight α0, and the L2 penalty of each vector is scaled by its
// number of observations, (n + α0·N)^ν. Each half-step solves the users'
// (or items') normal equations by a few conjugate-gradient steps from the
// previous solution (Takács et al. 2011), on all cores.
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
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/factors"
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
	for _, a0 := range []float64{0.01, 0.1, 0.5, 1} {
		for _, l := range []float64{0.001, 0.01, 0.05} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"unobserved":%g,"lambda":%g}`, a0, l)))
		}
	}
	return model.Info{Name: "ials", New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("ials", params, &c); err != nil {
			return nil, err
		}
		return New(c, seed)
	}, Grid: grid}
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
	return nil
}

// gram returns HᵀH (k×k, float64) of the n vectors in h.
func gram(h []float32, n, k int) []float64 {
	g := make([]float64, k*k)
	for i := 0; i < n; i++ {
		v := h[i*k : (i+1)*k]
		for a := 0; a < k; a++ {
			va := float64(v[a])
			row := g[a*k : (a+1)*k]
			for b := a; b < k; b++ {
				row[b] += va * float64(v[b])
			}
		}
	}
	for a := 0; a < k; a++ {
		for b := 0; b < a; b++ {
			g[a*k+b] = g[b*k+a]
		}
	}
	return g
}

// sweep solves, for every row u of x (the rows of matrix r), the normal
// equations (α0·G + Σ_i c_ui·h_i h_iᵀ + λ_u I) x_u = Σ_i c_ui·h_i, with G =
// YᵀY over the n vectors of y, by CG from x_u.
func (m *Model) sweep(ctx context.Context, r *feature.Dataset, x, y []float32, n int) error {
	k := m.cfg.Factors
	a0, lambda, nu := m.cfg.Unobserved, m.cfg.Lambda, *m.cfg.Nu
	g := gram(y, n, k)
	rows := r.NumUsers()
	eg, gctx := errgroup.WithContext(ctx)
	workers := runtime.GOMAXPROCS(0)
	eg.SetLimit(workers)
	const chunk = 256
	for start := 0; start < rows; start += chunk {
		eg.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			b, res, p, ap := make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
			xu := make([]float64, k)
			for u := start; u < min(start+chunk, rows); u++ {
				items, weights := r.Row(int32(u))
				reg := lambda * math.Pow(float64(len(items))+a0*float64(n), nu)
				xv := x[u*k : (u+1)*k]
				for a := range xu {
					xu[a] = float64(xv[a])
				}
				// A·v = α0·G·v + Σ_i c_i (h_i·v) h_i + reg·v
				mul := func(v, out []float64) {
					for a := 0; a < k; a++ {
						row := g[a*k : (a+1)*k]
						var s float64
						for bb, gv := range row {
							s += gv * v[bb]
						}
						out[a] = a0*s + reg*v[a]
					}
					for t, i := range items {
						hv := y[int(i)*k : (int(i)+1)*k]
						var dot float64
						for a, h := range hv {
							dot += float64(h) * v[a]
						}
						c := m.confidence(weights[t]) * dot
						for a, h := range hv {
							out[a] += c * float64(h)
						}
					}
				}
				clear(b)
				for t, i := range items {
					c := m.confidence(weights[t])
					hv := y[int(i)*k : (int(i)+1)*k]
					for a, h := range hv {
						b[a] += c * float64(h)
					}
				}
				mul(xu, ap)
				var rr float64
				for a := range res {
					res[a] = b[a] - ap[a]
					p[a] = res[a]
					rr += res[a] * res[a]
				}
				for step := 0; step < m.cfg.CGSteps && rr > 1e-20; step++ {
					mul(p, ap)
					var pap float64
					for a := range p {
						pap += p[a] * ap[a]
					}
					if pap <= 0 {
						break
					}
					alpha := rr / pap
					var rrNew float64
					for a := range xu {
						xu[a] += alpha * p[a]
						res[a] -= alpha * ap[a]
						rrNew += res[a] * res[a]
					}
					for a := range p {
						p[a] = res[a] + rrNew/rr*p[a]
					}
					rr = rrNew
				}
				for a := range xv {
					xv[a] = float32(xu[a])
				}
			}
			return nil
		})
	}
	return eg.Wait()
}

// confidence is the weight of an observed pair's pull towards 1.
func (m *Model) confidence(w float32) float64 {
	return 1 + m.cfg.Alpha*(float64(w)-1)
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	return m.Decode(data, m.cfg.Factors)
}

var _ model.Persistent = (*Model)(nil)
