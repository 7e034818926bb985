// Package userknn is user-based k-nearest-neighbour collaborative
// filtering on binary interactions: a user's score for an item is the sum
// of the similarities of their k most similar users who have it.
package userknn

import (
	"bytes"
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
	// Similarity is "cosine" (default), "asymmetric" (|Iu∩Iv| /
	// (|Iu|^α·|Iv|^(1−α))) or "jaccard".
	Similarity string `json:"similarity"`
	// Alpha is α of the asymmetric cosine, in [0, 1] (default 0.5).
	Alpha *float64 `json:"alpha"`
	// Shrink is added to every similarity's denominator (default 0).
	Shrink float64 `json:"shrink"`
	// Weighting is "none" (default), "idf" (an item many users have counts
	// less in the similarities: idf = log(users / (1 + its users))) or
	// "bm25" (idf, and each user's vector normalized by its length with K1
	// 100, B 0.8; with cosine it ranks as idf does).
	Weighting string `json:"weighting"`
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, k := range []int{20, 50, 100, 200} {
		for _, shrink := range []int{0, 10} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"shrink":%d}`, k, shrink)))
		}
		grid = append(grid, json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"weighting":"idf"}`, k)),
			json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"similarity":"asymmetric","alpha":0.7,"weighting":"bm25"}`, k)))
	}
	return model.MatrixInfo(model.MatrixKind{Name: "userknn", New: func(params json.RawMessage, _ uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("userknn", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid})
}

// New returns an unfitted model.
func New(c Config) (*Model, error) {
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
	if c.Weighting == "" {
		c.Weighting = "none"
	}
	switch {
	case c.Neighbors < 1:
		return nil, fmt.Errorf("userknn: neighbors %d must be at least 1", c.Neighbors)
	case c.Similarity != "cosine" && c.Similarity != "asymmetric" && c.Similarity != "jaccard":
		return nil, fmt.Errorf("userknn: similarity %q is not cosine, asymmetric or jaccard", c.Similarity)
	case *c.Alpha < 0 || *c.Alpha > 1:
		return nil, fmt.Errorf("userknn: alpha %v is not in [0, 1]", *c.Alpha)
	case c.Shrink < 0:
		return nil, fmt.Errorf("userknn: shrink %v is negative", c.Shrink)
	case c.Weighting != "none" && c.Weighting != "idf" && c.Weighting != "bm25":
		return nil, fmt.Errorf("userknn: weighting %q is not none, idf or bm25", c.Weighting)
	}
	return &Model{cfg: c}, nil
}

// Model is a fitted user-kNN: it keeps the training matrix and finds
// neighbours when asked. Recommend is safe for concurrent use.
type Model struct {
	cfg    Config
	d      *feature.Dataset
	byItem *feature.Dataset
	itemW2 []float64 // squared weight of each item
	userF  []float64 // each user's length factor (bm25; else 1)
	norm2  []float64 // squared length of each user's weighted vector
	bufs   sync.Pool // *buffers
}

type buffers struct {
	co     []float64 // per user
	scores []float32 // per item
	heap   *topk.Heap
	nbrs   []topk.Entry
}

// Fit keeps the matrix and its transpose and weighs the items.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	m.prepare(d)
	return ctx.Err()
}

func (m *Model) prepare(d *feature.Dataset) {
	m.d, m.byItem = d, d.Transpose()
	nu := d.NumUsers()
	m.itemW2 = make([]float64, d.NumItems())
	for i := range m.itemW2 {
		w := 1.0
		if m.cfg.Weighting != "none" {
			n := float64(m.byItem.RowPtr[i+1] - m.byItem.RowPtr[i])
			w = math.Max(math.Log(float64(nu)/(1+n)), 0)
		}
		m.itemW2[i] = w * w
	}
	m.userF = make([]float64, nu)
	avg := float64(d.NNZ()) / float64(max(nu, 1))
	for u := range m.userF {
		m.userF[u] = 1
		if m.cfg.Weighting == "bm25" && avg > 0 {
			const k1, b = 100, 0.8
			length := float64(d.RowPtr[u+1] - d.RowPtr[u])
			m.userF[u] = (k1 + 1) / (k1*((1-b)+b*length/avg) + 1)
		}
	}
	m.norm2 = make([]float64, nu)
	for u := 0; u < nu; u++ {
		items, _ := d.Row(int32(u))
		for _, i := range items {
			m.norm2[u] += m.itemW2[i]
		}
		m.norm2[u] *= m.userF[u] * m.userF[u]
	}
	m.bufs = sync.Pool{New: func() any {
		return &buffers{co: make([]float64, nu), scores: make([]float32, d.NumItems()), heap: topk.New(m.cfg.Neighbors)}
	}}
}

func (m *Model) similarity(dot, nu, nv float64) float64 {
	var den float64
	switch m.cfg.Similarity {
	case "jaccard":
		den = nu + nv - dot
	case "asymmetric":
		a := *m.cfg.Alpha
		den = math.Pow(nu, a) * math.Pow(nv, 1-a)
	default:
		den = math.Sqrt(nu * nv)
	}
	den += m.cfg.Shrink
	if den <= 0 {
		return 0
	}
	return dot / den
}

// Recommend scores items by the similarities of the user's neighbours.
func (m *Model) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	b := m.bufs.Get().(*buffers)
	defer m.bufs.Put(b)
	items, _ := m.d.Row(u)
	var touched []int32
	for _, i := range items {
		w2 := m.itemW2[i]
		if w2 == 0 {
			continue
		}
		users, _ := m.byItem.Row(i)
		for _, v := range users {
			if v == u {
				continue
			}
			if b.co[v] == 0 {
				touched = append(touched, v)
			}
			b.co[v] += w2
		}
	}
	b.heap.Reset(m.cfg.Neighbors)
	for _, v := range touched {
		dot := b.co[v] * m.userF[u] * m.userF[v]
		b.heap.Push(v, float32(m.similarity(dot, m.norm2[u], m.norm2[v])))
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

// ForgetUsers removes the shoppers gone reports true for from the
// training matrix: their ids and rows.
func (m *Model) ForgetUsers(gone func(id string) bool) int { return m.d.ForgetUsers(gone) }

// MarshalBinary encodes the training matrix, which is the whole model.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	m.d.Encode(e)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d, err := feature.DecodeDataset(feature.NewDecoder(data))
	if err != nil {
		return err
	}
	m.prepare(d)
	return nil
}

var _ model.PersistentMatrix = (*Model)(nil)
