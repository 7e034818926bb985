// Package basket is the basket-completion protocol: the orders before
// --cutoff train; each later order with two or more items has one of them
// (seeded) hidden, and the models rank it from the others.
package basket

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Protocol describes basket-completion.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name: "basket-completion",
		Doc: "orders before --cutoff train (as baskets: rows of the training matrix); each later order with two or more items " +
			"has one (seeded) hidden and ranked from the others",
		Task:      model.TaskBasket,
		Ks:        []int{10},
		Baselines: []eval.Baseline{{Model: "fbt"}, {Model: "cooccur"}, {Model: "popular"}},
		Flags:     []string{"cutoff", "valid-window"},
		Split:     split,
	}
}

// orderLines keeps the purchases of products that belong to an order.
func orderLines(d *dataset.Dataset) func(*dataset.Event) bool {
	products := protocol.Products(d)
	return func(e *dataset.Event) bool { return products(e) && e.Order >= 0 }
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	if err := protocol.NeedCutoff("basket-completion", opts); err != nil {
		return nil, err
	}
	d = d.Select(dataset.SelectOptions{Keep: orderLines(d), Order: dataset.ByID, Rows: dataset.ByOrder})
	f, err := Split(d, opts.Cutoff, opts.Seed)
	if err != nil {
		return nil, err
	}
	f.Validation = protocol.ValidationAt("basket-completion", f.Train, opts.Cutoff, opts.ValidWindow, func(t *dataset.Dataset, c time.Time) (eval.Fold, error) {
		return Split(t, c, opts.Seed)
	})
	return []eval.Fold{f}, nil
}

// Split trains on the orders of d placed before cutoff and hides one item
// of each later order with two or more items.
func Split(d *dataset.Dataset, cutoff time.Time, seed uint64) (eval.Fold, error) {
	train, test := SplitOrders(d, cutoff)
	r := rand.New(rand.NewPCG(seed, 0x6261736b))
	f := eval.Fold{Train: train}
	for _, basket := range test {
		if len(basket) < 2 {
			continue
		}
		slices.Sort(basket)
		h := r.IntN(len(basket))
		hidden := basket[h]
		rest := slices.Delete(slices.Clone(basket), h, h+1)
		history := make([]model.Interaction, len(rest))
		for k, i := range rest {
			history[k] = model.Interaction{Item: i, Weight: 1}
		}
		f.Cases = append(f.Cases, eval.Case{Relevant: []int32{hidden}, Query: model.Query{Task: model.TaskBasket, User: -1, History: history,
			Exclude: func(i int32) bool { return slices.Contains(rest, i) }}})
	}
	if len(f.Cases) == 0 {
		return eval.Fold{}, fmt.Errorf("no order from %s on has two items", cutoff.Format(time.DateOnly))
	}
	return f, nil
}

// SplitOrders splits d's orders at cutoff (by the time of each order's
// first line): a dataset of the earlier orders' events, and the items of
// each later order, in time order, each a fresh slice.
func SplitOrders(d *dataset.Dataset, cutoff time.Time) (*dataset.Dataset, [][]int32) {
	o := d.Orders()
	c := cutoff.UnixNano()
	before := make(map[int32]bool, o.Len())
	var test [][]int32
	for k := range o.Len() {
		if o.Time[k] < c {
			before[o.ID[k]] = true
		} else {
			test = append(test, slices.Clone(o.Items(k)))
		}
	}
	return d.Subset(func(e *dataset.Event) bool { return e.Order >= 0 && before[e.Order] }, d.RowKind()), test
}
