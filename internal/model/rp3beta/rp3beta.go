// Package rp3beta is RP3beta (Paudel et al. 2017; Christoffel et al.
// 2015): item-to-item weights from a three-step random walk on the
// user–item graph, item → user → item, with transition probabilities
// raised to α, divided by the popularity of the destination raised to β,
// keeping each item's k heaviest neighbours.
package rp3beta

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/neighbors"
)

// Config holds the parameters. Nil fields take the defaults.
type Config struct {
	// Alpha raises the transition probabilities (default 1).
	Alpha *float64 `json:"alpha"`
	// Beta is the popularity penalty: weights are divided by the
	// destination's number of users to the power β (default 0.5).
	Beta *float64 `json:"beta"`
	// Neighbors is how many neighbours each item keeps (default 100).
	Neighbors int `json:"neighbors"`
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, a := range []float64{0.5, 1} {
		for _, b := range []float64{0, 0.3, 0.6} {
			for _, k := range []int{50, 200} {
				grid = append(grid, json.RawMessage(fmt.Sprintf(`{"alpha":%g,"beta":%g,"neighbors":%d}`, a, b, k)))
			}
		}
	}
	return model.MatrixInfo(model.MatrixKind{Name: "rp3beta", New: func(params json.RawMessage, _ uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("rp3beta", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid})
}

// New returns an unfitted model.
func New(c Config) (*Model, error) {
	if c.Alpha == nil {
		a := 1.0
		c.Alpha = &a
	}
	if c.Beta == nil {
		b := 0.5
		c.Beta = &b
	}
	if c.Neighbors == 0 {
		c.Neighbors = 100
	}
	switch {
	case !(*c.Alpha > 0) || *c.Alpha > 10:
		return nil, fmt.Errorf("rp3beta: alpha %v is not in (0, 10]", *c.Alpha)
	case !(*c.Beta >= 0) || *c.Beta > 10:
		return nil, fmt.Errorf("rp3beta: beta %v is not in [0, 10]", *c.Beta)
	case c.Neighbors < 1:
		return nil, fmt.Errorf("rp3beta: neighbors %d must be at least 1", c.Neighbors)
	}
	return &Model{cfg: c}, nil
}

// Model is a fitted RP3beta. Recommend is safe for concurrent use.
type Model struct {
	cfg Config
	neighbors.Recommender
}

// Fit computes the walk weights, on all cores.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	n := d.NumItems()
	byItem := d.Transpose()
	a, b := *m.cfg.Alpha, *m.cfg.Beta
	// Step weights: user → item is (1/|I_u|)^α, item → user (1/|U_i|)^α.
	userStep := make([]float64, d.NumUsers())
	for u := range userStep {
		if deg := d.RowPtr[u+1] - d.RowPtr[u]; deg > 0 {
			userStep[u] = math.Pow(1/float64(deg), a)
		}
	}
	itemStep := make([]float64, n)
	penalty := make([]float64, n)
	for i := range itemStep {
		if deg := byItem.RowPtr[i+1] - byItem.RowPtr[i]; deg > 0 {
			itemStep[i] = math.Pow(1/float64(deg), a)
			penalty[i] = math.Pow(float64(deg), b)
		}
	}
	lists, err := neighbors.Build(ctx, n, m.cfg.Neighbors,
		func(i int32, mass []float64, touched []int32) []int32 {
			users, _ := byItem.Row(i)
			for _, u := range users {
				w := userStep[u]
				items, _ := d.Row(u)
				for _, j := range items {
					if mass[j] == 0 {
						touched = append(touched, j)
					}
					mass[j] += w
				}
			}
			return touched
		},
		func(i, j int32, mass float64) float64 {
			if penalty[j] == 0 {
				return 0
			}
			return itemStep[i] * mass / penalty[j]
		})
	if err != nil {
		return err
	}
	m.Set(d, lists)
	return nil
}

var (
	_ model.PersistentMatrix = (*Model)(nil)
	_ model.Similar          = (*Model)(nil)
)
