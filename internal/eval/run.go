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

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Candidate is a model to evaluate, with its parameters.
type Candidate struct {
	Info   model.Info
	Params json.RawMessage
	// Label names the result (default Info.Name).
	Label string
	// Tune searches Info.Grid on each fold's validation part (see Search)
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
	// Metrics are means over test cases (averaged over folds), by key
	// such as "ndcg@10".
	Metrics map[string]float64 `json:"metrics"`
	// CI95 are percentile-bootstrap 95% intervals of the ranking metrics,
	// from the test cases of all folds.
	CI95         map[string][2]float64 `json:"ci95"`
	TrainSeconds float64               `json:"train_seconds"`
	// LatencyMs is the single-thread time to answer one case, over up to
	// 1,000 test cases of the first fold.
	LatencyMs map[string]float64 `json:"latency_ms"`
	// UsersPerSecond is the all-core throughput of answering the test
	// cases with the top max(K) items.
	UsersPerSecond float64 `json:"users_per_second"`
	// PeakHeapBytes is the largest Go heap seen while fitting and
	// answering.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	// ModelBytes is the size of the model's artifact (see model.Save)
	// fitted on the first fold; 0 for a model that cannot be saved.
	ModelBytes int64 `json:"model_bytes"`
	// TestUsers is the number of test cases (test users for the
	// protocols with one case per user).
	TestUsers int `json:"test_users"`
	// Tuned are the parameters the search chose on each fold, with their
	// validation NDCG at the first K.
	Tuned []Tuned `json:"tuned,omitempty"`
	// Epochs is the number of epochs the model ran on the first fold
	// before stopping, for models trained in epochs (epochTrained); 0
	// for the others. TrainSeconds over it is the time of an epoch.
	Epochs int `json:"epochs,omitempty"`
}

// epochTrained is implemented by models trained in epochs until their
// validation stops improving (the sequence models): EpochsRun says how
// many ran.
type epochTrained interface {
	EpochsRun() int
}

// Tuned is the outcome of a parameter search on one fold.
type Tuned struct {
	Params    json.RawMessage `json:"params"`
	ValidNDCG float64         `json:"valid_ndcg"`
}

// RunOptions configure Run.
type RunOptions struct {
	// Ks are the cut-offs (not empty).
	Ks []int
	// Seed seeds every random choice.
	Seed uint64
	// FullRanking ranks every item with training data for each case and
	// measures AUC (see Protocol.FullRanking).
	FullRanking bool
	// WholeCatalog measures coverage over every item of the index (see
	// Protocol.WholeCatalog).
	WholeCatalog bool
	// Categories, if not nil, gives the categories of an item id, for
	// intra-list diversity.
	Categories func(id string) []string
}

