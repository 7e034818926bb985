// Package recbole is the recbole protocol: ratings at or above
// --min-rating, the iterative 10-core on users and items, then each user's
// interactions shuffled (seeded) and split 80/10/10 into train, valid and
// test, as RecBole does (valid and test get ⌊0.1·n⌋ each).
package recbole

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Protocol describes recbole.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name:        "recbole",
		Doc:         "ratings ≥ --min-rating, iterative 10-core, each user's interactions shuffled and split 80/10/10 into train, valid and test",
		Task:        model.TaskPersonal,
		Ks:          []int{10, 20},
		Baselines:   []eval.Baseline{{Model: "popular"}, {Model: "itemknn"}},
		Flags:       []string{"min-rating"},
		FullRanking: true,
		Split:       split,
	}
}

func split(_ context.Context, d *dataset.Dataset, opts eval.Options) ([]eval.Fold, error) {
	keep := func(e *dataset.Event) bool { return e.User >= 0 && (!e.HasValue() || e.Value >= opts.MinRating) }
	d = d.Select(dataset.SelectOptions{Keep: keep})
	ps := kcore(protocol.Pairs(d), opts.Core)
	if len(ps) == 0 {
		return nil, fmt.Errorf("nothing is left after the %d-core", opts.Core)
	}
	// Re-index what is left, in order of appearance.
	kept := map[[2]int32]bool{}
	for _, p := range ps {
		kept[[2]int32{p.User, p.Item}] = true
	}
	d = d.Select(dataset.SelectOptions{Keep: func(e *dataset.Event) bool { return kept[[2]int32{e.User, e.Item}] }})
	ps = protocol.Pairs(d)
	byUser := map[int32][]protocol.Pair{}
	var order []int32
	for _, p := range ps {
		if _, ok := byUser[p.User]; !ok {
			order = append(order, p.User)
		}
		byUser[p.User] = append(byUser[p.User], p)
	}
	r := rand.New(rand.NewPCG(opts.Seed, 0x7265636f6c65))
	var train, valid, test []protocol.Pair
	for _, u := range order {
		up := byUser[u]
		r.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
		n := len(up)
		nv, nt := n/10, n/10
		train = append(train, up[:n-nv-nt]...)
		valid = append(valid, up[n-nv-nt:n-nt]...)
		test = append(test, up[n-nt:]...)
	}
	f, err := protocol.PairFold(d, train, valid, test)
	if err != nil {
		return nil, err
	}
	return []eval.Fold{f}, nil
}

// kcore drops users and items with fewer than k interactions until none is
// left.
func kcore(ps []protocol.Pair, k int) []protocol.Pair {
	for {
		nu, ni := map[int32]int{}, map[int32]int{}
		for _, p := range ps {
			nu[p.User]++
			ni[p.Item]++
		}
		kept := slices.DeleteFunc(slices.Clone(ps), func(p protocol.Pair) bool { return nu[p.User] < k || ni[p.Item] < k })
		if len(kept) == len(ps) {
			return kept
		}
		ps = kept
	}
}
