package eval

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
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
	// Rung and UsersShare are set by Halving: the round, and the share of
	// the training users the trial was fitted and validated on.
	Rung       int     `json:"rung,omitempty"`
	UsersShare float64 `json:"users_share,omitempty"`
}

// Halving is successive halving (Jamieson & Talwalkar 2016; the dataset
// size as the resource, as in Li et al.'s Hyperband) over info.Grid: every
// parameter set is fitted on a seeded random share 1/η^R of the training
// users and validated on the same users; the best 1/η of them go on to a
// share η times larger, and so on until the last round, which fits the
// survivors on all users. With many candidates it spends most of its time
// on the promising ones. Small shares favour parameters that suit small
// data (a regularization strength that is right for a ninth of the users
// can be wrong for all of them), so the shares never go below 1/η² and
// 200 users. It stops early when the budget (if above 0) is spent,
// returning the best of the last complete round. Validation is as in
// Search: never the test part.
func Halving(ctx context.Context, info model.Info, f Fold, k int, seed uint64, budget time.Duration, eta int) (best Trial, trials []Trial, err error) {
	if len(info.Grid) == 0 {
		return Trial{}, nil, fmt.Errorf("tune %s: the model has no parameters to search", info.Name)
	}
	if eta < 2 {
		return Trial{}, nil, fmt.Errorf("tune %s: eta %d must be at least 2", info.Name, eta)
	}
	train, valid, err := validationSplit(info.Name, f, seed)
	if err != nil {
		return Trial{}, nil, err
	}
	ctx = model.WithFitCache(ctx) // a blend fits each member once per round
	r := rand.New(rand.NewPCG(seed, 0x68616c76))
	order := r.Perm(len(info.Grid))
	users := r.Perm(train.NumUsers()) // the first share·N of these are a round's users
	rounds := 0
	for c := len(order); c > 1 && rounds < 2 && train.NumUsers()/pow(eta, rounds+1) >= 200; c = (c + eta - 1) / eta {
		rounds++
	}
	start := time.Now()
	live := order
	for rung := 0; rung <= rounds; rung++ {
		share := 1 / float64(pow(eta, rounds-rung))
		sub, subValid, err := subsetUsers(train, valid, users[:int(math.Ceil(share*float64(len(users))))])
		if err != nil {
			return Trial{}, nil, err
		}
		var round []Trial
		for _, g := range live {
			if budget > 0 && len(trials) > 0 && time.Since(start) > budget {
				return best, trials, nil
			}
			m, err := info.New(info.Grid[g], seed)
			if err != nil {
				return Trial{}, nil, fmt.Errorf("tune %s: %w", info.Name, err)
			}
			if err := m.Fit(ctx, sub); err != nil {
				return Trial{}, nil, fmt.Errorf("tune %s: %w", info.Name, err)
			}
			t := Trial{Params: info.Grid[g], ValidNDCG: validate(m, sub, subValid, k, f.Repeats), Rung: rung + 1, UsersShare: share}
			round = append(round, t)
			trials = append(trials, t)
			if err := ctx.Err(); err != nil {
				return Trial{}, nil, err
			}
		}
		// Rank this round (stable: ties keep the seeded order).
		idx := make([]int, len(live))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(round[b].ValidNDCG, round[a].ValidNDCG) })
		best = round[idx[0]]
		keep := max(1, (len(live)+eta-1)/eta)
		next := make([]int, 0, keep)
		for _, i := range idx[:keep] {
			next = append(next, live[i])
		}
		live = next
	}
	return best, trials, nil
}

func pow(b, e int) int {
	p := 1
	for range e {
		p *= b
	}
	return p
}

