// Package itemknn is item-based k-nearest-neighbour collaborative filtering
// (Deshpande & Karypis 2004) on binary interactions: each item keeps its k
// most similar items, and a user's score for an item is the sum of its
// similarities to the user's items.
package itemknn

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// Neighbors is how many similar items each item keeps (default 100).
	Neighbors int `json:"neighbors"`
	// Similarity is "cosine" (default), "asymmetric" (asymmetric cosine,
	// |Ui∩Uj| / (|Ui|^α·|Uj|^(1−α))) or "jaccard".
	Similarity string `json:"similarity"`
	// Alpha is α of the asymmetric cosine, in [0, 1] (default 0.5, which
	// is the cosine).
	Alpha *float64 `json:"alpha"`
	// Shrink is added to every similarity's denominator, damping pairs
	// with few common users (default 0).
	Shrink float64 `json:"shrink"`
}

func (c *Config) defaults() error {
	if c.Neighbors == 0 {
		c.Neighbors = 100
	}
	if c.Similarity == "" {
		c.Similarity = "cosine"
	}
	if c.Alpha == nil {
		a := 0.5
		c.Alpha = &a
	}
	switch {
	case c.Neighbors < 1:
		return fmt.Errorf("itemknn: neighbors %d must be at least 1", c.Neighbors)
	case c.Similarity != "cosine" && c.Similarity != "asymmetric" && c.Similarity != "jaccard":
		return fmt.Errorf("itemknn: similarity %q is not cosine, asymmetric or jaccard", c.Similarity)
	case *c.Alpha < 0 || *c.Alpha > 1:
		return fmt.Errorf("itemknn: alpha %v is not in [0, 1]", *c.Alpha)
	case c.Shrink < 0:
		return fmt.Errorf("itemknn: shrink %v is negative", c.Shrink)
	}
	return nil
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, k := range []int{20, 50, 100, 200} {
		for _, shrink := range []int{0, 10} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"shrink":%d}`, k, shrink)))
		}
		grid = append(grid, json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"similarity":"asymmetric","alpha":0.7}`, k)))
	}
	return model.Info{Name: "itemknn", New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("itemknn", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid}
}

// New returns an unfitted model.
func New(c Config) (*Model, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	return &Model{cfg: c}, nil
}

// Model is a fitted item-kNN. Recommend is safe for concurrent use.
type Model struct {
	cfg Config
	d   *feature.Dataset
	// Neighbours of item i: nbrIdx/nbrSim[nbrPtr[i]:nbrPtr[i+1]].
	nbrPtr []int64
	nbrIdx []int32
	nbrSim []float32

	scores sync.Pool // *[]float32 of NumItems
}

// Fit computes every item's neighbours, on all cores.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	m.d = d
	n := d.NumItems()
	byItem := d.Transpose()
	deg := make([]float64, n)
	for i := 0; i < n; i++ {
		deg[i] = float64(byItem.RowPtr[i+1] - byItem.RowPtr[i])
	}
	k := m.cfg.Neighbors
	lists := make([][]topk.Entry, n)
	workers := runtime.GOMAXPROCS(0)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	const chunk = 64
	for start := 0; start < n; start += chunk {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			co := make([]float32, n)
			var touched []int32
			h := topk.New(k)
			for i := start; i < min(start+chunk, n); i++ {
				users, _ := byItem.Row(int32(i))
				touched = touched[:0]
				for _, u := range users {
					items, _ := d.Row(u)
					for _, j := range items {
						if int(j) == i {
							continue
						}
						if co[j] == 0 {
							touched = append(touched, j)
						}
						co[j]++
					}
				}
				h.Reset(k)
				for _, j := range touched {
					h.Push(j, float32(m.similarity(float64(co[j]), deg[i], deg[j])))
					co[j] = 0
				}
				lists[i] = h.Sorted(nil)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	m.nbrPtr = make([]int64, n+1)
	for i, l := range lists {
		m.nbrPtr[i+1] = m.nbrPtr[i] + int64(len(l))
	}
	m.nbrIdx = make([]int32, m.nbrPtr[n])
	m.nbrSim = make([]float32, m.nbrPtr[n])
	for i, l := range lists {
		for j, e := range l {
			m.nbrIdx[m.nbrPtr[i]+int64(j)] = e.Index
			m.nbrSim[m.nbrPtr[i]+int64(j)] = e.Score
		}
	}
	m.scores = sync.Pool{New: func() any { s := make([]float32, n); return &s }}
	return nil
}

func (m *Model) similarity(co, ni, nj float64) float64 {
	switch m.cfg.Similarity {
	case "jaccard":
		return co / (ni + nj - co + m.cfg.Shrink)
	case "asymmetric":
		a := *m.cfg.Alpha
		return co / (math.Pow(ni, a)*math.Pow(nj, 1-a) + m.cfg.Shrink)
	}
	return co / (math.Sqrt(ni*nj) + m.cfg.Shrink)
}

// Neighbors returns the items most similar to item i with their
// similarities, best first. The slices alias the model.
func (m *Model) Neighbors(i int32) ([]int32, []float32) {
	lo, hi := m.nbrPtr[i], m.nbrPtr[i+1]
	return m.nbrIdx[lo:hi], m.nbrSim[lo:hi]
}

// Recommend ranks items by the sum of their similarities to the user's
// items.
func (m *Model) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	sp := m.scores.Get().(*[]float32)
	scores := *sp
	items, _ := m.d.Row(u)
	for _, i := range items {
		idx, sim := m.Neighbors(i)
		for k, j := range idx {
			scores[j] += sim[k]
		}
	}
	dst = append(dst, topk.Select(scores, n, exclude)...)
	clear(scores)
	m.scores.Put(sp)
	return dst
}

var _ model.Model = (*Model)(nil)