// Run fits every candidate on every fold's training part and measures its
// answers to the fold's cases, at each cut-off in opts.Ks. Every model
// must answer the cases' task.
//
// Besides the ranking metrics it reports, at each K, catalog coverage,
// novelty (mean self-information of the recommended items), the mean number
// of training rows of the recommended items ("popularity@K") and, with
// categories, intra-list diversity; with FullRanking, AUC over each case's
// full ranking; and for folds with Sampled, the sampled hit rate and NDCG.
func Run(ctx context.Context, folds []Fold, cands []Candidate, opts RunOptions) ([]Result, error) {
	if len(opts.Ks) == 0 {
		return nil, fmt.Errorf("eval: no cut-offs")
	}
	ks := opts.Ks
	maxK := slices.Max(ks)
	var results []Result
	for _, c := range cands {
		label := c.Label
		if label == "" {
			label = c.Info.Name
		}
		res := Result{Model: label, Params: c.Params, Metrics: map[string]float64{}, CI95: map[string][2]float64{},
			LatencyMs: map[string]float64{}}
		if len(res.Params) == 0 {
			res.Params = json.RawMessage("{}")
		}
		pooled := make([][]Mean, len(RankingMetrics)) // all cases of all folds
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
		var evalCases int
		var evalTime time.Duration
		for fi, f := range folds {
			if len(f.Cases) == 0 {
				return nil, fmt.Errorf("fold %d has no test cases", fi+1)
			}
			params := c.Params
			if c.Tune && len(c.Info.Grid) > 0 {
				progress(ctx, "fold %d/%d: tuning %s over %d parameter sets on validation", fi+1, len(folds), label, len(c.Info.Grid))
				best, score, err := tune(ctx, c.Info, f, ks[0], opts.Seed, max(1, c.Carves))
				if err != nil {
					return nil, fmt.Errorf("fold %d: %w", fi+1, err)
				}
				params = best
				res.Tuned = append(res.Tuned, Tuned{Params: best, ValidNDCG: score})
			}
			mdl, err := c.Info.New(params, opts.Seed)
			if err != nil {
				return nil, err
			}
			if task := f.Cases[0].Query.Task; !model.Answers(mdl, task) {
				return nil, fmt.Errorf("%s does not answer %s queries", c.Info.Name, task)
			}
			progress(ctx, "fold %d/%d: fitting %s", fi+1, len(folds), label)
			start := time.Now()
			if err := mdl.Fit(ctx, f.Train); err != nil {
				return nil, fmt.Errorf("fit %s on fold %d: %w", c.Info.Name, fi+1, err)
			}
			fit := time.Since(start)
			res.TrainSeconds += fit.Seconds()
			if et, ok := mdl.(epochTrained); ok && fi == 0 {
				res.Epochs = et.EpochsRun()
			}
			peak.sample()
			mx, err := f.Train.Matrix()
			if err != nil {
				return nil, err
			}
			inTrain := mx.ItemUsers()
			catalog := 0
			for _, n := range inTrain {
				if n > 0 {
					catalog++
				}
			}
			n := maxK
			if opts.FullRanking {
				n = catalog
			}
			coverageOf := catalog
			if opts.WholeCatalog {
				coverageOf = f.Train.NumItems()
			}
			a := answerer{m: mdl, f: &f}
			if _, isMatrix := model.AsMatrix(mdl); !isMatrix && f.Train.RowKind() == dataset.ByUser {
				a.rows = mx.Row
			}
			progress(ctx, "fold %d/%d: %s fitted in %s; answering %d cases", fi+1, len(folds), label, took(fit), len(f.Cases))
			scores, lists, aucs, ranks, err := a.rankAll(ctx, ks, n, opts.FullRanking, opts.Seed)
			if err != nil {
				return nil, err
			}
			elapsed, err := a.throughput(maxK)
			if err != nil {
				return nil, err
			}
			evalTime += elapsed
			evalCases += len(f.Cases)
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
			for _, x := range aucs {
				if !math.IsNaN(x) {
					auc.Add(x)
				}
			}
			userCounts := map[int32]int{}
			for i, n := range inTrain {
				userCounts[int32(i)] = int(n)
			}
			trainRows := 0
			for u := 0; u < mx.NumUsers(); u++ {
				if mx.RowPtr[u+1] > mx.RowPtr[u] {
					trainRows++
				}
			}
			var cats map[int32][]string
			if opts.Categories != nil {
				cats = map[int32][]string{}
				for i, id := range f.Train.Items {
					if c := opts.Categories(id); len(c) > 0 {
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
				beyond["coverage"][j] += Coverage(topK, coverageOf) * w
				beyond["novelty"][j] += Novelty(topK, userCounts, trainRows) * w
				beyond["popularity"][j] += MeanPopularity(topK, userCounts) * w
				if cats != nil {
					beyond["diversity"][j] += IntraListDiversity(topK, cats) * w
				}
			}
			if fi == 0 {
				if model.IsPersistent(mdl) {
					size, err := model.Size(c.Info.Name, params, mdl)
					if err != nil {
						return nil, err
					}
					res.ModelBytes = size
				}
				if res.LatencyMs, err = a.latencies(maxK); err != nil {
					return nil, err
				}
			}
		}
		src := rand.NewPCG(opts.Seed, 0x626f6f74)
		for m, name := range RankingMetrics {
			for j, k := range ks {
				res.Metrics[Key(name, k)] = foldMeans[m][j]
				lo, hi := pooled[m][j].CI(0.95, 1000, src)
				res.CI95[Key(name, k)] = [2]float64{lo, hi}
			}
		}
		for name, vals := range beyond {
			if name == "diversity" && opts.Categories == nil {
				continue
			}
			for j, k := range ks {
				res.Metrics[Key(name, k)] = vals[j]
			}
		}
		if opts.FullRanking {
			res.Metrics["auc"] = auc.Value()
		}
		for name, ms := range sampled {
			for j, k := range ks {
				if ms[j].N() > 0 {
					res.Metrics[Key(name, k)] = ms[j].Value()
				}
			}
		}
		// A metric that is undefined (novelty of lists that are all
		// empty, AUC without negatives) is left out: JSON has no NaN.
		for key, v := range res.Metrics {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				delete(res.Metrics, key)
			}
		}
		for key, ci := range res.CI95 {
			if math.IsNaN(ci[0]) || math.IsNaN(ci[1]) {
				delete(res.CI95, key)
			}
		}
		res.TestUsers = evalCases
		if evalTime > 0 {
			res.UsersPerSecond = float64(evalCases) / evalTime.Seconds()
		}
		res.PeakHeapBytes = peak.max
		results = append(results, res)
	}
	return results, nil
}

// answerer answers a fold's cases with a fitted model.
type answerer struct {
	m model.Model
	f *Fold
	// rows, when set, gives a training shopper's matrix row, for a model
	// that is not a matrix model and a case that has no history of its
	// own: the history is then the shopper's training items.
	rows func(u int32) ([]int32, []float32)
}

// query returns case i's query asking for n items.
func (a *answerer) query(i, n int) model.Query {
	q := a.f.Cases[i].Query
	q.N = n
	if a.rows != nil && q.History == nil && q.User >= 0 {
		items, weights := a.rows(q.User)
		q.History = make([]model.Interaction, len(items))
		for k := range items {
			q.History[k] = model.Interaction{Item: items[k], Weight: weights[k]}
		}
	}
	return q
}

// rankAll answers every case on all cores, scores the top of each answer
// at ks, and (full) each case's AUC over its whole ranking. It returns the
// lists cut at the largest K. With f.Sampled set, it also returns, for
// every relevant item, its rank among f.Sampled items sampled (seeded) from
// those the case allows that are not relevant.
func (a *answerer) rankAll(ctx context.Context, ks []int, n int, full bool, seed uint64) ([]Scores, [][]int32, []float64, []int, error) {
	cases := a.f.Cases
	maxK := slices.Max(ks)
	scores := make([]Scores, len(cases))
	lists := make([][]int32, len(cases))
	aucs := make([]float64, len(cases))
	var ranks [][]int
	if a.f.Sampled > 0 {
		ranks = make([][]int, len(cases))
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []topk.Entry
			var list []int32
			rel := map[int32]bool{}
			var positions []int
			for i := range next {
				if errs[w] != nil {
					continue
				}
				q := a.query(i, n)
				var err error
				if buf, err = a.m.Answer(&q, buf[:0]); err != nil {
					errs[w] = fmt.Errorf("case %d: %w", i, err)
					continue
				}
				list = list[:0]
				for _, e := range buf {
					list = append(list, e.Index)
				}
				clear(rel)
				for _, it := range cases[i].Relevant {
					rel[it] = true
				}
				scores[i] = Rank(list, rel, ks)
				lists[i] = slices.Clone(list[:min(maxK, len(list))])
				aucs[i] = math.NaN()
				if full {
					positions = positions[:0]
					for p, it := range list {
						if rel[it] {
							positions = append(positions, p)
						}
					}
					// Relevant items missing from the ranking (not
					// candidates) rank last.
					for missing := len(rel) - len(positions); missing > 0; missing-- {
						positions = append(positions, len(list)+missing-1)
					}
					aucs[i] = AUC(positions, len(list)+len(rel)-countIn(rel, list))
				}
				if ranks != nil {
					ranks[i] = sampledRanks(a.f.Sampled, &q, list, rel, cases[i].Relevant, seed)
				}
			}
		}()
	}
	var err error
	for i := range cases {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, nil, nil, nil, e
		}
	}
	var flat []int
	for _, r := range ranks {
		flat = append(flat, r...)
	}
	return scores, lists, aucs, flat, err
}

