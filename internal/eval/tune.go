package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Trial is one parameter set tried by a search, with its validation NDCG.
type Trial struct {
	Params    json.RawMessage `json:"params"`
	ValidNDCG float64         `json:"valid_ndcg"`
}

// Search tries parameter sets of info.Grid, in a seeded random order,
// until all are tried or the budget (if above 0) is spent, and returns
// every trial and the best. Each is fitted on the fold's training part and
// scored by NDCG@k on its validation part, never on its test part. A fold
// without a validation part gets one carved from its training part: a
// seeded random tenth of each user's items (users with fewer than five
// keep all).
func Search(ctx context.Context, info model.Info, f Fold, k int, seed uint64, budget time.Duration) (best Trial, trials []Trial, err error) {
	if len(info.Grid) == 0 {
		return Trial{}, nil, fmt.Errorf("tune %s: the model has no parameters to search", info.Name)
	}
	train, valid := f.Train, f.Valid
	if len(valid) == 0 {
		if train, valid, err = carveValid(f.Train, seed); err != nil {
			return Trial{}, nil, err
		}
	}
	if len(valid) == 0 {
		return Trial{}, nil, fmt.Errorf("tune %s: no validation users", info.Name)
	}
	order := rand.New(rand.NewPCG(seed, 0x73656172)).Perm(len(info.Grid))
	start := time.Now()
	best.ValidNDCG = -1
	for _, g := range order {
		if budget > 0 && len(trials) > 0 && time.Since(start) > budget {
			break
		}
		params := info.Grid[g]
		m, err := info.New(params, seed)
		if err != nil {
			return Trial{}, nil, fmt.Errorf("tune %s: %w", info.Name, err)
		}
		if err := m.Fit(ctx, train); err != nil {
			return Trial{}, nil, fmt.Errorf("tune %s: %w", info.Name, err)
		}
		t := Trial{Params: params, ValidNDCG: validate(m, train, valid, k)}
		trials = append(trials, t)
		if t.ValidNDCG > best.ValidNDCG {
			best = t
		}
		if err := ctx.Err(); err != nil {
			return Trial{}, nil, err
		}
	}
	return best, trials, nil
}

// tune is Search over the whole grid.
func tune(ctx context.Context, info model.Info, f Fold, k int, seed uint64) (json.RawMessage, float64, error) {
	best, _, err := Search(ctx, info, f, k, seed, 0)
	return best.Params, best.ValidNDCG, err
}

// carveValid splits a seeded random tenth of each user's items (of users
// with at least five) off the training matrix.
func carveValid(d *feature.Dataset, seed uint64) (*feature.Dataset, map[int32][]int32, error) {
	var xs []feature.Interaction
	valid := map[int32][]int32{}
	for u := int32(0); u < int32(d.NumUsers()); u++ {
		lo, hi := d.RowPtr[u], d.RowPtr[u+1]
		n := int(hi - lo)
		order := make([]int64, n)
		for i := range order {
			order[i] = lo + int64(i)
		}
		hold := 0
		if n >= 5 {
			hold = max(1, n/10)
			r := rand.New(rand.NewPCG(seed, 0x76616c6964+uint64(u)))
			r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for i, p := range order {
			if i < hold {
				valid[u] = append(valid[u], d.Cols[p])
				continue
			}
			xs = append(xs, feature.Interaction{User: u, Item: d.Cols[p], Weight: d.Weights[p], Time: d.Times[p]})
		}
	}
	train, err := feature.Build(d.Users, d.Items, xs)
	return train, valid, err
}

// validate returns the mean NDCG@k over the validation users, on all
// cores, ranking the items seen in train and leaving out each user's.
func validate(m model.Model, train *feature.Dataset, valid map[int32][]int32, k int) float64 {
	inTrain := train.ItemUsers()
	users := make([]int32, 0, len(valid))
	for u := range valid {
		users = append(users, u)
	}
	slices.Sort(users)
	ndcg := make([]float64, len(users))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf []topk.Entry
			rel := map[int32]bool{}
			for i := w; i < len(users); i += workers {
				u := users[i]
				buf = m.Recommend(u, k, func(it int32) bool { return inTrain[it] == 0 || train.Has(u, it) }, buf[:0])
				list := make([]int32, len(buf))
				for j, e := range buf {
					list[j] = e.Index
				}
				clear(rel)
				for _, it := range valid[u] {
					rel[it] = true
				}
				ndcg[i] = Rank(list, rel, []int{k})[2][0]
			}
		}(w)
	}
	wg.Wait()
	var mean Mean
	for _, v := range ndcg {
		mean.Add(v)
	}
	return mean.Value()
}
