package neighbors

import (
	"bytes"
	"sync"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Recommender is the serving half of an item-based model: the training
// matrix and the neighbour lists, with recommendation, similar items and
// the artifact's binary form. Models embed it and call Set after fitting.
// It is safe for concurrent use once set.
type Recommender struct {
	d      *feature.Dataset
	lists  *Lists
	scores sync.Pool // *[]float32 of NumItems
}

// Set installs the fitted lists over the training matrix.
func (r *Recommender) Set(d *feature.Dataset, lists *Lists) {
	r.d, r.lists = d, lists
	n := d.NumItems()
	r.scores = sync.Pool{New: func() any { s := make([]float32, n); return &s }}
}

// Lists returns the neighbour lists.
func (r *Recommender) Lists() *Lists { return r.lists }

// Recommend ranks items by the sum of their weights in the lists of the
// user's items.
func (r *Recommender) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	sp := r.scores.Get().(*[]float32)
	scores := *sp
	items, _ := r.d.Row(u)
	r.lists.Score(items, scores)
	dst = append(dst, topk.Select(scores, n, exclude)...)
	clear(scores)
	r.scores.Put(sp)
	return dst
}

// Score sets scores to the sums of the weights of the user's items' lists.
func (r *Recommender) Score(u int32, scores []float32) {
	clear(scores)
	items, _ := r.d.Row(u)
	r.lists.Score(items, scores)
}

// ScoreHistory sets scores to the sums of the weights of the items'
// lists (the weights only mark presence, as in Recommend).
func (r *Recommender) ScoreHistory(items []int32, _ []float32, scores []float32) error {
	if err := model.CheckIndices(items, r.d.NumItems()); err != nil {
		return err
	}
	clear(scores)
	r.lists.Score(items, scores)
	return nil
}

// Because returns the history item whose list gives item the largest
// weight.
func (r *Recommender) Because(items []int32, item int32) (int32, bool) {
	best, bw := int32(-1), float32(0)
	for _, i := range items {
		if i < 0 || int(i) >= r.d.NumItems() || i == item {
			continue
		}
		idx, sim := r.lists.Row(i)
		for k, j := range idx {
			if j == item && sim[k] > bw {
				best, bw = i, sim[k]
			}
		}
	}
	return best, best >= 0
}

// SimilarItems returns the first n neighbours of item i.
func (r *Recommender) SimilarItems(i int32, n int, dst []topk.Entry) []topk.Entry {
	return r.lists.Similar(i, n, dst)
}

// ForgetUsers removes the shoppers gone reports true for from the training
// matrix (their ids and rows); the item lists stay.
func (r *Recommender) ForgetUsers(gone func(id string) bool) int { return r.d.ForgetUsers(gone) }

// MarshalBinary encodes the training matrix and the lists.
func (r *Recommender) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	r.d.Encode(e)
	r.lists.Encode(e)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (r *Recommender) UnmarshalBinary(data []byte) error {
	dec := feature.NewDecoder(data)
	d, err := feature.DecodeDataset(dec)
	if err != nil {
		return err
	}
	lists, err := Decode(dec, d.NumItems())
	if err != nil {
		return err
	}
	r.Set(d, lists)
	return nil
}
