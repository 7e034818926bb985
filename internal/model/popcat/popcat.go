// Package popcat is the popularity-in-category baseline: every item scores
// the number of training interactions of its category (its first
// category; for a catalog without categories, the last word of its title,
// which in a shop's titles names the kind of product: BAG, HOLDER, MUG). It
// ranks new items that have no interactions of their own by what their
// kind sells, the same for every shopper.
package popcat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Info describes the model for package all.
func Info() model.Info {
	return model.Info{Name: "popularity-in-category", New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var none struct{}
		if err := model.DecodeParams("popularity-in-category", params, &none); err != nil {
			return nil, err
		}
		return &Model{}, nil
	}}
}

// Category is an item's first category, or the upper-cased last word of
// its title when it has none ("" when it has neither).
func Category(it *tailor.Item) string {
	if len(it.Categories) > 0 {
		return it.Categories[0]
	}
	w := strings.Fields(strings.ToUpper(it.Title))
	if len(w) == 0 {
		return ""
	}
	return w[len(w)-1]
}

// Model holds each item's score. It is safe for concurrent use once
// fitted.
type Model struct {
	score []float32 // by item: its category's training interactions
}

// Fit sums the training matrix's weights (the number of interactions) by
// category.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	mx, err := d.Matrix()
	if err != nil {
		return err
	}
	cats := make([]string, d.NumItems())
	for i := range cats {
		cats[i] = Category(&d.Catalog[i])
	}
	pop := map[string]float64{}
	for k, i := range mx.Cols {
		pop[cats[i]] += float64(mx.Weights[k])
	}
	m.score = make([]float32, d.NumItems())
	for i, c := range cats {
		if c != "" {
			m.score[i] = float32(pop[c])
		}
	}
	return ctx.Err()
}

// Tasks: personal queries (the same answer for everyone).
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskPersonal} }

// Answer ranks the allowed items by their category's popularity, ties to
// the lower index.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskPersonal {
		return dst, &model.TaskError{Model: "popularity-in-category", Task: q.Task}
	}
	if m.score == nil {
		return dst, fmt.Errorf("popularity-in-category: not fitted")
	}
	if err := model.CheckQuery("popularity-in-category", q, len(m.score)); err != nil {
		return dst, err
	}
	var h topk.Heap
	return model.SelectScores(q, m.score, &h, dst), nil
}
