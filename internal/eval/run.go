package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Candidate is a model to evaluate, with its parameters.
type Candidate struct {
	Info   model.Info
	Params json.RawMessage
	// Tune searches Info.Grid on each fold's validation part (see tune)
	// instead of using Params.
	Tune bool
	// Carves is the number of validation tenths a search averages over
	// (see Search; 0 means 1).
	Carves int
}

// Result is one model's evaluation, as written by 'tailor eval --json'.
type Result struct {
	Model  string          `json:"model"`
	Params json.RawMessage `json:"params"`
	// Metrics are means over test users (averaged over folds), by key
	// such as "ndcg@10".
	Metrics map[string]float64 `json:"metrics"`
	// CI95 are percentile-bootstrap 95% intervals of the ranking metrics,
	// from the test users of all folds.
	CI95         map[string][2]float64 `json:"ci95"`
	TrainSeconds float64               `json:"train_seconds"`
	// LatencyMs is the single-thread time to recommend for one user,
	// over up to 1,000 test users of the first fold.
	LatencyMs map[string]float64 `json:"latency_ms"`
	// UsersPerSecond is the all-core throughput of recommending the top
	// max(K) items.
	UsersPerSecond float64 `json:"users_per_second"`
	// PeakHeapBytes is the largest Go heap seen while fitting and
	// recommending.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	// ModelBytes is the size of the model's artifact (see model.Save) fitted
	// on the first fold.
	ModelBytes int64 `json:"model_bytes"`
	TestUsers  int   `json:"test_users"`
	// Tuned are the parameters the search chose on each fold, with their
	// validation NDCG at the first K.
	Tuned []Tuned `json:"tuned,omitempty"`
}

// Tuned is the outcome of a parameter search on one fold.
type Tuned struct {
	Params    json.RawMessage `json:"params"`
	ValidNDCG float64         `json:"valid_ndcg"`
}

