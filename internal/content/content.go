// Package content represents items by their text: TF-IDF weights of the
// stemmed words of the title (counted three times), brand, categories and
// description, reduced to a few dense dimensions by latent semantic
// analysis (a randomized truncated SVD, Halko et al. 2011), so that items
// with related words are close even without a word in common. It serves
// items nobody has interacted with yet: their neighbours by content, and a
// shopper's affinity to them from the items the shopper had.
package content

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/topk"
)

// Model holds unit-length item vectors.
type Model struct {
	ids   []tailor.ItemID
	index map[tailor.ItemID]int
	k     int
	vecs  []float32 // len(ids)×k, row-major, unit rows (zero for items without words)
	// byID lists the indices in the order of their ids, and rank gives
	// each index's place in it: ties in Nearest go to the smaller id.
	byID, rank []int32
	// terms, idf and proj fold a new text in (EmbedText): a term's
	// index, its inverse document frequency, and the v×k projection of
	// TF-IDF rows onto the item vectors' space.
	terms map[string]int
	idf   []float64
	proj  []float32
}

// Options configure Fit. Zero fields take the defaults.
type Options struct {
	// Dims is the number of LSA dimensions (default 64).
	Dims int
	// Seed seeds the random projection.
	Seed uint64
}

// Fit builds the vectors of the items.
func Fit(items []tailor.Item, opts Options) (*Model, error) {
	if opts.Dims == 0 {
		opts.Dims = 64
	}
	if opts.Dims < 1 {
		return nil, fmt.Errorf("content: dims %d must be positive", opts.Dims)
	}
	m := &Model{index: map[tailor.ItemID]int{}}
	vocab := map[string]int{}
	type entry struct {
		term int
		tf   float64
	}
	var rows [][]entry
	df := []int{}
	for _, it := range items {
		tf := map[int]float64{}
		add := func(text string, w float64) {
			for _, t := range search.Tokens(text) {
				j, ok := vocab[t]
				if !ok {
					j = len(vocab)
					vocab[t] = j
					df = append(df, 0)
				}
				tf[j] += w
			}
		}
		add(it.Title, 3)
		add(it.Brand, 2)
		add(strings.Join(it.Categories, " "), 2)
		add(it.Description, 1)
		var row []entry
		for j, f := range tf {
			row = append(row, entry{j, f})
			df[j]++
		}
		slices.SortFunc(row, func(a, b entry) int { return cmp.Compare(a.term, b.term) })
		m.index[it.ID] = len(m.ids)
		m.ids = append(m.ids, it.ID)
		rows = append(rows, row)
	}
	n, v := len(rows), len(vocab)
	if n == 0 || v == 0 {
		return nil, fmt.Errorf("content: no item has words")
	}
	// TF-IDF with sublinear tf, rows normalized.
	for _, row := range rows {
		var norm float64
		for k := range row {
			row[k].tf = (1 + math.Log(row[k].tf)) * math.Log(float64(n)/float64(df[row[k].term]))
			norm += row[k].tf * row[k].tf
		}
		for k := range row {
			if norm > 0 {
				row[k].tf /= math.Sqrt(norm)
			}
		}
	}
	k := min(opts.Dims, n, v)
	l := min(k+10, n, v)
	// Y = A·Ω, Ω a v×l Gaussian; two power iterations; Q = orth(Y).
	r := rand.New(rand.NewPCG(opts.Seed, 0x6c7361))
	omega := mat.NewDense(v, l, nil)
	for i := 0; i < v; i++ {
		for j := 0; j < l; j++ {
			omega.Set(i, j, r.NormFloat64())
		}
	}
	mulA := func(x *mat.Dense) *mat.Dense { // A·x, A n×v sparse
		_, c := x.Dims()
		out := mat.NewDense(n, c, nil)
		for i, row := range rows {
			dst := out.RawRowView(i)
			for _, e := range row {
				src := x.RawRowView(e.term)
				for j := range dst {
					dst[j] += e.tf * src[j]
				}
			}
		}
		return out
	}
	mulAT := func(x *mat.Dense) *mat.Dense { // Aᵀ·x
		_, c := x.Dims()
		out := mat.NewDense(v, c, nil)
		for i, row := range rows {
			src := x.RawRowView(i)
			for _, e := range row {
				dst := out.RawRowView(e.term)
				for j := range dst {
					dst[j] += e.tf * src[j]
				}
			}
		}
		return out
	}
	// orth returns an orthonormal basis of y's columns: the thin Q of its
	// Householder QR (the first columns of the full Q, which mat.QR's
	// QTo would make whole: rows² floats, 120 MB for 3,900 items).
	orth := func(y *mat.Dense) *mat.Dense {
		g := y.RawMatrix() // y is made here and not used again: factored in place
		tau := make([]float64, min(g.Rows, g.Cols))
		work := []float64{0}
		lapack64.Geqrf(g, tau, work, -1)
		work = make([]float64, int(work[0]))
		lapack64.Geqrf(g, tau, work, len(work))
		lapack64.Orgqr(g, tau, work, -1)
		if need := int(work[0]); need > len(work) {
			work = make([]float64, need)
		}
		lapack64.Orgqr(g, tau, work, len(work))
		return y
	}
	q := orth(mulA(omega))
	for range 2 {
		q = orth(mulA(orth(mulAT(q))))
	}
	// B = Qᵀ·A (l×v) = (Aᵀ·Q)ᵀ; its SVD B = U·Σ·Vᵀ gives A ≈ (Q·U)·Σ·Vᵀ.
	bt := mulAT(q) // v×l
	var svd mat.SVD
	if !svd.Factorize(bt.T(), mat.SVDThin) {
		return nil, fmt.Errorf("content: the SVD did not converge")
	}
	var u, vt mat.Dense
	svd.UTo(&u)
	svd.VTo(&vt) // v×l: item i's vector is its TF-IDF row times these columns
	sigma := svd.Values(nil)
	var qu mat.Dense
	qu.Mul(q, &u) // n×l
	m.k = k
	m.vecs = make([]float32, n*k)
	for i := 0; i < n; i++ {
		row := m.vecs[i*k : (i+1)*k]
		var norm float64
		for j := 0; j < k; j++ {
			x := qu.At(i, j) * sigma[j]
			row[j] = float32(x)
			norm += x * x
		}
		if norm > 0 {
			s := float32(1 / math.Sqrt(norm))
			for j := range row {
				row[j] *= s
			}
		}
	}
	m.terms, m.idf, m.proj = vocab, make([]float64, v), make([]float32, v*k)
	for t := range m.idf {
		m.idf[t] = math.Log(float64(n) / float64(df[t]))
		for j := 0; j < k; j++ {
			m.proj[t*k+j] = float32(vt.At(t, j))
		}
	}
	m.byID = make([]int32, len(m.ids))
	for i := range m.byID {
		m.byID[i] = int32(i)
	}
	slices.SortFunc(m.byID, func(a, b int32) int { return cmp.Compare(m.ids[a], m.ids[b]) })
	m.rank = make([]int32, len(m.ids))
	for r, i := range m.byID {
		m.rank[i] = int32(r)
	}
	return m, nil
}