// sampledRanks returns, for each relevant item, how many of k items drawn
// (seeded by seed and the case's user) from the ranked items the query
// allows that are not relevant rank above it.
func sampledRanks(k int, q *model.Query, full []int32, rel map[int32]bool, relevant []int32, seed uint64) []int {
	pos := make(map[int32]int, len(full))
	for p, it := range full {
		pos[it] = p
	}
	var pool []int32
	for _, it := range full {
		if !rel[it] && q.Allowed(it) {
			pool = append(pool, it)
		}
	}
	r := rand.New(rand.NewPCG(seed, uint64(q.User)+1))
	k = min(k, len(pool))
	// A partial Fisher–Yates shuffle draws k distinct items.
	for i := 0; i < k; i++ {
		j := i + r.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	var out []int
	for _, t := range relevant {
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

// latencies returns quantiles (p10, p25, p50, p75, p90, p99, max) of the
// single-thread time, in milliseconds, of answering up to 1,000 of the
// cases with n items.
func (a *answerer) latencies(n int) (map[string]float64, error) {
	sample := min(len(a.f.Cases), 1000)
	ds := make([]float64, sample)
	var buf []topk.Entry
	for i := range sample {
		q := a.query(i, n)
		start := time.Now()
		var err error
		if buf, err = a.m.Answer(&q, buf[:0]); err != nil {
			return nil, err
		}
		ds[i] = float64(time.Since(start).Nanoseconds()) / 1e6
	}
	slices.Sort(ds)
	qt := func(p float64) float64 { return ds[int(math.Round(p*float64(len(ds)-1)))] }
	return map[string]float64{"p10": qt(0.10), "p25": qt(0.25), "p50": qt(0.5), "p75": qt(0.75), "p90": qt(0.9), "p99": qt(0.99), "max": qt(1)}, nil
}

// throughput returns the wall time of answering every case with the top n
// on all cores.
func (a *answerer) throughput(n int) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf []topk.Entry
			for i := w; i < len(a.f.Cases); i += workers {
				q := a.query(i, n)
				var err error
				if buf, err = a.m.Answer(&q, buf[:0]); err != nil {
					errs[w] = err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// heapPeak records the largest heap in use seen.
type heapPeak struct{ max uint64 }

func (h *heapPeak) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.max = max(h.max, ms.HeapInuse)
}
