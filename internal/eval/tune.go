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

	"github.com/tailorhq/tailor/internal/dataset"
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

// Validation returns the fold's validation part: the protocol's own
// (Fold.Validation), or one carved from the training part: a seeded
// random tenth of each training shopper's items (shoppers with fewer than
// five keep all), for personal folds whose training rows are shoppers.
func Validation(ctx context.Context, name string, f Fold, seed uint64) (*Fold, error) {
	if f.Validation != nil {
		v, err := f.Validation(ctx)
		if err != nil {
			return nil, fmt.Errorf("tune %s: validation part: %w", name, err)
		}
		if len(v.Cases) == 0 {
			return nil, fmt.Errorf("tune %s: the validation part has no cases", name)
		}
		return v, nil
	}
	if len(f.Cases) == 0 || f.Cases[0].Query.Task != model.TaskPersonal || f.Train.RowKind() != dataset.ByUser {
		return nil, fmt.Errorf("tune %s: the protocol has no validation part", name)
	}
	mx, err := f.Train.Matrix()
	if err != nil {
		return nil, err
	}
	train, valid, err := carveValid(mx, seed)
	if err != nil {
		return nil, err
	}
	v := &Fold{Train: f.Train.Derive(nil, dataset.ByUser, train), Repeats: f.Repeats, Cases: PersonalCases(train, valid, f.Repeats, nil)}
	if len(v.Cases) == 0 {
		return nil, fmt.Errorf("tune %s: no validation users", name)
	}
	return v, nil
}

// PersonalCases makes a personal case of each user's held-out items (users
// in index order), for protocols that hold out (user, item) pairs: a
// user's ranking leaves out the items no training user had, their own
// training items (unless repeats are ranked) and the items of also (the
// validation items at test time; nil for none).
func PersonalCases(train *feature.Dataset, held map[int32][]int32, repeats bool, also map[int32][]int32) []Case {
	inTrain := train.ItemUsers()
	users := make([]int32, 0, len(held))
	for u := range held {
		users = append(users, u)
	}
	slices.Sort(users)
	cases := make([]Case, len(users))
	for k, u := range users {
		extra := also[u]
		cases[k] = Case{Relevant: held[u], Query: model.Query{Task: model.TaskPersonal, User: u,
			Exclude: func(i int32) bool {
				return inTrain[i] == 0 || (!repeats && train.Has(u, i)) || slices.Contains(extra, i)
			}}}
	}
	return cases
}