// Run fits every candidate on every fold and measures it on the folds'
// test users, at each cut-off in ks. A user's training items (and, at test
// time, validation items) are excluded from their ranking, which is over
// every item seen in training. categories, if not nil, gives the categories
// of an item id, for intra-list diversity.
//
// Besides the ranking metrics it reports, at each K, catalog coverage,
// novelty (mean self-information of the recommended items), the mean number
// of training users of the recommended items ("popularity@K") and, with
// categories, intra-list diversity; and AUC over each user's full ranking.
func Run(ctx context.Context, folds []Fold, cands []Candidate, ks []int, seed uint64, categories func(id string) []string) ([]Result, error) {
	maxK := slices.Max(ks)
	var results []Result
	for _, c := range cands {
		res := Result{Model: c.Info.Name, Params: c.Params, Metrics: map[string]float64{}, CI95: map[string][2]float64{},
			LatencyMs: map[string]float64{}}
		if len(res.Params) == 0 {
			res.Params = json.RawMessage("{}")
		}
		pooled := make([][]Mean, len(RankingMetrics)) // all users of all folds
		foldMeans := make([][]float64, len(RankingMetrics))
		for m := range pooled {
			pooled[m] = make([]Mean, len(ks))
			foldMeans[m] = make([]float64, len(ks))
		}
		beyond := map[string][]float64{"coverage": make([]float64, len(ks)), "novelty": make([]float64, len(ks)),
			"popularity": make([]float64, len(ks)), "diversity": make([]float64, len(ks))}
		var auc Mean
		sampled := map[string][]Mean{"sampled_hit": make([]Mean, len(ks)), "sampled_ndcg": make([]Mean, len(ks))}
		var peak heapPeak
		var evalUsers int
		var evalTime time.Duration
		for fi, f := range folds {
			params := c.Params
			if c.Tune && len(c.Info.Grid) > 0 {
				best, score, err := tune(ctx, c.Info, f, ks[0], seed, max(1, c.Carves))
				if err != nil {
					return nil, fmt.Errorf("fold %d: %w", fi+1, err)
				}
				params = best
				res.Tuned = append(res.Tuned, Tuned{Params: best, ValidNDCG: score})
			}
			mdl, err := c.Info.New(params, seed)
			if err != nil {
				return nil, err
			}
			start := time.Now()
			if err := mdl.Fit(ctx, f.Train); err != nil {
				return nil, fmt.Errorf("fit %s on fold %d: %w", c.Info.Name, fi+1, err)
			}
			res.TrainSeconds += time.Since(start).Seconds()
			peak.sample()
			inTrain := f.Train.ItemUsers()
			catalog := 0
			for _, n := range inTrain {
				if n > 0 {
					catalog++
				}
			}
			users := make([]int32, 0, len(f.Test))
			for u := range f.Test {
				users = append(users, u)
			}
			slices.Sort(users)
			scores, lists, aucs, ranks, err := rankAll(ctx, mdl, f, users, inTrain, ks, catalog, seed)
			if err != nil {
				return nil, err
			}
			evalTime += throughput(mdl, f, users, inTrain, maxK)
			evalUsers += len(users)
			peak.sample()
			for m := range RankingMetrics {
				for j := range ks {
					var fm Mean
					for _, s := range scores {
						pooled[m][j].Add(s[m][j])
						fm.Add(s[m][j])
					}
					foldMeans[m][j] += fm.Value() / float64(len(folds))
				}
			}
			for _, r := range ranks {
				for j, k := range ks {
					hit, ndcg := 0.0, 0.0
					if r < k {
						hit, ndcg = 1, 1/math.Log2(float64(r+2))
					}
					sampled["sampled_hit"][j].Add(hit)
					sampled["sampled_ndcg"][j].Add(ndcg)
				}
			}
			for _, a := range aucs {
				if !math.IsNaN(a) {
					auc.Add(a)
				}
			}
			userCounts := map[int32]int{}
			for i, n := range inTrain {
				userCounts[int32(i)] = int(n)
			}
			trainUsers := 0
			for u := 0; u < f.Train.NumUsers(); u++ {
				if f.Train.RowPtr[u+1] > f.Train.RowPtr[u] {
					trainUsers++
				}
			}
			var cats map[int32][]string
			if categories != nil {
				cats = map[int32][]string{}
				for i, id := range f.Train.Items {
					if c := categories(id); len(c) > 0 {
						cats[int32(i)] = c
					}
				}
			}
			for j, k := range ks {
				topK := make([][]int32, len(lists))
				for i, l := range lists {
					topK[i] = l[:min(k, len(l))]
				}
				w := 1 / float64(len(folds))
				beyond["coverage"][j] += Coverage(topK, catalog) * w
				beyond["novelty"][j] += Novelty(topK, userCounts, trainUsers) * w
				beyond["popularity"][j] += MeanPopularity(topK, userCounts) * w
				if cats != nil {
					beyond["diversity"][j] += IntraListDiversity(topK, cats) * w
				}
			}
			if fi == 0 {
				size, err := model.Size(c.Info.Name, params, mdl)
				if err != nil {
					return nil, err
				}
				res.ModelBytes = size
				res.LatencyMs = latencies(mdl, f, users, inTrain, maxK)
			}
		}
		src := rand.NewPCG(seed, 0x626f6f74)
		for m, name := range RankingMetrics {
			for j, k := range ks {
				res.Metrics[Key(name, k)] = foldMeans[m][j]
				lo, hi := pooled[m][j].CI(0.95, 1000, src)
				res.CI95[Key(name, k)] = [2]float64{lo, hi}
			}
		}
		for name, vals := range beyond {
			if name == "diversity" && categories == nil {
				continue
			}
			for j, k := range ks {
				res.Metrics[Key(name, k)] = vals[j]
			}
		}
		res.Metrics["auc"] = auc.Value()
		for name, ms := range sampled {
			for j, k := range ks {
				if ms[j].N() > 0 {
					res.Metrics[Key(name, k)] = ms[j].Value()
				}
			}
		}
		res.TestUsers = evalUsers
		if evalTime > 0 {
			res.UsersPerSecond = float64(evalUsers) / evalTime.Seconds()
		}
		res.PeakHeapBytes = peak.max
		results = append(results, res)
	}
	return results, nil
}

