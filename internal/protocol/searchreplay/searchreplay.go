// Package searchreplay is the search-replay protocol: for each returning
// shopper of the temporal split at --cutoff (repeats included) and each
// item they bought after it (up to five a shopper, seeded), a query is made
// from the item's title with one word dropped (titles of three words or
// more) and one typo (two neighbouring letters swapped in a word of five
// letters or more); the item's rank among the answers counts.
package searchreplay

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
	"github.com/tailorhq/tailor/internal/protocol/temporal"
)

// Protocol describes search-replay.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name: "search-replay",
		Doc: "queries made from the titles of items returning shoppers bought after --cutoff (a word dropped, a typo), " +
			"ranked over the catalog",
		Task: model.TaskSearch,
		Ks:   []int{10},
		Baselines: []eval.Baseline{{Model: "search", Label: "text"},
			{Model: "search", Params: json.RawMessage(`{"personalize":"ease"}`), Label: "personalized"}},
		WholeCatalog: true,
		Flags:        []string{"cutoff", "valid-window"},
		Split:        split,
	}
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	if err := protocol.NeedCutoff("search-replay", opts); err != nil {
		return nil, err
	}
	positive := temporal.Positive(d)
	// Shoppers in the order of their first positive event, as the
	// temporal protocol numbers them: the order queries are drawn in.
	order := map[string]int{}
	for k := range d.Events {
		if e := &d.Events[k]; positive(e) {
			if _, ok := order[d.Users[e.User]]; !ok {
				order[d.Users[e.User]] = len(order)
			}
		}
	}
	d = d.Select(dataset.SelectOptions{Keep: positive, Order: dataset.ByID, Catalog: true})
	rank := make([]int, d.NumUsers())
	for u, id := range d.Users {
		rank[u] = order[id]
	}
	split := func(t *dataset.Dataset, c time.Time) (eval.Fold, error) { return Split(t, rank, c, opts.Seed) }
	f, err := split(d, opts.Cutoff)
	if err != nil {
		return nil, err
	}
	f.Validation = protocol.ValidationAt("search-replay", f.Train, opts.Cutoff, opts.ValidWindow, split)
	return []eval.Fold{f}, nil
}

// Split trains on d's events before cutoff and replays queries for the
// items returning shoppers bought after it, shoppers in the order of rank
// (by user index).
func Split(d *dataset.Dataset, rank []int, cutoff time.Time, seed uint64) (eval.Fold, error) {
	before, after := protocol.Before(d, cutoff)
	train := d.Derive(before, dataset.ByUser, nil)
	mx, err := train.Matrix()
	if err != nil {
		return eval.Fold{}, err
	}
	later := map[int32][]int32{}
	seen := map[[2]int32]bool{}
	for _, e := range after {
		if items, _ := mx.Row(e.User); len(items) == 0 || seen[[2]int32{e.User, e.Item}] {
			continue
		}
		seen[[2]int32{e.User, e.Item}] = true
		later[e.User] = append(later[e.User], e.Item)
	}
	users := make([]int32, 0, len(later))
	for u := range later {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b int32) int { return rank[a] - rank[b] })
	r := rand.New(rand.NewPCG(seed, 0x73727079))
	f := eval.Fold{Train: train}
	for _, u := range users {
		targets := slices.Clone(later[u])
		r.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
		targets = targets[:min(5, len(targets))]
		for _, t := range targets {
			q := Query(d.Catalog[t].Title, r)
			if q == "" {
				continue
			}
			f.Cases = append(f.Cases, eval.Case{Relevant: []int32{t}, Query: model.Query{Task: model.TaskSearch, Text: q, User: u}})
		}
	}
	if len(f.Cases) == 0 {
		return eval.Fold{}, fmt.Errorf("search replay: no query could be made after %s", cutoff.Format(time.DateOnly))
	}
	return f, nil
}

// Query makes a shopper's query from a title: one word dropped (of three
// or more) and one typo, lower-cased, with a trailing space (the last word
// is finished).
func Query(title string, r *rand.Rand) string {
	words := strings.Fields(title)
	if len(words) == 0 {
		return ""
	}
	if len(words) >= 3 {
		k := r.IntN(len(words))
		words = slices.Delete(words, k, k+1)
	}
	var long []int
	for i, w := range words {
		if len(w) >= 5 {
			long = append(long, i)
		}
	}
	if len(long) > 0 {
		i := long[r.IntN(len(long))]
		b := []byte(words[i])
		j := 1 + r.IntN(len(b)-2)
		b[j], b[j+1] = b[j+1], b[j]
		words[i] = string(b)
	}
	return strings.ToLower(strings.Join(words, " ")) + " "
}
