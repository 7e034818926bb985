// Package sessionnext is the session-next protocol: each order is a
// session (its lines in order, each item once); the orders before --cutoff
// train, and each later session's first 10 prefixes predict its next
// item.
package sessionnext

import (
	"context"
	"fmt"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
	"github.com/tailorhq/tailor/internal/protocol/basket"
)

// MaxPrefix is the number of prefixes of a test session that predict.
const MaxPrefix = 10

// Protocol describes session-next.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name: "session-next",
		Doc: "each order is a session; orders before --cutoff train, and each later session's first 10 prefixes predict " +
			"its next item",
		Task: model.TaskSession,
		Ks:   []int{20},
		Baselines: []eval.Baseline{{Model: "sknn"}, {Model: "vsknn"}, {Model: "stan"}, {Model: "last-item-knn"},
			{Model: "popular"}},
		Flags: []string{"cutoff", "valid-window"},
		Split: split,
	}
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	if err := protocol.NeedCutoff("session-next", opts); err != nil {
		return nil, err
	}
	products := protocol.Products(d)
	d = d.Select(dataset.SelectOptions{Keep: func(e *dataset.Event) bool { return products(e) && e.Order >= 0 }, Order: dataset.ByID, Rows: dataset.ByOrder})
	f, err := Split(d, opts.Cutoff)
	if err != nil {
		return nil, err
	}
	f.Validation = protocol.ValidationAt("session-next", f.Train, opts.Cutoff, opts.ValidWindow, Split)
	return []eval.Fold{f}, nil
}

// Split trains on the orders of d placed before cutoff and asks for the
// next item of each prefix (up to MaxPrefix items) of each later order.
func Split(d *dataset.Dataset, cutoff time.Time) (eval.Fold, error) {
	train, test := basket.SplitOrders(d, cutoff)
	f := eval.Fold{Train: train}
	for _, s := range test {
		for p := 1; p < len(s) && p <= MaxPrefix; p++ {
			prefix, next := s[:p], s[p]
			history := make([]model.Interaction, len(prefix))
			for k, i := range prefix {
				history[k] = model.Interaction{Item: i, Weight: 1}
			}
			f.Cases = append(f.Cases, eval.Case{Relevant: []int32{next}, Query: model.Query{Task: model.TaskSession, User: -1, History: history,
				Exclude: inPrefix(prefix)}})
		}
	}
	if len(f.Cases) == 0 {
		return eval.Fold{}, fmt.Errorf("no session from %s on has two items", cutoff.Format(time.DateOnly))
	}
	return f, nil
}

func inPrefix(prefix []int32) func(int32) bool {
	return func(i int32) bool {
		for _, x := range prefix {
			if x == i {
				return true
			}
		}
		return false
	}
}
