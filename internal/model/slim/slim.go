// Package slim is SLIM (Ning & Karypis 2011): each item's column of a
// sparse, non-negative item–item weight matrix W is fitted by elastic-net
// regression of the item's user vector on the other items' vectors,
// min ‖x_j − X w_j‖² + l1·‖w_j‖₁ + l2·‖w_j‖², w_j ≥ 0, w_jj = 0, by
// coordinate descent over a support restricted to the item's k nearest
// neighbours by cosine (as in the kNN-restricted SLIM of Levy & Jack
// 2013), in parallel over items.
package slim

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/neighbors"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// L1 and L2 are the elastic-net penalties (defaults 1 and 10).
	L1 float64 `json:"l1"`
	L2 float64 `json:"l2"`
	// Support is the number of cosine neighbours each item may use
	// (default 100).
	Support int `json:"support"`
	// Sweeps is the number of coordinate-descent passes (default 10).
	Sweeps int `json:"sweeps"`
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, l1 := range []float64{0.1, 1, 5} {
		for _, l2 := range []float64{1, 10, 50} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"l1":%g,"l2":%g}`, l1, l2)))
		}
	}
	return model.MatrixInfo(model.MatrixKind{Name: "slim", New: func(params json.RawMessage, _ uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("slim", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid})
}

// New returns an unfitted model.
func New(c Config) (*Model, error) {
	if c.L1 == 0 {
		c.L1 = 1
	}
	if c.L2 == 0 {
		c.L2 = 10
	}
	if c.Support == 0 {
		c.Support = 100
	}
	if c.Sweeps == 0 {
		c.Sweeps = 10
	}
	switch {
	case !(c.L1 >= 0) || math.IsInf(c.L1, 0):
		return nil, fmt.Errorf("slim: l1 %v must be 0 or more", c.L1)
	case !(c.L2 > 0) || math.IsInf(c.L2, 0):
		return nil, fmt.Errorf("slim: l2 %v must be positive", c.L2)
	case c.Support < 1:
		return nil, fmt.Errorf("slim: support %d must be at least 1", c.Support)
	case c.Sweeps < 1 || c.Sweeps > 1000:
		return nil, fmt.Errorf("slim: sweeps %d is out of range: 1 to 1000", c.Sweeps)
	}
	return &Model{cfg: c}, nil
}

// Model is a fitted SLIM, stored by rows: item i's row lists the items j
// with W[i][j] > 0, so a user's score for j is Σ over their items i.
// Recommend is safe for concurrent use.
type Model struct {
	cfg Config
	neighbors.Recommender
}

// Fit solves every item's column, on all cores.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	n := d.NumItems()
	byItem := d.Transpose()
	deg := make([]float64, n)
	for i := range deg {
		deg[i] = float64(byItem.RowPtr[i+1] - byItem.RowPtr[i])
	}
	// The support of column j: its nearest items by binary cosine.
	support, err := neighbors.Build(ctx, n, m.cfg.Support,
		func(j int32, co []float64, touched []int32) []int32 {
			users, _ := byItem.Row(j)
			for _, u := range users {
				items, _ := d.Row(u)
				for _, i := range items {
					if co[i] == 0 {
						touched = append(touched, i)
					}
					co[i]++
				}
			}
			return touched
		},
		func(i, j int32, co float64) float64 { return co / math.Sqrt(deg[i]*deg[j]) })
	if err != nil {
		return err
	}
	// Column j's weights, found by coordinate descent on the residual
	// r = x_j − Σ_i w_i x_i over users, kept dense per worker.
	cols, err := neighbors.Build(ctx, n, m.cfg.Support,
		func(j int32, w []float64, touched []int32) []int32 {
			s, _ := support.Row(j)
			return m.solve(d, byItem, j, s, deg, w, touched)
		},
		func(_, _ int32, w float64) float64 { return w })
	if err != nil {
		return err
	}
	// cols holds W by columns (item j → its weights w_ij); recommending
	// wants rows (item i → the j it points to).
	m.Set(d, transpose(cols, n))
	return nil
}

// solve runs coordinate descent for column j over the support items s and
// stores the positive weights in w (indexed by item), appending their
// items to touched.
func (m *Model) solve(d, byItem *feature.Dataset, j int32, s []int32, deg, w []float64, touched []int32) []int32 {
	// residual over users: x_j at the start (all weights 0).
	res := map[int32]float64{}
	users, _ := byItem.Row(j)
	for _, u := range users {
		res[u] = 1
	}
	ws := make([]float64, len(s))
	l1, l2 := m.cfg.L1, m.cfg.L2
	for sweep := 0; sweep < m.cfg.Sweeps; sweep++ {
		var change float64
		for k, i := range s {
			us, _ := byItem.Row(i)
			// x_iᵀ r + ‖x_i‖² w_i (binary: ‖x_i‖² = deg[i]).
			var dot float64
			for _, u := range us {
				dot += res[u]
			}
			old := ws[k]
			nw := math.Max(0, (dot+deg[i]*old-l1)/(deg[i]+l2))
			if nw != old {
				delta := nw - old
				for _, u := range us {
					res[u] -= delta
				}
				ws[k] = nw
				change = math.Max(change, math.Abs(delta))
			}
		}
		if change < 1e-6 {
			break
		}
	}
	for k, i := range s {
		if ws[k] > 0 {
			touched = append(touched, i)
			w[i] = ws[k]
		}
	}
	return touched
}

// transpose turns column lists into row lists.
func transpose(cols *neighbors.Lists, n int) *neighbors.Lists {
	t := &neighbors.Lists{Ptr: make([]int64, n+1)}
	for _, i := range cols.Idx {
		t.Ptr[i+1]++
	}
	for i := 0; i < n; i++ {
		t.Ptr[i+1] += t.Ptr[i]
	}
	t.Idx = make([]int32, len(cols.Idx))
	t.Sim = make([]float32, len(cols.Idx))
	next := make([]int64, n)
	copy(next, t.Ptr[:n])
	for j := 0; j < n; j++ {
		idx, w := cols.Row(int32(j))
		for k, i := range idx {
			p := next[i]
			t.Idx[p], t.Sim[p] = int32(j), w[k]
			next[i]++
		}
	}
	return t
}

var _ model.PersistentMatrix = (*Model)(nil)
