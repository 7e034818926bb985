// Package buyagain is the "buy it again" baseline: a shopper's own past
// items first, the most often bought first (ties: the more popular), then
// the most popular items.
package buyagain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/popular"
	"github.com/tailorhq/tailor/internal/topk"
)

// Info describes the model for package all.
func Info() model.Info {
	return model.MatrixInfo(model.MatrixKind{Name: "buyagain", New: func(params json.RawMessage, _ uint64) (model.Matrix, error) {
		var c struct{}
		if err := model.DecodeParams("buyagain", params, &c); err != nil {
			return nil, err
		}
		return &Model{}, nil
	}})
}

// Model ranks the user's own items by how often they had them (the
// training weight: the number of purchases; ties by popularity), then the
// other items by popularity.
type Model struct {
	d        *feature.Dataset
	pop      popular.Model
	popScore []int32
}

// Fit keeps the matrix and counts popularity.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	m.d = d
	m.popScore = d.ItemUsers()
	return m.pop.Fit(ctx, d)
}

// Recommend returns the user's own items, most often had first, then the
// most popular others.
func (m *Model) Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	start := len(dst)
	items, weights := m.d.Row(u)
	own := make([]int, 0, len(items))
	for k := range items {
		if exclude == nil || !exclude(items[k]) {
			own = append(own, k)
		}
	}
	slices.SortStableFunc(own, func(a, b int) int {
		switch {
		case weights[a] != weights[b]:
			if weights[a] > weights[b] {
				return -1
			}
			return 1
		case m.popScore[items[a]] != m.popScore[items[b]]:
			if m.popScore[items[a]] > m.popScore[items[b]] {
				return -1
			}
			return 1
		}
		return int(items[a] - items[b])
	})
	// Own items score above every popularity score.
	for _, k := range own {
		if len(dst)-start == n {
			return dst
		}
		dst = append(dst, topk.Entry{Index: items[k], Score: float32(1e9) + weights[k]})
	}
	mine := func(i int32) bool { _, ok := slices.BinarySearch(items, i); return ok }
	return m.pop.Recommend(u, n-(len(dst)-start), func(i int32) bool {
		return mine(i) || (exclude != nil && exclude(i))
	}, dst)
}

// popularity sets scores to the items' popularity scaled into [0, 1).
func (m *Model) popularity(scores []float32) {
	var most int32
	for _, c := range m.popScore {
		most = max(most, c)
	}
	for i, c := range m.popScore {
		scores[i] = float32(c) / float32(most+1)
	}
}

// Score gives the user's own items 2 + their weight, and every item its
// popularity scaled into [0, 1): own items first, the most often had
// first, then the rest by popularity, as Recommend ranks them (own items
// whose weights differ by less than one may be ordered by popularity
// instead). Blends use it to add the repeat-purchase signal.
func (m *Model) Score(u int32, scores []float32) {
	m.popularity(scores)
	items, weights := m.d.Row(u)
	for k, i := range items {
		scores[i] += 2 + weights[k]
	}
}

// ScoreHistory scores as Score does, with the history's items and weights
// in place of a training row.
func (m *Model) ScoreHistory(items []int32, weights []float32, scores []float32) error {
	if err := model.CheckIndices(items, len(m.popScore)); err != nil {
		return fmt.Errorf("buyagain: %w", err)
	}
	if len(weights) != len(items) {
		return fmt.Errorf("buyagain: %d history items with %d weights", len(items), len(weights))
	}
	m.popularity(scores)
	for k, i := range items {
		scores[i] += 2 + weights[k]
	}
	return nil
}

// Because says an own item is recommended because the shopper had it.
func (m *Model) Because(items []int32, item int32) (int32, bool) {
	return item, slices.Contains(items, item)
}

// ForgetUsers removes the shoppers gone reports true for from the
// training matrix: their ids and rows.
func (m *Model) ForgetUsers(gone func(id string) bool) int { return m.d.ForgetUsers(gone) }

// MarshalBinary encodes the training matrix and the popularity ranking.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	m.d.Encode(e)
	pop, err := m.pop.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e.String(string(pop))
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	dec := feature.NewDecoder(data)
	d, err := feature.DecodeDataset(dec)
	if err != nil {
		return err
	}
	pop := dec.String()
	if err := dec.Err(); err != nil {
		return err
	}
	if err := m.pop.UnmarshalBinary([]byte(pop)); err != nil {
		return err
	}
	m.d, m.popScore = d, d.ItemUsers()
	return nil
}

var (
	_ model.PersistentMatrix = (*Model)(nil)
	_ model.Scorer           = (*Model)(nil)
	_ model.HistoryScorer    = (*Model)(nil)
	_ model.Explainer        = (*Model)(nil)
)
