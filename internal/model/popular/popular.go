// Package popular is the popularity baseline: every user gets the items
// with the most training users, optionally counting recent interactions
// more.
package popular

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters. The zero value counts every interaction
// once.
type Config struct {
	// HalfLifeDays, when above 0, counts an interaction 2^(−age/half-life),
	// its age in days measured back from the latest training interaction.
	HalfLifeDays float64 `json:"half_life_days"`
}

// Info describes the model for package all.
func Info() model.Info {
	return model.MatrixInfo(model.MatrixKind{Name: "popular", New: func(params json.RawMessage, _ uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("popular", params, &c); err != nil {
			return nil, err
		}
		if c.HalfLifeDays < 0 || math.IsNaN(c.HalfLifeDays) {
			return nil, fmt.Errorf("popular: half_life_days %v is negative", c.HalfLifeDays)
		}
		return &Model{cfg: c}, nil
	}, Grid: []json.RawMessage{
		json.RawMessage(`{}`), json.RawMessage(`{"half_life_days":7}`), json.RawMessage(`{"half_life_days":30}`),
		json.RawMessage(`{"half_life_days":180}`),
	}})
}

// Model ranks items by their (decayed) number of training interactions,
// ties by index.
type Model struct {
	cfg   Config
	order []topk.Entry // every item with a user, most popular first
}

// Fit counts the users of each item.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	counts := make([]float64, d.NumItems())
	var latest int64
	for _, t := range d.Times {
		latest = max(latest, t)
	}
	for k, i := range d.Cols {
		w := 1.0
		if m.cfg.HalfLifeDays > 0 {
			age := float64(latest-d.Times[k]) / 86400
			w = math.Exp2(-age / m.cfg.HalfLifeDays)
		}
		counts[i] += w
	}
	m.order = m.order[:0]
	for i, c := range counts {
		if c > 0 {
			m.order = append(m.order, topk.Entry{Index: int32(i), Score: float32(c)})
		}
	}
	topk.SortEntries(m.order)
	return ctx.Err()
}

// Recommend returns the most popular items not excluded.
func (m *Model) Recommend(_ int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	start := len(dst)
	for _, e := range m.order {
		if len(dst)-start == n {
			break
		}
		if exclude == nil || !exclude(e.Index) {
			dst = append(dst, e)
		}
	}
	return slices.Clip(dst)
}

// ScoreHistory sets every item's popularity score, whatever the history
// (items without users score 0).
func (m *Model) ScoreHistory(items []int32, _ []float32, scores []float32) error {
	if err := model.CheckIndices(items, len(scores)); err != nil {
		return fmt.Errorf("popular: %w", err)
	}
	clear(scores)
	for _, e := range m.order {
		if int(e.Index) < len(scores) {
			scores[e.Index] = e.Score
		}
	}
	return nil
}

// MarshalBinary encodes the ranking.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	idx := make([]int32, len(m.order))
	score := make([]float32, len(m.order))
	for i, x := range m.order {
		idx[i], score[i] = x.Index, x.Score
	}
	e.Int32s(idx)
	e.Float32s(score)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	idx, score := d.Int32s(), d.Float32s()
	if err := d.Err(); err != nil {
		return err
	}
	if len(idx) != len(score) {
		return fmt.Errorf("%w: popular ranking", feature.ErrCorrupt)
	}
	m.order = make([]topk.Entry, len(idx))
	for i := range idx {
		m.order[i] = topk.Entry{Index: idx[i], Score: score[i]}
	}
	return nil
}

var _ model.PersistentMatrix = (*Model)(nil)
