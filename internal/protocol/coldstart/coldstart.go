// Package coldstart is the cold-items protocol: a seeded 10% of the items
// sold before --cutoff lose all their training interactions; each
// returning shopper's later purchases of those items are ranked among all
// of them, from the shopper's training purchases.
package coldstart

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Share is the share of the items made cold.
const Share = 0.1

// Protocol describes cold-items.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name: "cold-items",
		Doc: "a seeded 10% of the items sold before --cutoff lose their training interactions; returning shoppers' later " +
			"purchases of them are ranked among them",
		Task:         model.TaskPersonal,
		Ks:           []int{20},
		Baselines:    []eval.Baseline{{Model: "content"}, {Model: "random"}, {Model: "popularity-in-category"}},
		WholeCatalog: true,
		Flags:        []string{"cutoff", "valid-window"},
		Split:        split,
	}
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	if err := protocol.NeedCutoff("cold-items", opts); err != nil {
		return nil, err
	}
	products := protocol.Products(d)
	d = d.Select(dataset.SelectOptions{Keep: func(e *dataset.Event) bool { return products(e) && e.User >= 0 && e.Price > 0 },
		Order: dataset.ByID, Catalog: true})
	f, err := Split(d, opts.Cutoff, opts.Seed)
	if err != nil {
		return nil, err
	}
	f.Validation = protocol.ValidationAt("cold-items", f.Train, opts.Cutoff, opts.ValidWindow, func(t *dataset.Dataset, c time.Time) (eval.Fold, error) {
		return Split(t, c, opts.Seed)
	})
	return []eval.Fold{f}, nil
}

// Split makes a seeded Share of the items d sold before cutoff cold: the
// training part loses their interactions, and each shopper with training
// purchases who bought cold items after the cutoff is a case, their cold
// purchases ranked among all cold items.
func Split(d *dataset.Dataset, cutoff time.Time, seed uint64) (eval.Fold, error) {
	c := cutoff.UnixNano()
	soldBefore := make([]bool, d.NumItems())
	var items []int32
	for _, e := range d.Events {
		if e.Time < c && !soldBefore[e.Item] {
			soldBefore[e.Item] = true
			items = append(items, e.Item)
		}
	}
	if len(items) == 0 {
		return eval.Fold{}, fmt.Errorf("nothing was sold before %s", cutoff.Format(time.DateOnly))
	}
	slices.Sort(items) // by id: the index is in id order
	r := rand.New(rand.NewPCG(seed, 0x636f6c64))
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	cold := make([]bool, d.NumItems())
	coldList := protocol.Sorted(items[:max(1, int(Share*float64(len(items))))])
	for _, i := range coldList {
		cold[i] = true
	}
	history := map[int32][]model.Interaction{}
	test := map[int32][]int32{}
	var train []dataset.Event
	for _, e := range d.Events {
		switch {
		case e.Time < c && !cold[e.Item]:
			train = append(train, e)
			history[e.User] = append(history[e.User], model.Interaction{Item: e.Item, Type: tailor.Purchase, Weight: 1, Time: e.Time})
		case e.Time >= c && cold[e.Item]:
			test[e.User] = append(test[e.User], e.Item)
		}
	}
	f := eval.Fold{Train: d.Derive(train, dataset.ByUser, nil)}
	for u := range int32(d.NumUsers()) {
		if test[u] == nil || history[u] == nil {
			continue
		}
		f.Cases = append(f.Cases, eval.Case{Relevant: protocol.Sorted(test[u]), Query: model.Query{Task: model.TaskPersonal, User: u,
			History: history[u], Candidates: coldList}})
	}
	if len(f.Cases) == 0 {
		return eval.Fold{}, fmt.Errorf("no returning shopper bought a cold item from %s on", cutoff.Format(time.DateOnly))
	}
	return f, nil
}