// Vector returns an item's unit vector (nil if unknown); it aliases the
// model.
func (m *Model) Vector(id tailor.ItemID) []float32 {
	i, ok := m.index[id]
	if !ok {
		return nil
	}
	return m.vecs[i*m.k : (i+1)*m.k]
}

// Dims is the length of the vectors.
func (m *Model) Dims() int { return m.k }

// EmbedText folds a new text (a search query) into the item vectors'
// space: its TF-IDF row, weighted and normalized as the items' were,
// projected; nil when none of its words is known.
func (m *Model) EmbedText(text string) []float32 {
	tf := map[int]float64{}
	for _, t := range search.Tokens(text) {
		if j, ok := m.terms[t]; ok {
			tf[j]++
		}
	}
	if len(tf) == 0 {
		return nil
	}
	vec := make([]float32, m.k)
	for j, f := range tf {
		kernels.Axpy(float32((1+math.Log(f))*m.idf[j]), m.proj[j*m.k:(j+1)*m.k], vec)
	}
	norm := math.Sqrt(float64(kernels.Dot(vec, vec)))
	if norm == 0 {
		return nil
	}
	for j := range vec {
		vec[j] /= float32(norm)
	}
	return vec
}

// Profile is the normalized mean of the items' vectors (nil when none is
// known).
func (m *Model) Profile(items []tailor.ItemID) []float32 {
	p := make([]float32, m.k)
	known := false
	for _, it := range items {
		if v := m.Vector(it); v != nil {
			kernels.Axpy(1, v, p)
			known = true
		}
	}
	if !known {
		return nil
	}
	norm := math.Sqrt(float64(kernels.Dot(p, p)))
	if norm == 0 {
		return nil
	}
	for j := range p {
		p[j] /= float32(norm)
	}
	return p
}

// Scored is an item with a cosine.
type Scored struct {
	Item  tailor.ItemID `json:"item_id"`
	Score float64       `json:"score"`
}

// NearestAmong returns the n items of ids closest to the vector (unknown
// ids are skipped).
func (m *Model) NearestAmong(vec []float32, ids []tailor.ItemID, n int) []Scored {
	h := topk.New(n) // bounded: never sorts all of ids
	for k, id := range ids {
		if v := m.Vector(id); v != nil {
			h.Push(int32(k), kernels.Dot(vec, v))
		}
	}
	best := h.Sorted(nil)
	out := make([]Scored, len(best))
	for i, e := range best {
		out[i] = Scored{ids[e.Index], float64(e.Score)}
	}
	return out
}

// Nearest returns the n items closest to the vector among those keep
// accepts (nil: all).
// Ties go to the smaller id. It keeps the n best in a bounded heap: it
// never sorts all the items.
func (m *Model) Nearest(vec []float32, n int, keep func(tailor.ItemID) bool) []Scored {
	if n <= 0 {
		return nil
	}
	h := topk.New(n)
	for i, id := range m.ids {
		if keep != nil && !keep(id) {
			continue
		}
		h.Push(m.rank[i], kernels.Dot(vec, m.vecs[i*m.k:(i+1)*m.k]))
	}
	best := h.Sorted(nil)
	out := make([]Scored, len(best))
	for k, e := range best {
		out[k] = Scored{m.ids[m.byID[e.Index]], float64(e.Score)}
	}
	return out
}
