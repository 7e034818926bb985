// Package popular is the popularity baseline: every user gets the items
// with the most training users.
package popular

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Info describes the model for package all.
func Info() model.Info {
	return model.Info{Name: "popular", New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("popular", params, &c); err != nil {
			return nil, err
		}
		return &Model{}, nil
	}}
}

// Config has no parameters yet.
type Config struct{}

// Model ranks items by their number of training users, ties by index.
type Model struct {
	order []topk.Entry // every item with a user, most popular first
}

// Fit counts the users of each item.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	counts := d.ItemUsers()
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

var _ model.Model = (*Model)(nil)
