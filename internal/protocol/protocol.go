// Package protocol holds what the evaluation protocols share: (user, item)
// pairs and the folds made of them. Each protocol is a package of its own
// (kfold, temporal, basket, ...); package all lists them.
package protocol

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/feature"
)

// Pair is a (user, item) pair of a dataset, by dense indices.
type Pair struct {
	User, Item int32
	// Time is the time of the pair's latest event, in Unix seconds.
	Time int64
	// Count is the number of the pair's events.
	Count int
}

// Pairs returns the (user, item) pairs of the dataset's events with a
// user, in the order of their first event, each with its latest time and
// its number of events.
func Pairs(d *dataset.Dataset) []Pair {
	at := map[[2]int32]int{}
	var ps []Pair
	for k := range d.Events {
		e := &d.Events[k]
		if e.User < 0 {
			continue
		}
		t := seconds(e.Time)
		key := [2]int32{e.User, e.Item}
		if j, ok := at[key]; ok {
			ps[j].Count++
			ps[j].Time = max(ps[j].Time, t)
			continue
		}
		at[key] = len(ps)
		ps = append(ps, Pair{User: e.User, Item: e.Item, Time: t, Count: 1})
	}
	return ps
}

// seconds converts Unix nanoseconds to Unix seconds, rounding down.
func seconds(ns int64) int64 {
	s := ns / 1e9
	if ns%1e9 < 0 {
		s--
	}
	return s
}

// Matrix is the training matrix of pairs over d's index space: each pair
// weighs its number of events (every rating and purchase counts as
// positive; a customer who bought an item on three invoices weighs 3).
func Matrix(d *dataset.Dataset, ps []Pair) (*feature.Dataset, error) {
	xs := make([]feature.Interaction, len(ps))
	for i, p := range ps {
		xs[i] = feature.Interaction{User: p.User, Item: p.Item, Weight: float32(max(p.Count, 1)), Time: p.Time}
	}
	return feature.Build(d.Users, d.Items, xs)
}

// Group maps each user to the items of their pairs, in order.
func Group(ps []Pair) map[int32][]int32 {
	if len(ps) == 0 {
		return nil
	}
	m := map[int32][]int32{}
	for _, p := range ps {
		m[p.User] = append(m[p.User], p.Item)
	}
	return m
}

// PairFold is a fold of (user, item) pairs over d's index space: a
// training matrix of train, a personal case of each user's test items
// (their training and validation items left out of the ranking), and, when
// valid is not empty, a validation part of each user's valid items over
// the same training data.
func PairFold(d *dataset.Dataset, train, valid, test []Pair) (eval.Fold, error) {
	return pairFold(d, train, valid, test, nil)
}

// PairFoldWithEvents is PairFold whose training dataset also holds the
// events of the training pairs, in d's order: what models that read
// events rather than the matrix (the sequence models' order within a
// second, the shop models' purchases) need.
func PairFoldWithEvents(d *dataset.Dataset, train, valid, test []Pair) (eval.Fold, error) {
	keep := make(map[[2]int32]bool, len(train))
	for _, p := range train {
		keep[[2]int32{p.User, p.Item}] = true
	}
	events := []dataset.Event{}
	for _, e := range d.Events {
		if keep[[2]int32{e.User, e.Item}] {
			events = append(events, e)
		}
	}
	return pairFold(d, train, valid, test, events)
}

func pairFold(d *dataset.Dataset, train, valid, test []Pair, events []dataset.Event) (eval.Fold, error) {
	mx, err := Matrix(d, train)
	if err != nil {
		return eval.Fold{}, err
	}
	td := d.Derive(events, dataset.ByUser, mx)
	vm, tm := Group(valid), Group(test)
	f := eval.Fold{Train: td, Cases: eval.PersonalCases(mx, tm, false, vm)}
	if len(vm) > 0 {
		f.Validation = func(context.Context) (*eval.Fold, error) {
			return &eval.Fold{Train: td, Cases: eval.PersonalCases(mx, vm, false, nil)}, nil
		}
	}
	return f, nil
}

// WithUser keeps the events of known users.
func WithUser(e *dataset.Event) bool { return e.User >= 0 }

// Products keeps the purchases of products (not fees, postage, vouchers)
// of d.
func Products(d *dataset.Dataset) func(e *dataset.Event) bool {
	return func(e *dataset.Event) bool { return e.Kind == dataset.KindPurchase && !d.Catalog[e.Item].NonProduct }
}

// NeedCutoff returns an error naming --cutoff when it is not set.
func NeedCutoff(name string, opts eval.Options) error {
	if opts.Cutoff.IsZero() {
		return fmt.Errorf("protocol %s needs a cutoff (--cutoff such as 2011-09-01)", name)
	}
	return nil
}

// Before splits d's events at cutoff: those before it, and the rest.
func Before(d *dataset.Dataset, cutoff time.Time) (before, after []dataset.Event) {
	c := cutoff.UnixNano()
	for _, e := range d.Events {
		if e.Time < c {
			before = append(before, e)
		} else {
			after = append(after, e)
		}
	}
	return before, after
}

// Sorted returns the distinct items of xs, sorted.
func Sorted(xs []int32) []int32 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return slices.Compact(s)
}

// ValidationAt returns a Fold.Validation that runs split (the protocol's
// own, over the events of train alone) at cutoff − window.
func ValidationAt(name string, train *dataset.Dataset, cutoff time.Time, window time.Duration, split func(d *dataset.Dataset, cutoff time.Time) (eval.Fold, error)) func(context.Context) (*eval.Fold, error) {
	return func(context.Context) (*eval.Fold, error) {
		if window <= 0 {
			return nil, fmt.Errorf("protocol %s: the validation window %s must be positive", name, window)
		}
		f, err := split(train, cutoff.Add(-window))
		if err != nil {
			return nil, fmt.Errorf("validation at %s: %w", cutoff.Add(-window).Format(time.DateOnly), err)
		}
		return &f, nil
	}
}