// subsetUsers keeps the training rows and validation items of the given
// users only (the index spaces stay the same).
func subsetUsers(train *feature.Dataset, valid map[int32][]int32, users []int) (*feature.Dataset, map[int32][]int32, error) {
	if len(users) == train.NumUsers() {
		return train, valid, nil
	}
	var xs []feature.Interaction
	subValid := map[int32][]int32{}
	for _, u := range users {
		lo, hi := train.RowPtr[u], train.RowPtr[u+1]
		for p := lo; p < hi; p++ {
			xs = append(xs, feature.Interaction{User: int32(u), Item: train.Cols[p], Weight: train.Weights[p], Time: train.Times[p]})
		}
		if v, ok := valid[int32(u)]; ok {
			subValid[int32(u)] = v
		}
	}
	d, err := feature.Build(train.Users, train.Items, xs)
	return d, subValid, err
}

// Search tries parameter sets of info.Grid, in a seeded random order,
// until all are tried or the budget (if above 0) is spent, and returns
// every trial and the best. Each is fitted on the fold's training part and
// scored by NDCG@k on its validation part, never on its test part. A fold
// without a validation part gets one carved from its training part: a
// seeded random tenth of each user's items (users with fewer than five
// keep all).
//
// With carves above 1 (and a fold that has no validation part of its
// own) it carves that many validation tenths, with seeds seed, seed+1, …,
// and scores each parameter set by its mean NDCG over them: inner
// cross-validation, which costs carves times as much and chooses with
// less noise. The budget bounds the search on the first carve; the later
// carves score the same parameter sets. The search's context carries a
// model.FitCache, so that a blend fits each member once per carve.
func Search(ctx context.Context, info model.Info, f Fold, k int, seed uint64, budget time.Duration, carves int) (best Trial, trials []Trial, err error) {
	if len(info.Grid) == 0 {
		return Trial{}, nil, fmt.Errorf("tune %s: the model has no parameters to search", info.Name)
	}
	if carves < 1 {
		return Trial{}, nil, fmt.Errorf("tune %s: carves %d must be at least 1", info.Name, carves)
	}
	if len(f.Valid) > 0 {
		carves = 1 // the protocol's own validation part
	}
	ctx = model.WithFitCache(ctx)
	order := rand.New(rand.NewPCG(seed, 0x73656172)).Perm(len(info.Grid))
	start := time.Now()
	for c := range carves {
		train, valid, err := validationSplit(info.Name, f, seed+uint64(c))
		if err != nil {
			return Trial{}, nil, err
		}
		for n, g := range order {
			if c == 0 && budget > 0 && n > 0 && time.Since(start) > budget {
				order = order[:n]
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
			v := validate(m, train, valid, k, f.Repeats) / float64(carves)
			if c == 0 {
				trials = append(trials, Trial{Params: params})
			}
			trials[n].ValidNDCG += v
			if err := ctx.Err(); err != nil {
				return Trial{}, nil, err
			}
		}
	}
	best.ValidNDCG = -1
	for _, t := range trials {
		if t.ValidNDCG > best.ValidNDCG {
			best = t
		}
	}
	return best, trials, nil
}

// validationSplit returns the fold's validation part and the training
// part that goes with it, carving one from the training part when the
// protocol has none.
func validationSplit(name string, f Fold, seed uint64) (*feature.Dataset, map[int32][]int32, error) {
	train, valid := f.Train, f.Valid
	if f.ValidTrain != nil {
		train = f.ValidTrain
	}
	if len(valid) == 0 {
		var err error
		if train, valid, err = carveValid(f.Train, seed); err != nil {
			return nil, nil, err
		}
	}
	if len(valid) == 0 {
		return nil, nil, fmt.Errorf("tune %s: no validation users", name)
	}
	return train, valid, nil
}

// tune is Search over the whole grid.
func tune(ctx context.Context, info model.Info, f Fold, k int, seed uint64, carves int) (json.RawMessage, float64, error) {
	best, _, err := Search(ctx, info, f, k, seed, 0, carves)
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
// cores, ranking the items seen in train and leaving out each user's
// unless repeats are ranked.
func validate(m model.Model, train *feature.Dataset, valid map[int32][]int32, k int, repeats bool) float64 {
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
				buf = m.Recommend(u, k, func(it int32) bool { return inTrain[it] == 0 || (!repeats && train.Has(u, it)) }, buf[:0])
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
