// Package rebuy is the rebuy protocol: for the shoppers who bought before
// and after --cutoff, their past items are ranked at the cutoff against
// everything they bought after it (new items are misses for every model
// that ranks only past purchases).
package rebuy

import (
	"context"
	"fmt"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Protocol describes rebuy.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name: "rebuy",
		Doc: "for shoppers who bought before and after --cutoff, their past items ranked at the cutoff against everything " +
			"they bought after it",
		Task:      model.TaskRepurchase,
		Ks:        []int{10},
		Baselines: []eval.Baseline{{Model: "rebuy"}, {Model: "frequent"}, {Model: "recent"}},
		Flags:     []string{"cutoff", "valid-window"},
		Split:     split,
	}
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	if err := protocol.NeedCutoff("rebuy", opts); err != nil {
		return nil, err
	}
	products := protocol.Products(d)
	d = d.Select(dataset.SelectOptions{Keep: func(e *dataset.Event) bool { return products(e) && e.User >= 0 }, Order: dataset.ByID})
	f, err := Split(d, opts.Cutoff)
	if err != nil {
		return nil, err
	}
	f.Validation = protocol.ValidationAt("rebuy", f.Train, opts.Cutoff, opts.ValidWindow, Split)
	return []eval.Fold{f}, nil
}

// Split trains on d's purchases before cutoff and asks, for each shopper
// who bought before and after it (in user index order), which of their
// past purchases they buy again.
func Split(d *dataset.Dataset, cutoff time.Time) (eval.Fold, error) {
	before, after := protocol.Before(d, cutoff)
	train := d.Derive(before, dataset.ByUser, nil)
	p := train.Purchases()
	later := map[int32][]int32{}
	for _, e := range after {
		if items, _ := p.Of(e.User); len(items) > 0 {
			later[e.User] = append(later[e.User], e.Item)
		}
	}
	f := eval.Fold{Train: train, Repeats: true}
	at := cutoff.UnixNano()
	for u := range int32(d.NumUsers()) {
		if later[u] == nil {
			continue
		}
		items, times := p.Of(u)
		history := make([]model.Interaction, len(items))
		for k := range items {
			history[k] = model.Interaction{Item: items[k], Type: "purchase", Weight: 1, Time: times[k]}
		}
		f.Cases = append(f.Cases, eval.Case{Relevant: protocol.Sorted(later[u]), Query: model.Query{Task: model.TaskRepurchase, User: u,
			History: history, Time: at, Candidates: protocol.Sorted(items)}})
	}
	if len(f.Cases) == 0 {
		return eval.Fold{}, fmt.Errorf("no shopper bought both before and after %s", cutoff.Format(time.DateOnly))
	}
	return f, nil
}