// Halving is successive halving (Jamieson & Talwalkar 2016; the dataset
// size as the resource, as in Li et al.'s Hyperband) over info.Grid: every
// parameter set is fitted on a seeded random share 1/η^R of the training
// shoppers and validated on the same shoppers; the best 1/η of them go on
// to a share η times larger, and so on until the last round, which fits
// the survivors on all shoppers. With many candidates it spends most of
// its time on the promising ones. Small shares favour parameters that suit
// small data, so the shares never go below 1/η² and 200 shoppers. It stops
// early when the budget (if above 0) is spent, returning the best of the
// last complete round. Validation is as in Search: never the test part.
// It needs folds whose cases are shoppers' (not anonymous sessions or
// baskets) and whose training rows are shoppers.
func Halving(ctx context.Context, info model.Info, f Fold, k int, seed uint64, budget time.Duration, eta int) (best Trial, trials []Trial, err error) {
	if len(info.Grid) == 0 {
		return Trial{}, nil, fmt.Errorf("tune %s: the model has no parameters to search", info.Name)
	}
	if eta < 2 {
		return Trial{}, nil, fmt.Errorf("tune %s: eta %d must be at least 2", info.Name, eta)
	}
	v, err := Validation(ctx, info.Name, f, seed)
	if err != nil {
		return Trial{}, nil, err
	}
	if v.Train.RowKind() != dataset.ByUser || slices.ContainsFunc(v.Cases, func(c Case) bool { return c.Query.User < 0 }) {
		return Trial{}, nil, fmt.Errorf("tune %s: halving shares out shoppers, and this protocol's cases are not shoppers'; use the random search", info.Name)
	}
	ctx = model.WithFitCache(ctx) // a blend fits each member once per round
	r := rand.New(rand.NewPCG(seed, 0x68616c76))
	order := r.Perm(len(info.Grid))
	nUsers := v.Train.NumUsers()
	users := r.Perm(nUsers) // the first share·N of these are a round's users
	rounds := 0
	for c := len(order); c > 1 && rounds < 2 && nUsers/pow(eta, rounds+1) >= 200; c = (c + eta - 1) / eta {
		rounds++
	}
	start := time.Now()
	live := order
	for rung := 0; rung <= rounds; rung++ {
		share := 1 / float64(pow(eta, rounds-rung))
		sub, err := subsetUsers(v, users[:int(math.Ceil(share*float64(len(users))))])
		if err != nil {
			return Trial{}, nil, err
		}
		var round []Trial
		for _, g := range live {
			if budget > 0 && len(trials) > 0 && time.Since(start) > budget {
				return best, trials, nil
			}
			score, err := trial(ctx, info, info.Grid[g], seed, sub, k)
			if err != nil {
				return Trial{}, nil, err
			}
			t := Trial{Params: info.Grid[g], ValidNDCG: score, Rung: rung + 1, UsersShare: share}
			round = append(round, t)
			trials = append(trials, t)
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

// subsetUsers keeps the training rows, events and cases of the given users
// only (the index spaces stay the same).
func subsetUsers(v *Fold, users []int) (*Fold, error) {
	if len(users) == v.Train.NumUsers() {
		return v, nil
	}
	keep := make([]bool, v.Train.NumUsers())
	for _, u := range users {
		keep[u] = true
	}
	mx, err := v.Train.Matrix()
	if err != nil {
		return nil, err
	}
	var xs []feature.Interaction
	for _, u := range users {
		for p := mx.RowPtr[u]; p < mx.RowPtr[u+1]; p++ {
			xs = append(xs, feature.Interaction{User: int32(u), Item: mx.Cols[p], Weight: mx.Weights[p], Time: mx.Times[p]})
		}
	}
	sub, err := feature.Build(mx.Users, mx.Items, xs)
	if err != nil {
		return nil, err
	}
	var events []dataset.Event
	for _, e := range v.Train.Events {
		if e.User >= 0 && keep[e.User] {
			events = append(events, e)
		}
	}
	out := &Fold{Train: v.Train.Derive(events, dataset.ByUser, sub), Repeats: v.Repeats}
	inSub := sub.ItemUsers()
	for _, c := range v.Cases {
		if !keep[c.Query.User] {
			continue
		}
		// The ranking is over the items the subset's users had.
		c2 := c
		excl := c.Query.Exclude
		c2.Query.Exclude = func(i int32) bool { return inSub[i] == 0 || (excl != nil && excl(i)) }
		out.Cases = append(out.Cases, c2)
	}
	return out, nil
}

// Search tries parameter sets of info.Grid, in a seeded random order,
// until all are tried or the budget (if above 0) is spent, and returns
// every trial and the best. Each is fitted on the validation part's
// training data and scored by NDCG@k on its cases, never on the fold's
// test cases (see Validation).
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
	if f.Validation != nil {
		carves = 1 // the protocol's own validation part
	}
	ctx = model.WithFitCache(ctx)
	order := rand.New(rand.NewPCG(seed, 0x73656172)).Perm(len(info.Grid))
	start := time.Now()
	for c := range carves {
		v, err := Validation(ctx, info.Name, f, seed+uint64(c))
		if err != nil {
			return Trial{}, nil, err
		}
		for n, g := range order {
			if c == 0 && budget > 0 && n > 0 && time.Since(start) > budget {
				order = order[:n]
				break
			}
			score, err := trial(ctx, info, info.Grid[g], seed, v, k)
			if err != nil {
				return Trial{}, nil, err
			}
			if c == 0 {
				trials = append(trials, Trial{Params: info.Grid[g]})
			}
			trials[n].ValidNDCG += score / float64(carves)
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

// trial fits a parameter set on the validation part and returns its NDCG@k.
func trial(ctx context.Context, info model.Info, params json.RawMessage, seed uint64, v *Fold, k int) (float64, error) {
	m, err := info.New(params, seed)
	if err != nil {
		return 0, fmt.Errorf("tune %s: %w", info.Name, err)
	}
	start := time.Now()
	if err := m.Fit(ctx, v.Train); err != nil {
		return 0, fmt.Errorf("tune %s: %w", info.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	score, err := validate(m, v, k)
	if err == nil {
		progress(ctx, "tune %s %s: validation ndcg@%d %.4f (fitted in %s)", info.Name, params, k, score, took(time.Since(start)))
	}
	return score, err
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

// validate returns the mean NDCG@k over the validation cases, on all
// cores.
func validate(m model.Model, v *Fold, k int) (float64, error) {
	a := answerer{m: m, f: v}
	if _, isMatrix := model.AsMatrix(m); !isMatrix && v.Train.RowKind() == dataset.ByUser {
		mx, err := v.Train.Matrix()
		if err != nil {
			return 0, err
		}
		a.rows = mx.Row
	}
	ndcg := make([]float64, len(v.Cases))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf []topk.Entry
			rel := map[int32]bool{}
			for i := w; i < len(v.Cases); i += workers {
				q := a.query(i, k)
				var err error
				if buf, err = m.Answer(&q, buf[:0]); err != nil {
					errs[w] = err
					return
				}
				list := make([]int32, len(buf))
				for j, e := range buf {
					list[j] = e.Index
				}
				clear(rel)
				for _, it := range v.Cases[i].Relevant {
					rel[it] = true
				}
				ndcg[i] = Rank(list, rel, []int{k})[2][0]
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	var mean Mean
	for _, x := range ndcg {
		mean.Add(x)
	}
	return mean.Value(), nil
}
