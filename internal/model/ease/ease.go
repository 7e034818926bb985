// Package ease is EASE^R (Steck 2019, "Embarrassingly Shallow Autoencoders
// for Sparse Data"): an item-item weight matrix with a zero diagonal, in
// closed form B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, where X is the
// binary user×item matrix. A user's scores are their item vector times B.
package ease

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// Lambda is the L2 regularization λ added to the Gram matrix's
	// diagonal (default 500). It must be positive.
	Lambda float64 `json:"lambda"`
	// MaxItems bounds the catalog: the model holds an items×items matrix
	// (default 30,000, about 3.6 GB while fitting).
	MaxItems int `json:"max_items"`
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, l := range []float64{50, 100, 200, 500, 1000, 2000} {
		grid = append(grid, json.RawMessage(fmt.Sprintf(`{"lambda":%g}`, l)))
	}
	return model.Info{Name: "ease", New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("ease", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid}
}

// New returns an unfitted model.
func New(c Config) (*Model, error) {
	if c.Lambda == 0 {
		c.Lambda = 500
	}
	if c.MaxItems == 0 {
		c.MaxItems = 30000
	}
	if !(c.Lambda > 0) || math.IsInf(c.Lambda, 0) {
		return nil, fmt.Errorf("ease: lambda %v must be a positive number", c.Lambda)
	}
	if c.MaxItems < 1 {
		return nil, fmt.Errorf("ease: max_items %d must be at least 1", c.MaxItems)
	}
	return &Model{cfg: c}, nil
}

// Model is a fitted EASE. Recommend is safe for concurrent use.
type Model struct {
	cfg Config
	d   *feature.Dataset
	n   int
	b   []float32 // n×n, row-major: b[i*n+j] is item i's weight for item j
	buf sync.Pool
}

// Fit computes B from the binary training matrix.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	n := d.NumItems()
	if n > m.cfg.MaxItems {
		return fmt.Errorf("ease: %d items is more than max_items %d: the model needs an items×items matrix; "+
			"raise max_items if memory allows (8·n² bytes while fitting), or use itemknn or a factor model", n, m.cfg.MaxItems)
	}
	g := mat.NewSymDense(n, nil)
	raw := g.RawSymmetric().Data
	for u := 0; u < d.NumUsers(); u++ {
		items, _ := d.Row(int32(u))
		for a, i := range items {
			for _, j := range items[a:] {
				raw[int(i)*n+int(j)]++ // upper triangle: items are sorted
			}
		}
	}
	for i := 0; i < n; i++ {
		raw[i*n+i] += m.cfg.Lambda
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(g); !ok {
		return fmt.Errorf("ease: XᵀX + λI is not positive definite (λ %v)", m.cfg.Lambda)
	}
	var p mat.SymDense
	if err := chol.InverseTo(&p); err != nil {
		return fmt.Errorf("ease: invert: %w", err)
	}
	// P is symmetric; its upper triangle holds P[i][j] for i ≤ j.
	pr := p.RawSymmetric()
	at := func(i, j int) float64 {
		if i > j {
			i, j = j, i
		}
		return pr.Data[i*pr.Stride+j]
	}
	b := make([]float32, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			v := -at(i, j) / at(j, j)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("ease: weight (%d, %d) is not finite", i, j)
			}
			b[i*n+j] = float32(v)
		}
	}
	m.d, m.n, m.b = d, n, b
	m.initPool()
	return ctx.Err()
}

func (m *Model) initPool() {
	n := m.n
	m.buf = sync.Pool{New: func() any { s := make([]float32, n); return &s }}
}

// Recommend scores items by the sum of the rows of B of the user's items.
func (m *Model) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	sp := m.buf.Get().(*[]float32)
	scores := *sp
	items, _ := m.d.Row(u)
	for _, i := range items {
		row := m.b[int(i)*m.n : int(i+1)*m.n]
		for j, w := range row {
			scores[j] += w
		}
	}
	dst = append(dst, topk.Select(scores, n, exclude)...)
	clear(scores)
	m.buf.Put(sp)
	return dst
}

// SimilarItems returns the items with the largest weights in item i's row.
func (m *Model) SimilarItems(i int32, n int, dst []topk.Entry) []topk.Entry {
	return append(dst, topk.Select(m.b[int(i)*m.n:int(i+1)*m.n], n, func(j int32) bool { return j == i })...)
}

// MarshalBinary encodes the training matrix and B.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	m.d.Encode(e)
	e.Float32s(m.b)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	dec := feature.NewDecoder(data)
	d, err := feature.DecodeDataset(dec)
	if err != nil {
		return err
	}
	w := dec.Float32s()
	if err := dec.Err(); err != nil {
		return err
	}
	n := d.NumItems()
	if len(w) != n*n {
		return fmt.Errorf("%w: ease weights", feature.ErrCorrupt)
	}
	m.d, m.n, m.b = d, n, w
	m.initPool()
	return nil
}

var (
	_ model.Persistent = (*Model)(nil)
	_ model.Similar    = (*Model)(nil)
)
