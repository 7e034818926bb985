// Package factors is the serving half of the factor models (ials, bpr):
// user and item vectors scored by SIMD dot products, optional item biases,
// and the artifact's binary form.
package factors

import (
	"bytes"
	"fmt"
	"math"
	"sync"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/topk"
)

// Recommender scores item i for user u as bias[i] + W[u]·H[i]. Models embed
// it and call Set after fitting; it is safe for concurrent use once set.
type Recommender struct {
	d      *feature.Dataset
	k      int
	w, h   []float32 // row-major, k columns
	bias   []float32 // per item; nil for none
	norms  []float32 // per item: the length of its vector
	scores sync.Pool // *[]float32 of NumItems
}

// Set installs the fitted vectors (k columns) over the training matrix;
// bias may be nil.
func (r *Recommender) Set(d *feature.Dataset, k int, w, h, bias []float32) {
	r.d, r.k, r.w, r.h, r.bias = d, k, w, h, bias
	n := d.NumItems()
	r.norms = make([]float32, n)
	for i := range r.norms {
		v := h[i*k : (i+1)*k]
		r.norms[i] = float32(math.Sqrt(float64(kernels.Dot(v, v))))
	}
	r.scores = sync.Pool{New: func() any { s := make([]float32, n); return &s }}
}

// Recommend scores every item for the user and returns the n best not
// excluded.
func (r *Recommender) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	return r.RecommendVector(r.UserVector(u), n, exclude, dst)
}

// Score sets scores to user u's score for every item.
func (r *Recommender) Score(u int32, scores []float32) {
	kernels.MatVec(r.h, r.UserVector(u), scores)
	for i, b := range r.bias {
		scores[i] += b
	}
}

// RecommendVector scores every item for the user vector x (of the
// vectors' dimension) and returns the n best not excluded.
func (r *Recommender) RecommendVector(x []float32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	sp := r.scores.Get().(*[]float32)
	scores := *sp
	kernels.MatVec(r.h, x, scores)
	for i, b := range r.bias {
		scores[i] += b
	}
	dst = append(dst, topk.Select(scores, n, exclude)...)
	r.scores.Put(sp)
	return dst
}

// SimilarItems returns the n items whose vectors have the largest cosine
// with item i's (items with a zero vector are never similar).
func (r *Recommender) SimilarItems(i int32, n int, dst []topk.Entry) []topk.Entry {
	sp := r.scores.Get().(*[]float32)
	scores := *sp
	kernels.MatVec(r.h, r.h[int(i)*r.k:int(i+1)*r.k], scores)
	ni := r.norms[i]
	for j, s := range scores {
		if d := ni * r.norms[j]; d > 0 {
			scores[j] = s / d
		} else {
			scores[j] = -2 // below every cosine
		}
	}
	dst = append(dst, topk.Select(scores, n, func(j int32) bool { return j == i || scores[j] == -2 })...)
	r.scores.Put(sp)
	return dst
}

// Because returns the history item whose vector has the largest positive
// cosine with item's.
func (r *Recommender) Because(items []int32, item int32) (int32, bool) {
	n := int32(len(r.norms))
	if item < 0 || item >= n {
		return -1, false
	}
	hv := r.h[int(item)*r.k : int(item+1)*r.k]
	best, bc := int32(-1), float32(0)
	for _, i := range items {
		if i < 0 || i >= n || i == item {
			continue
		}
		d := r.norms[i] * r.norms[item]
		if d == 0 {
			continue
		}
		if c := kernels.Dot(r.h[int(i)*r.k:int(i+1)*r.k], hv) / d; c > bc {
			best, bc = i, c
		}
	}
	return best, best >= 0
}

// ItemVectors returns the item vectors (row-major, NumItems×k); they alias
// the model: do not modify them.
func (r *Recommender) ItemVectors() []float32 { return r.h }

// UserVector returns user u's vector; it aliases the model.
func (r *Recommender) UserVector(u int32) []float32 { return r.w[int(u)*r.k : int(u+1)*r.k] }

// ForgetUsers removes the shoppers gone reports true for: their ids and
// rows of the training matrix, and their vectors (zeroed). The item
// vectors, learned from everyone, stay.
func (r *Recommender) ForgetUsers(gone func(id string) bool) int {
	n := 0
	for u, id := range r.d.Users {
		// An emptied id is a shopper removed before (perhaps through
		// another model sharing the matrix): its vector goes too.
		if id == "" || gone(id) {
			clear(r.w[u*r.k : (u+1)*r.k])
			if id != "" {
				n++
			}
		}
	}
	r.d.ForgetUsers(gone)
	return n
}

// MarshalBinary encodes the training matrix, the vectors and the biases.
func (r *Recommender) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	r.d.Encode(e)
	e.Float32s(r.w)
	e.Float32s(r.h)
	e.Float32s(r.bias)
	return b.Bytes(), e.Err()
}

// Decode reads what MarshalBinary wrote for vectors of k columns and
// installs it.
func (r *Recommender) Decode(data []byte, k int) error {
	dec := feature.NewDecoder(data)
	d, err := feature.DecodeDataset(dec)
	if err != nil {
		return err
	}
	w, h, bias := dec.Float32s(), dec.Float32s(), dec.Float32s()
	if err := dec.Err(); err != nil {
		return err
	}
	if len(w) != d.NumUsers()*k || len(h) != d.NumItems()*k || (len(bias) != 0 && len(bias) != d.NumItems()) {
		return fmt.Errorf("%w: factor vectors", feature.ErrCorrupt)
	}
	if len(bias) == 0 {
		bias = nil
	}
	r.Set(d, k, w, h, bias)
	return nil
}

// Finite reports whether every value of v is a finite number.
func Finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