// rankAll ranks every candidate item for every test user, on all cores,
// scores the top of each ranking at ks, and computes each user's AUC over
// the full ranking (of n candidates at most). It returns the lists cut at
// the largest K. With f.Sampled set, it also returns, for every test item,
// its rank among f.Sampled items sampled (seeded) from those the user did
// not have.
func rankAll(ctx context.Context, mdl model.Model, f Fold, users []int32, inTrain []int32, ks []int, n int, seed uint64) ([]Scores, [][]int32, []float64, []int, error) {
	maxK := slices.Max(ks)
	scores := make([]Scores, len(users))
	lists := make([][]int32, len(users))
	aucs := make([]float64, len(users))
	var ranks [][]int
	if f.Sampled > 0 {
		ranks = make([][]int, len(users))
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []topk.Entry
			var full []int32
			rel := map[int32]bool{}
			var positions []int
			for i := range next {
				u := users[i]
				exclude := excluder(f, u, inTrain)
				buf = mdl.Recommend(u, n, exclude, buf[:0])
				full = full[:0]
				for _, e := range buf {
					full = append(full, e.Index)
				}
				clear(rel)
				for _, it := range f.Test[u] {
					rel[it] = true
				}
				scores[i] = Rank(full, rel, ks)
				lists[i] = slices.Clone(full[:min(maxK, len(full))])
				positions = positions[:0]
				for p, it := range full {
					if rel[it] {
						positions = append(positions, p)
					}
				}
				// Test items missing from the ranking (not candidates) rank
				// last.
				for missing := len(rel) - len(positions); missing > 0; missing-- {
					positions = append(positions, len(full)+missing-1)
				}
				aucs[i] = AUC(positions, len(full)+len(rel)-countIn(rel, full))
				if ranks != nil {
					ranks[i] = sampledRanks(f, u, full, rel, exclude, seed)
				}
			}
		}()
	}
	var err error
	for i := range users {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	var flat []int
	for _, r := range ranks {
		flat = append(flat, r...)
	}
	return scores, lists, aucs, flat, err
}

// sampledRanks returns, for each of the user's test items, how many of
// f.Sampled items drawn (seeded by seed and u) from the candidates the user
// did not have rank above it in the full ranking.
func sampledRanks(f Fold, u int32, full []int32, rel map[int32]bool, exclude func(int32) bool, seed uint64) []int {
	pos := make(map[int32]int, len(full))
	for p, it := range full {
		pos[it] = p
	}
	var pool []int32
	for _, it := range full {
		if !rel[it] && !exclude(it) {
			pool = append(pool, it)
		}
	}
	r := rand.New(rand.NewPCG(seed, uint64(u)+1))
	k := min(f.Sampled, len(pool))
	// A partial Fisher–Yates shuffle draws k distinct items.
	for i := 0; i < k; i++ {
		j := i + r.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	var out []int
	for _, t := range f.Test[u] {
		pt, ok := pos[t]
		if !ok {
			pt = len(full) // not ranked: last
		}
		rank := 0
		for _, s := range pool[:k] {
			if pos[s] < pt {
				rank++
			}
		}
		out = append(out, rank)
	}
	return out
}

// countIn counts the items of list that are in set.
func countIn(set map[int32]bool, list []int32) int {
	n := 0
	for _, it := range list {
		if set[it] {
			n++
		}
	}
	return n
}

// excluder leaves out the user's training and validation items (unless the
// fold counts repeats), and items no training user had (the ranking is over
// the items seen in training). Validation items that lie inside the
// training part (a fold with its own ValidTrain) are training items.
func excluder(f Fold, u int32, inTrain []int32) func(int32) bool {
	var valid []int32
	if f.ValidTrain == nil {
		valid = f.Valid[u]
	}
	return func(i int32) bool {
		return inTrain[i] == 0 || (!f.Repeats && f.Train.Has(u, i)) || slices.Contains(valid, i)
	}
}

// latencies returns quantiles (p10, p25, p50, p75, p90, p99, max) of the
// single-thread time, in milliseconds, of recommending for up to 1,000 of
// the users.
func latencies(mdl model.Model, f Fold, users []int32, inTrain []int32, n int) map[string]float64 {
	sample := users[:min(len(users), 1000)]
	ds := make([]float64, len(sample))
	var buf []topk.Entry
	for i, u := range sample {
		exclude := excluder(f, u, inTrain)
		start := time.Now()
		buf = mdl.Recommend(u, n, exclude, buf[:0])
		ds[i] = float64(time.Since(start).Nanoseconds()) / 1e6
	}
	slices.Sort(ds)
	q := func(p float64) float64 { return ds[int(math.Round(p*float64(len(ds)-1)))] }
	return map[string]float64{"p10": q(0.10), "p25": q(0.25), "p50": q(0.5), "p75": q(0.75), "p90": q(0.9), "p99": q(0.99), "max": q(1)}
}

// throughput returns the wall time of recommending the top n for every user
// on all cores.
func throughput(mdl model.Model, f Fold, users []int32, inTrain []int32, n int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf []topk.Entry
			for i := w; i < len(users); i += workers {
				buf = mdl.Recommend(users[i], n, excluder(f, users[i], inTrain), buf[:0])
			}
		}(w)
	}
	wg.Wait()
	return time.Since(start)
}

// heapPeak records the largest heap in use seen.
type heapPeak struct{ max uint64 }

func (h *heapPeak) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.max = max(h.max, ms.HeapInuse)
}
