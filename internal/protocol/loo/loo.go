// Package loo holds the leave-one-out protocols: each user's last
// interaction (by time; ties keep the order read) is the test item and the
// one before it the validation item; users with fewer than three keep all
// of theirs for training. loo ranks the test item among all items;
// loo-sampled also among 100 (--negatives) sampled items the user did not
// have.
package loo

import (
	"context"
	"fmt"
	"slices"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Protocol describes loo.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name:        "loo",
		Doc:         "each user's last interaction by time is the test item, the one before it validation; full ranking",
		Task:        model.TaskPersonal,
		Ks:          []int{10, 20},
		Baselines:   []eval.Baseline{{Model: "popular"}, {Model: "itemknn"}},
		FullRanking: true,
		Split:       func(_ context.Context, d *dataset.Dataset, _ eval.Options) ([]eval.Fold, error) { return split(d) },
	}
}

// SampledProtocol describes loo-sampled.
func SampledProtocol() eval.Protocol {
	p := Protocol()
	p.Name = "loo-sampled"
	p.Doc = "loo, with each test item also ranked among --negatives sampled items the user did not have (sampled_hit, sampled_ndcg)"
	p.Flags = []string{"negatives"}
	p.Split = func(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
		if opts.Negatives < 1 {
			return nil, fmt.Errorf("negatives %d must be at least 1", opts.Negatives)
		}
		folds, err := split(d)
		if err == nil {
			folds[0].Sampled = opts.Negatives
		}
		return folds, err
	}
	return p
}

func split(d *dataset.Dataset) ([]eval.Fold, error) {
	d = d.Select(dataset.SelectOptions{Keep: protocol.WithUser})
	ps := protocol.Pairs(d)
	order := make([]int, len(ps)) // reading order of the pairs
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		pa, pb := ps[a], ps[b]
		if pa.User != pb.User {
			return int(pa.User - pb.User)
		}
		switch {
		case pa.Time < pb.Time:
			return -1
		case pa.Time > pb.Time:
			return 1
		}
		return a - b
	})
	var train, valid, test []protocol.Pair
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && ps[order[j]].User == ps[order[i]].User {
			j++
		}
		n := j - i
		for k := i; k < j; k++ {
			p := ps[order[k]]
			switch {
			case n >= 3 && k == j-1:
				test = append(test, p)
			case n >= 3 && k == j-2:
				valid = append(valid, p)
			default:
				train = append(train, p)
			}
		}
		i = j
	}
	f, err := protocol.PairFoldWithEvents(d, train, valid, test)
	if err != nil {
		return nil, err
	}
	return []eval.Fold{f}, nil
}
