// Package model defines what a recommendation model is to the rest of
// Tailor: something that fits on a feature.Dataset and ranks items for a
// user. Each algorithm lives in a package of its own; package all lists
// those in this build.
package model

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/topk"
)

// Model is a recommendation model over the dense indices of the dataset it
// was fitted on. Recommend is safe for concurrent use after Fit returns.
type Model interface {
	// Fit trains the model. It may use every core, and stops early with
	// ctx's error when ctx is done.
	Fit(ctx context.Context, d *feature.Dataset) error
	// Recommend appends to dst the n best items for user u, best first,
	// leaving out those for which exclude returns true (exclude may be
	// nil).
	Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry
}

// Scorer is a model that can score every item for a user, which blending
// and re-ranking need. Score sets scores[i] (len(scores) is the number of
// items) to user u's score for item i; higher is better.
type Scorer interface {
	Score(u int32, scores []float32)
}

// HistoryScorer is a model that can score the whole catalog for a shopper
// given by their interactions (item indices and weights, as in a training
// row) instead of a training user index. Serving uses it so that a
// shopper's latest events change their recommendations at once, without
// retraining, and so that shoppers the model never saw (and anonymous
// sessions) get personal answers. ScoreHistory sets scores (one per item)
// and fails only on indices outside the catalog.
type HistoryScorer interface {
	ScoreHistory(items []int32, weights []float32, scores []float32) error
}

// Explainer is a model that can say which of a shopper's items led to a
// recommendation: Because returns the history item that contributed most
// to item's score, and false when none did.
type Explainer interface {
	Because(items []int32, item int32) (int32, bool)
}

// CheckIndices returns an error naming the first index of items outside
// [0, n).
func CheckIndices(items []int32, n int) error {
	for k, i := range items {
		if i < 0 || int(i) >= n {
			return fmt.Errorf("history item %d (index %d) is outside the catalog of %d", k, i, n)
		}
	}
	return nil
}

// Info describes a model kind: its name and how to make one.
type Info struct {
	Name string
	// New decodes the model's parameters (a JSON object; empty means the
	// defaults) and returns an unfitted model. seed seeds any randomness.
	New func(params json.RawMessage, seed uint64) (Model, error)
	// Grid is the parameter sets a search tries, as JSON objects; nil
	// when the model has nothing to tune.
	Grid []json.RawMessage
}

// DecodeParams decodes a model's parameters into p, which holds the
// defaults, rejecting unknown fields.
func DecodeParams(name string, params json.RawMessage, p any) error {
	if len(params) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return fmt.Errorf("%s parameters: %w", name, err)
	}
	return nil
}
