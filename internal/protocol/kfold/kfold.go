// Package kfold is the kfold protocol: every (user, item) pair dealt at
// random (seeded) into k folds, each the test set once; every rating
// counts as positive; metrics are averaged over the folds.
package kfold

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Protocol describes kfold.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name:        "kfold",
		Doc:         "the (user, item) pairs dealt at random (seeded) into --folds folds, each the test set once; every rating counts as positive",
		Task:        model.TaskPersonal,
		Ks:          []int{10, 20},
		Baselines:   []eval.Baseline{{Model: "popular"}, {Model: "itemknn"}},
		Flags:       []string{"folds"},
		FullRanking: true,
		Split:       split,
	}
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	if opts.Folds < 2 {
		return nil, fmt.Errorf("folds %d must be at least 2", opts.Folds)
	}
	d = d.Select(dataset.SelectOptions{Keep: protocol.WithUser})
	ps := protocol.Pairs(d)
	r := rand.New(rand.NewPCG(opts.Seed, 0x6b666f6c64))
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	var folds []eval.Fold
	for f := 0; f < opts.Folds; f++ {
		var train, test []protocol.Pair
		for i, p := range ps {
			if i%opts.Folds == f {
				test = append(test, p)
			} else {
				train = append(train, p)
			}
		}
		fd, err := protocol.PairFold(d, train, nil, test)
		if err != nil {
			return nil, err
		}
		folds = append(folds, fd)
	}
	return folds, nil
}
