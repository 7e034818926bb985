// Package userknn is user-based k-nearest-neighbour collaborative
// filtering on binary interactions: a user's score for an item is the sum
// of the similarities of their k most similar users who have it.
package userknn

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// Neighbors is how many similar users count (default 100).
	Neighbors int `json:"neighbors"`
	// Shrink is added to every similarity's denominator (default 0).
	Shrink float64 `json:"shrink"`
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, k := range []int{20, 50, 100, 200} {
		for _, shrink := range []int{0, 10} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"shrink":%d}`, k, shrink)))
		}
	}
	return model.Info{Name: "userknn", New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("userknn", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid}
}

// New returns an unfitted model.
func New(c Config) (*Model, error) {
	if c.Neighbors == 0 {
		c.Neighbors = 100
	}
	if c.Neighbors < 1 {
		return nil, fmt.Errorf("userknn: neighbors %d must be at least 1", c.Neighbors)
	}
	if c.Shrink < 0 {
		return nil, fmt.Errorf("userknn: shrink %v is negative", c.Shrink)
	}
	return &Model{cfg: c}, nil
}

// Model is a fitted user-kNN: it keeps the training matrix and finds
// neighbours when asked. Recommend is safe for concurrent use.
type Model struct {
	cfg    Config
	d      *feature.Dataset
	byItem *feature.Dataset
	bufs   sync.Pool // *buffers
}

type buffers struct {
	co     []float32 // per user
	scores []float32 // per item
	heap   *topk.Heap
	nbrs   []topk.Entry
}

// Fit keeps the matrix and its transpose.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	m.d, m.byItem = d, d.Transpose()
	m.bufs = sync.Pool{New: func() any {
		return &buffers{co: make([]float32, d.NumUsers()), scores: make([]float32, d.NumItems()), heap: topk.New(m.cfg.Neighbors)}
	}}
	return ctx.Err()
}

// Recommend scores items by the similarities of the user's neighbours.
func (m *Model) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	b := m.bufs.Get().(*buffers)
	defer m.bufs.Put(b)
	items, _ := m.d.Row(u)
	nu := float64(len(items))
	var touched []int32
	for _, i := range items {
		users, _ := m.byItem.Row(i)
		for _, v := range users {
			if v == u {
				continue
			}
			if b.co[v] == 0 {
				touched = append(touched, v)
			}
			b.co[v]++
		}
	}
	b.heap.Reset(m.cfg.Neighbors)
	for _, v := range touched {
		nv := float64(m.d.RowPtr[v+1] - m.d.RowPtr[v])
		b.heap.Push(v, float32(float64(b.co[v])/(math.Sqrt(nu*nv)+m.cfg.Shrink)))
		b.co[v] = 0
	}
	b.nbrs = b.heap.Sorted(b.nbrs[:0])
	for _, e := range b.nbrs {
		vItems, _ := m.d.Row(e.Index)
		for _, j := range vItems {
			b.scores[j] += e.Score
		}
	}
	dst = append(dst, topk.Select(b.scores, n, exclude)...)
	clear(b.scores)
	return dst
}

var _ model.Model = (*Model)(nil)
