// Package textsearch is the search model: package search's BM25 index over
// the catalog (typo and prefix tolerant), optionally personalized by
// another model's scores for the shopper (search.Personalize over the best
// 100 text matches). It answers search queries.
package textsearch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/topk"
)

// DefaultWeight is the share of a personalized result's rank that comes
// from the shopper's model scores (fixed beforehand, not tuned).
const DefaultWeight = 0.3

// Config holds the parameters. The zero value ranks by the text alone.
type Config struct {
	// Personalize names a model (such as "ease") fitted on the same data
	// whose scores for the shopper re-rank the best text matches, with
	// its parameters.
	Personalize string          `json:"personalize,omitempty"`
	Params      json.RawMessage `json:"params,omitempty"`
	// Weight is the personal share (default DefaultWeight), in (0, 1).
	Weight float64 `json:"weight,omitempty"`
}

// Info describes the model for package all; lookup finds the personalizing
// model's kind.
func Info(lookup func(name string) (model.Info, error)) model.Info {
	return model.Info{Name: "search", New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("search", params, &c); err != nil {
			return nil, err
		}
		m := &Model{cfg: c}
		if c.Personalize == "" {
			if c.Weight != 0 || len(c.Params) > 0 {
				return nil, fmt.Errorf("search: weight and params need personalize")
			}
			return m, nil
		}
		if c.Weight == 0 {
			m.cfg.Weight = DefaultWeight
		}
		if !(m.cfg.Weight > 0 && m.cfg.Weight < 1) {
			return nil, fmt.Errorf("search: weight %v must be between 0 and 1", c.Weight)
		}
		if c.Personalize == "search" {
			return nil, fmt.Errorf("search: personalize cannot name search")
		}
		info, err := lookup(c.Personalize)
		if err != nil {
			return nil, fmt.Errorf("search: personalize: %w", err)
		}
		if m.personal, err = info.New(c.Params, seed); err != nil {
			return nil, fmt.Errorf("search: personalize: %w", err)
		}
		return m, nil
	}}
}

// Model is a search index over the dataset's catalog. It is safe for
// concurrent use once fitted.
type Model struct {
	cfg      Config
	personal model.Model // nil: text alone
	index    *search.Index
	items    map[tailor.ItemID]int32
}

// Fit indexes the catalog (in id order) and fits the personalizing model.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	items := slices.Clone(d.Catalog)
	slices.SortFunc(items, func(a, b tailor.Item) int { return cmp.Compare(a.ID, b.ID) })
	m.index = search.Build(items)
	m.items = make(map[tailor.ItemID]int32, d.NumItems())
	for i, id := range d.Items {
		m.items[tailor.ItemID(id)] = int32(i)
	}
	if m.personal == nil {
		return ctx.Err()
	}
	if err := m.personal.Fit(ctx, d); err != nil {
		return fmt.Errorf("search: personalize: %w", err)
	}
	return nil
}

// Tasks: search.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskSearch} }

// Answer finds the items for q.Text (at most q.N, at least the 100 best
// before personalizing); with a personalizing model and a shopper (q.User
// or q.History), re-ranks them by search.Personalize.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskSearch {
		return dst, &model.TaskError{Model: "search", Task: q.Task}
	}
	if m.index == nil {
		return dst, fmt.Errorf("search: not fitted")
	}
	if err := model.CheckQuery("search", q, len(m.items)); err != nil {
		return dst, err
	}
	hits := m.index.Search(q.Text, max(100, q.N), func(id tailor.ItemID) bool {
		i, ok := m.items[id]
		return ok && q.Allowed(i)
	})
	if m.personal != nil && len(hits) > 0 && (q.User >= 0 || len(q.History) > 0) {
		scores, err := m.scores(q)
		if err != nil {
			return dst, err
		}
		if scores != nil {
			search.Personalize(hits, func(k int) (float64, bool) {
				return float64(scores[m.items[hits[k].Item]]), true
			}, m.cfg.Weight)
		}
	}
	for _, h := range hits[:min(q.N, len(hits))] {
		i := m.items[h.Item]
		s := h.Score
		if q.Boost != nil {
			s = float64(model.Boosted(float32(s), q.Boost(i)))
		}
		dst = append(dst, topk.Entry{Index: i, Score: float32(s)})
	}
	if q.Boost != nil {
		topk.SortEntries(dst[len(dst)-min(q.N, len(hits)):])
	}
	return dst, nil
}

// scores returns the personalizing model's score of every item for the
// query's shopper (nil when it cannot score them).
func (m *Model) scores(q *model.Query) ([]float32, error) {
	mx, ok := model.AsMatrix(m.personal)
	if !ok {
		return nil, nil
	}
	scores := make([]float32, len(m.items))
	if sc, ok := mx.(model.Scorer); ok && q.User >= 0 {
		sc.Score(q.User, scores)
		return scores, nil
	}
	hs, ok := mx.(model.HistoryScorer)
	if !ok || len(q.History) == 0 {
		return nil, nil
	}
	items := make([]int32, 0, len(q.History))
	weights := make([]float32, 0, len(q.History))
	for _, h := range q.History {
		if k := slices.Index(items, h.Item); k >= 0 {
			weights[k] += h.Weight
			continue
		}
		items, weights = append(items, h.Item), append(weights, h.Weight)
	}
	if err := hs.ScoreHistory(items, weights, scores); err != nil {
		return nil, err
	}
	for _, s := range scores {
		if math.IsNaN(float64(s)) {
			return nil, fmt.Errorf("search: the personal scores are not numbers")
		}
	}
	return scores, nil
}
