// Package ease is EASE^R (Steck 2019, "Embarrassingly Shallow Autoencoders
// for Sparse Data"): an item-item weight matrix with a zero diagonal, in
// closed form B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, where X is the
// binary user×item matrix. A user's scores are their item vector times B.
// The Gram matrix and the inverse are float32 kernels (kernels.GramCSR,
// kernels.InvertSPD): about n³ multiply-adds for n items.
package ease

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/viterin/vek/vek32"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/kernels"
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
	// Dropout p turns EASE into EDLAE (Steck 2020, "Autoencoders that
	// don't overfit towards the identity"): the diagonal penalty becomes
	// λ + p/(1−p)·G_ii, as if each input item were dropped with
	// probability p while training. It must be in [0, 1); 0 (the default)
	// is plain EASE.
	Dropout float64 `json:"dropout"`
	// UserWeight γ weighs each user's row of X by n_u^(−γ/2), so that the
	// Gram matrix is XᵀDX with D = diag(n_u^−γ), n_u the user's number of
	// items: shoppers with long histories stop dominating the item–item
	// statistics, as inverse user frequency does for neighbourhood
	// models. It must be in [0, 2]; 0 (the default) is plain EASE. The
	// weights shrink the Gram matrix, so λ shrinks with them: on
	// ml-100k, γ 0.5 goes with λ about 35 where plain EASE takes 500.
	UserWeight float64 `json:"user_weight"`
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, l := range []float64{50, 100, 200, 500, 1000, 2000} {
		for _, p := range []float64{0, 0.1, 0.25, 0.5} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"lambda":%g,"dropout":%g}`, l, p)))
		}
	}
	// With users weighed by n_u^−½ the Gram matrix is smaller, and so is λ.
	for _, l := range []float64{10, 20, 35, 50, 100} {
		grid = append(grid, json.RawMessage(fmt.Sprintf(`{"lambda":%g,"user_weight":0.5}`, l)))
	}
	return model.MatrixInfo(model.MatrixKind{Name: "ease", New: func(params json.RawMessage, _ uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("ease", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid})
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
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return nil, fmt.Errorf("ease: dropout %v must be in [0, 1)", c.Dropout)
	}
	if !(c.UserWeight >= 0 && c.UserWeight <= 2) {
		return nil, fmt.Errorf("ease: user_weight %v must be in [0, 2]", c.UserWeight)
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
			"raise max_items if memory allows (4·n² bytes while fitting), or use itemknn or a factor model", n, m.cfg.MaxItems)
	}
	// G = XᵀX (lower triangle), then Λ on the diagonal, inverted in place.
	b := make([]float32, n*n)
	kernels.GramCSR(d.RowPtr, d.Cols, m.rowValues(d), n, b)
	drop := m.cfg.Dropout / (1 - m.cfg.Dropout)
	for i := 0; i < n; i++ {
		b[i*n+i] += float32(m.cfg.Lambda + drop*float64(b[i*n+i]))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := kernels.InvertSPD(ctx, b, n); err != nil {
		return fmt.Errorf("ease: invert XᵀX + Λ (λ %v): %w", m.cfg.Lambda, err)
	}
	// B = I − P·diag(1/diag(P)), in place: B[i][j] = −P[i][j]/P[j][j].
	diag := make([]float32, n)
	for j := range diag {
		diag[j] = b[j*n+j]
		if !(diag[j] > 0) {
			return fmt.Errorf("ease: diagonal %d of the inverse is %v, not positive", j, diag[j])
		}
	}
	for i := 0; i < n; i++ {
		row := b[i*n : (i+1)*n]
		for j, p := range row {
			v := -p / diag[j]
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("ease: weight (%d, %d) is not finite", i, j)
			}
			row[j] = v
		}
		row[i] = 0
	}
	m.d, m.n, m.b = d, n, b
	m.initPool()
	return ctx.Err()
}

// rowValues returns the values of X's nonzeros under UserWeight (nil:
// all ones).
func (m *Model) rowValues(d *feature.Dataset) []float32 {
	if m.cfg.UserWeight == 0 {
		return nil
	}
	vals := make([]float32, len(d.Cols))
	for u := 0; u+1 < len(d.RowPtr); u++ {
		lo, hi := d.RowPtr[u], d.RowPtr[u+1]
		w := float32(math.Pow(float64(hi-lo), -m.cfg.UserWeight/2))
		for p := lo; p < hi; p++ {
			vals[p] = w
		}
	}
	return vals
}

func (m *Model) initPool() {
	n := m.n
	m.buf = sync.Pool{New: func() any { s := make([]float32, n); return &s }}
}

// Recommend scores items by the sum of the rows of B of the user's items.
func (m *Model) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	sp := m.buf.Get().(*[]float32)
	scores := *sp
	m.Score(u, scores)
	dst = append(dst, topk.Select(scores, n, exclude)...)
	m.buf.Put(sp)
	return dst
}

// Score sets scores to the sum of the rows of B of the user's items.
func (m *Model) Score(u int32, scores []float32) {
	clear(scores)
	items, _ := m.d.Row(u)
	for _, i := range items {
		vek32.Add_Inplace(scores, m.b[int(i)*m.n:int(i+1)*m.n])
	}
}

// ScoreHistory sets scores to the sum of the rows of B of the items: the
// weights only mark presence, as EASE was fitted on a binary matrix.
func (m *Model) ScoreHistory(items []int32, _ []float32, scores []float32) error {
	if err := model.CheckIndices(items, m.n); err != nil {
		return fmt.Errorf("ease: %w", err)
	}
	clear(scores)
	for _, i := range items {
		vek32.Add_Inplace(scores, m.b[int(i)*m.n:int(i+1)*m.n])
	}
	return nil
}

// Because returns the history item with the largest weight towards item.
func (m *Model) Because(items []int32, item int32) (int32, bool) {
	best, bw := int32(-1), float32(0)
	for _, i := range items {
		if i < 0 || int(i) >= m.n || i == item {
			continue
		}
		if w := m.b[int(i)*m.n+int(item)]; w > bw {
			best, bw = i, w
		}
	}
	return best, best >= 0
}

// SimilarItems returns the items with the largest weights in item i's row.
func (m *Model) SimilarItems(i int32, n int, dst []topk.Entry) []topk.Entry {
	return append(dst, topk.Select(m.b[int(i)*m.n:int(i+1)*m.n], n, func(j int32) bool { return j == i })...)
}

// ForgetUsers removes the shoppers gone reports true for from the
// training matrix: their ids and rows.
func (m *Model) ForgetUsers(gone func(id string) bool) int { return m.d.ForgetUsers(gone) }

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
	_ model.PersistentMatrix = (*Model)(nil)
	_ model.Similar          = (*Model)(nil)
	_ model.Scorer           = (*Model)(nil)
	_ model.HistoryScorer    = (*Model)(nil)
	_ model.Explainer        = (*Model)(nil)
)
