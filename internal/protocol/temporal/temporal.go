// Package temporal is the temporal protocol: train on the positive events
// before a time cutoff, test on the positive events at or after it of the
// users who also had events before. Positive events are purchases (with a
// unit price above 0, of a product) when the data has any, and every event
// otherwise. With --repeats exclude a user's test items are only those
// they did not have before the cutoff, and their training items are not
// ranked; with include, all of them, and everything is ranked. Parameter
// searches validate on the window before the cutoff by the same rules.
package temporal

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Protocol describes temporal.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name: "temporal",
		Doc: "train on the positive events (purchases, when there are any) before --cutoff (or --cutoff-fraction of them), test on " +
			"returning users' later ones; --repeats exclude or include the items they had before",
		Task:        model.TaskPersonal,
		Ks:          []int{10, 20},
		Baselines:   []eval.Baseline{{Model: "popular"}, {Model: "itemknn"}},
		Flags:       []string{"cutoff", "cutoff-fraction", "repeats", "valid-window"},
		FullRanking: true,
		Split:       split,
	}
}

// Positive returns temporal's positive events of d.
func Positive(d *dataset.Dataset) func(e *dataset.Event) bool {
	purchases := slices.ContainsFunc(d.Events, func(e dataset.Event) bool { return e.Kind == dataset.KindPurchase })
	return func(e *dataset.Event) bool {
		if e.User < 0 {
			return false
		}
		if !purchases {
			return true
		}
		return e.Kind == dataset.KindPurchase && e.Price > 0 && !d.Catalog[e.Item].NonProduct
	}
}

// Cutoff returns the protocol's cutoff: opts.Cutoff, or the time at
// opts.CutoffFraction of the kept events in time order.
func Cutoff(d *dataset.Dataset, opts eval.Options) (time.Time, error) {
	if !opts.Cutoff.IsZero() {
		return opts.Cutoff, nil
	}
	if opts.CutoffFraction <= 0 || opts.CutoffFraction >= 1 {
		return time.Time{}, fmt.Errorf("cutoff fraction %v is not between 0 and 1", opts.CutoffFraction)
	}
	times := make([]int64, len(d.Events))
	for i, e := range d.Events {
		times[i] = e.Time
	}
	slices.Sort(times)
	return time.Unix(0, times[int(opts.CutoffFraction*float64(len(times)-1))]), nil
}

// Split makes temporal's one fold of d (see the package comment).
func Split(d *dataset.Dataset, opts eval.Options) (eval.Fold, error) {
	if opts.Repeats != "exclude" && opts.Repeats != "include" {
		return eval.Fold{}, fmt.Errorf("repeats %q is not exclude or include", opts.Repeats)
	}
	d = d.Select(dataset.SelectOptions{Keep: Positive(d)})
	if len(d.Events) == 0 {
		return eval.Fold{}, fmt.Errorf("no positive events")
	}
	cutoff, err := Cutoff(d, opts)
	if err != nil {
		return eval.Fold{}, err
	}
	repeats := opts.Repeats == "include"
	before, after := protocol.Before(d, cutoff)
	f, err := fold(d, before, after, repeats)
	if err != nil {
		return eval.Fold{}, err
	}
	// The validation part mirrors the test one window earlier.
	window := opts.ValidWindow
	f.Validation = func(context.Context) (*eval.Fold, error) {
		if window <= 0 {
			return nil, fmt.Errorf("validation window %s must be positive", window)
		}
		vcut := cutoff.Add(-window).Unix()
		var early, late []dataset.Event
		for _, e := range before {
			if e.Time/1e9 < vcut {
				early = append(early, e)
			} else {
				late = append(late, e)
			}
		}
		v, err := fold(d, early, late, repeats)
		return &v, err
	}
	return f, nil
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	f, err := Split(d, opts)
	if err != nil {
		return nil, err
	}
	if len(f.Cases) == 0 {
		return nil, fmt.Errorf("no user has events both before and after the cutoff")
	}
	return []eval.Fold{f}, nil
}

// fold trains on before and tests the returning users of before on later.
func fold(d *dataset.Dataset, before, later []dataset.Event, repeats bool) (eval.Fold, error) {
	train := d.Derive(before, dataset.ByUser, nil)
	mx, err := train.Matrix()
	if err != nil {
		return eval.Fold{}, err
	}
	return eval.Fold{Train: train, Repeats: repeats, Cases: eval.PersonalCases(mx, heldOut(mx, later, repeats), repeats, nil)}, nil
}

// heldOut returns the held-out items of the returning users of train among
// later.
func heldOut(train *feature.Dataset, later []dataset.Event, repeats bool) map[int32][]int32 {
	out := map[int32][]int32{}
	seen := map[[2]int32]bool{}
	for _, e := range later {
		items, _ := train.Row(e.User)
		if len(items) == 0 || seen[[2]int32{e.User, e.Item}] {
			continue // not a returning user, or counted already
		}
		if !repeats && train.Has(e.User, e.Item) {
			continue
		}
		seen[[2]int32{e.User, e.Item}] = true
		out[e.User] = append(out[e.User], e.Item)
	}
	return out
}
