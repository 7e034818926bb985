package eval_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	protocols "github.com/tailorhq/tailor/internal/protocol/all"
	"github.com/tailorhq/tailor/internal/topk"
)

// synthetic makes users×items rating events: user u rated item i when
// (u+i)%3 != 0, with rating 1 + (u*i)%5.
func synthetic(users, items int) *dataset.Dataset {
	var events []tailor.Event
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := 0; u < users; u++ {
		for i := 0; i < items; i++ {
			if (u+i)%3 == 0 {
				continue
			}
			v := float64(1 + (u*i)%5)
			events = append(events, tailor.Event{ID: fmt.Sprintf("%d-%d", u, i), UserID: tailor.UserID(fmt.Sprint("u", u)),
				ItemID: tailor.ItemID(fmt.Sprint("i", i)), Type: tailor.Rating, Value: &v, Timestamp: t0.Add(time.Duration(u*items+i) * time.Minute)})
		}
	}
	return dataset.FromEvents(events, nil)
}

func split(t *testing.T, name string, d *dataset.Dataset, opts eval.Options) []eval.Fold {
	t.Helper()
	p, err := protocols.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	folds, err := p.Split(context.Background(), d, opts.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	return folds
}

// matrixModels are the candidates of every registered matrix model.
func matrixModels() []eval.Candidate {
	var cands []eval.Candidate
	for _, info := range all.Models() {
		if m, err := info.New(nil, 1); err == nil {
			if _, ok := model.AsMatrix(m); ok {
				cands = append(cands, eval.Candidate{Info: info})
			}
		}
	}
	return cands
}

func TestRunSynthetic(t *testing.T) {
	folds := split(t, "kfold", synthetic(30, 20), eval.Options{Seed: 1, Folds: 3})
	cands := matrixModels()
	res, err := eval.Run(context.Background(), folds, cands, eval.RunOptions{Ks: []int{5, 10}, Seed: 1, FullRanking: true,
		Categories: func(id string) []string { return []string{"genre" + id[len(id)-1:]} }}) // items ending in the same digit share a genre
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(cands) {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		for _, key := range []string{"ndcg@5", "precision@10", "recall@10", "map@5", "mrr@10", "hit@10", "coverage@10"} {
			v, ok := r.Metrics[key]
			if !ok || v < 0 || v > 1 {
				t.Errorf("%s %s = %v (present %v)", r.Model, key, v, ok)
			}
		}
		for _, key := range []string{"novelty@10", "popularity@5", "diversity@10", "auc"} {
			if v, ok := r.Metrics[key]; !ok || math.IsNaN(v) || v < 0 {
				t.Errorf("%s %s = %v (present %v)", r.Model, key, v, ok)
			}
		}
		if auc := r.Metrics["auc"]; auc > 1 {
			t.Errorf("%s auc = %v", r.Model, auc)
		}
		ci := r.CI95["ndcg@10"]
		if !(ci[0] <= r.Metrics["ndcg@10"]+1e-9 && r.Metrics["ndcg@10"] <= ci[1]+1e-9) {
			t.Errorf("%s: ndcg@10 %v outside its CI %v", r.Model, r.Metrics["ndcg@10"], ci)
		}
		if r.TestUsers == 0 || r.UsersPerSecond <= 0 || r.PeakHeapBytes == 0 || r.LatencyMs["p50"] <= 0 {
			t.Errorf("%s: %+v", r.Model, r)
		}
	}
	// A model that does not answer the cases' task is an error.
	fbt, _ := all.Lookup("fbt")
	if _, err := eval.Run(context.Background(), folds, []eval.Candidate{{Info: fbt}}, eval.RunOptions{Ks: []int{5}}); err == nil ||
		!strings.Contains(err.Error(), "personal") {
		t.Errorf("fbt on personal cases: err = %v", err)
	}
}

func TestWriteHTML(t *testing.T) {
	folds := split(t, "kfold", synthetic(20, 15), eval.Options{Seed: 1, Folds: 2})
	res, err := eval.Run(context.Background(), folds, matrixModels(), eval.RunOptions{Ks: []int{5, 10}, Seed: 1, FullRanking: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := eval.WriteHTML(&b, eval.Report{Dataset: "synthetic <data>", Protocol: "kfold", Seed: 1, Folds: 2, Ks: []int{5, 10}, Results: res}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"<!doctype html>", "synthetic &lt;data&gt;", "ndcg against K", "recommendation latency", "accuracy against latency", "itemknn", "ndcg@10"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := strings.Count(page, "<svg"); n != 6 {
		t.Errorf("%d charts, want 6", n)
	}
	if strings.Contains(page, "http://") && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("the page loads something from the network")
	}
	if err := eval.WriteHTML(&b, eval.Report{}); err == nil {
		t.Error("an empty report was written")
	}
	// A report without cut-offs (the price backtest) has a table of its
	// metrics and no ranking charts.
	b.Reset()
	err = eval.WriteHTML(&b, eval.Report{Dataset: "d", Protocol: "price-backtest", Folds: 1, Results: []eval.Result{
		{Model: "elasticity", Metrics: map[string]float64{"wape": 0.8, "bias": -0.1}}}})
	if err != nil || !strings.Contains(b.String(), "wape") || !strings.Contains(b.String(), "0.8000") {
		t.Errorf("backtest report: %v", err)
	}
}

func TestTune(t *testing.T) {
	d := synthetic(40, 30)
	knn, _ := all.Lookup("itemknn")
	for _, protocol := range []string{"kfold", "loo"} {
		folds := split(t, protocol, d, eval.Options{Seed: 1, Folds: 2})
		var steps []string
		ctx := eval.WithProgress(context.Background(), func(s string) { steps = append(steps, s) })
		res, err := eval.Run(ctx, folds, []eval.Candidate{{Info: knn, Tune: true}}, eval.RunOptions{Ks: []int{5}, Seed: 1, FullRanking: true})
		if err != nil {
			t.Fatal(err)
		}
		// The progress says every step: per fold the search, each
		// parameter set's score, the fit and the answers.
		want := len(folds) * (3 + len(knn.Grid))
		if len(steps) != want || !strings.HasPrefix(steps[0], fmt.Sprintf("fold 1/%d: tuning itemknn over", len(folds))) ||
			!strings.Contains(steps[1], "validation ndcg@5") || !strings.HasPrefix(steps[len(steps)-2], fmt.Sprintf("fold %d/%d: fitting itemknn", len(folds), len(folds))) ||
			!strings.Contains(steps[len(steps)-1], "answering") {
			t.Errorf("%s: %d progress steps, want %d: %q", protocol, len(steps), want, steps)
		}
		if len(res[0].Tuned) != len(folds) {
			t.Fatalf("%s: %d tuned folds, want %d", protocol, len(res[0].Tuned), len(folds))
		}
		for _, tu := range res[0].Tuned {
			if !slices.ContainsFunc(knn.Grid, func(g json.RawMessage) bool { return string(g) == string(tu.Params) }) {
				t.Errorf("%s: chose %s, not in the grid", protocol, tu.Params)
			}
			if tu.ValidNDCG < 0 || tu.ValidNDCG > 1 {
				t.Errorf("%s: validation ndcg %v", protocol, tu.ValidNDCG)
			}
		}
	}
	// The carved validation part never overlaps the inner training part,
	// and together they are the fold's training part.
	f := split(t, "kfold", d, eval.Options{Seed: 1, Folds: 2})[0]
	v, err := eval.Validation(context.Background(), "itemknn", f, 1)
	if err != nil {
		t.Fatal(err)
	}
	train, _ := v.Train.Matrix()
	fold, _ := f.Train.Matrix()
	held := 0
	for _, c := range v.Cases {
		u := c.Query.User
		for _, i := range c.Relevant {
			held++
			if train.Has(u, i) || !fold.Has(u, i) {
				t.Fatalf("user %d item %d: in inner train %v, in fold train %v", u, i, train.Has(u, i), fold.Has(u, i))
			}
		}
	}
	if held == 0 || train.NNZ()+held != fold.NNZ() {
		t.Errorf("held %d, inner train %d, fold train %d", held, train.NNZ(), fold.NNZ())
	}
}

// popOrAnti ranks by training popularity, or against it when anti is set:
// on data where popular items are what users take, the first is far better.
type popOrAnti struct {
	Anti bool `json:"anti"`
	ID   int  `json:"id"`
	pop  []float32
}

func (m *popOrAnti) Fit(_ context.Context, d *feature.Dataset) error {
	m.pop = make([]float32, d.NumItems())
	for i, c := range d.ItemUsers() {
		m.pop[i] = float32(c)
		if m.Anti {
			m.pop[i] = -m.pop[i]
		}
	}
	return nil
}

func (m *popOrAnti) Recommend(_ int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry {
	return append(dst, topk.Select(m.pop, n, exclude)...)
}

func popOrAntiInfo() model.Info {
	var grid []json.RawMessage
	for i := 0; i < 8; i++ {
		grid = append(grid, json.RawMessage(fmt.Sprintf(`{"anti":true,"id":%d}`, i)))
	}
	grid = append(grid, json.RawMessage(`{"anti":false,"id":8}`))
	return model.MatrixInfo(model.MatrixKind{Name: "pop-or-anti", Grid: grid, New: func(p json.RawMessage, _ uint64) (model.Matrix, error) {
		m := &popOrAnti{}
		return m, json.Unmarshal(p, m)
	}})
}

// skewed is a fold of 2,000 users; user u has the items below 5 + u%30
// of 40, so low indices are popular. It has one (unused) test case: the
// validation part is carved from its training part.
func skewed(t *testing.T, users int) eval.Fold {
	t.Helper()
	var events []tailor.Event
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := 0; u < users; u++ {
		for i := 0; i < 5+u%30; i++ {
			events = append(events, tailor.Event{UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: tailor.ItemID(fmt.Sprint("i", i)), Type: tailor.View, Timestamp: t0})
		}
	}
	d := dataset.FromEvents(events, nil)
	return eval.Fold{Train: d, Cases: []eval.Case{{Query: model.Query{Task: model.TaskPersonal, User: 0}, Relevant: []int32{0}}}}
}

func TestHalving(t *testing.T) {
	f := skewed(t, 2000)
	info := popOrAntiInfo()
	best, trials, err := eval.Halving(context.Background(), info, f, 10, 1, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(best.Params) != `{"anti":false,"id":8}` || best.UsersShare != 1 {
		t.Errorf("best = %s on share %v", best.Params, best.UsersShare)
	}
	// 9 candidates on a ninth of the users, 3 on a third, 1 on all.
	perRung := map[int]int{}
	shares := map[int]float64{}
	for _, tr := range trials {
		perRung[tr.Rung]++
		shares[tr.Rung] = tr.UsersShare
	}
	if perRung[1] != 9 || perRung[2] != 3 || perRung[3] != 1 || len(perRung) != 3 {
		t.Errorf("trials per round = %v", perRung)
	}
	if shares[1] != 1.0/9 || shares[2] != 1.0/3 || shares[3] != 1 {
		t.Errorf("shares = %v", shares)
	}
	for r := 1; r <= 3; r++ {
		if !slices.ContainsFunc(trials, func(tr eval.Trial) bool { return tr.Rung == r && string(tr.Params) == `{"anti":false,"id":8}` }) {
			t.Errorf("round %d lacks the good candidate", r)
		}
	}
	_, again, err := eval.Halving(context.Background(), info, f, 10, 1, 0, 3)
	if err != nil || !slices.EqualFunc(trials, again, func(a, b eval.Trial) bool {
		return string(a.Params) == string(b.Params) && a.ValidNDCG == b.ValidNDCG
	}) {
		t.Errorf("a second run differs (err %v)", err)
	}
	if _, few, err := eval.Halving(context.Background(), info, f, 10, 1, time.Nanosecond, 3); err != nil || len(few) != 1 {
		t.Errorf("a 1 ns budget ran %d trials (err %v)", len(few), err)
	}
	if _, _, err := eval.Halving(context.Background(), info, f, 10, 1, 0, 1); err == nil {
		t.Error("eta 1 accepted")
	}
	// Few users (a third would be under 200): one round, all on all.
	if _, one, err := eval.Halving(context.Background(), info, skewed(t, 300), 10, 1, 0, 3); err != nil || len(one) != 9 || one[0].UsersShare != 1 {
		t.Errorf("small data: %d trials, err %v", len(one), err)
	}
	// Folds whose cases are not shoppers' cannot be shared out by shopper.
	basket := f
	basket.Cases = []eval.Case{{Query: model.Query{Task: model.TaskBasket, User: -1}, Relevant: []int32{0}}}
	basket.Validation = func(context.Context) (*eval.Fold, error) { b := basket; b.Validation = nil; return &b, nil }
	if _, _, err := eval.Halving(context.Background(), info, basket, 10, 1, 0, 3); err == nil {
		t.Error("halving over basket cases: no error")
	}
}

// TestSearchCarves checks that a search over several validation carves
// scores each parameter set by its mean over the single-carve searches of
// seeds seed, seed+1, …, and rejects fewer than one carve.
func TestSearchCarves(t *testing.T) {
	f := split(t, "kfold", synthetic(60, 30), eval.Options{Seed: 1, Folds: 2})[0]
	info, _ := all.Lookup("itemknn")
	byParams := func(ts []eval.Trial) map[string]float64 {
		out := map[string]float64{}
		for _, tr := range ts {
			out[string(tr.Params)] = tr.ValidNDCG
		}
		return out
	}
	_, one, err := eval.Search(context.Background(), info, f, 5, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, two, err := eval.Search(context.Background(), info, f, 5, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	best, both, err := eval.Search(context.Background(), info, f, 5, 1, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != len(info.Grid) {
		t.Fatalf("%d trials, grid of %d", len(both), len(info.Grid))
	}
	a, b, mean := byParams(one), byParams(two), byParams(both)
	differ := false
	for p, v := range mean {
		if want := (a[p] + b[p]) / 2; math.Abs(v-want) > 1e-12 {
			t.Errorf("%s: two carves %v, mean of one-carve searches %v", p, v, want)
		}
		differ = differ || a[p] != b[p]
		if v > best.ValidNDCG {
			t.Errorf("%s (%v) beats the best %s (%v)", p, v, best.Params, best.ValidNDCG)
		}
	}
	if !differ {
		t.Error("the two carves scored every parameter set alike: they are not different splits")
	}
	if _, _, err := eval.Search(context.Background(), info, f, 5, 1, 0, 0); err == nil {
		t.Error("zero carves accepted")
	}
}

// TestSearchShopProtocol tunes a session model on session-next's own
// validation part (the window before the cutoff).
func TestSearchShopProtocol(t *testing.T) {
	t0 := time.Date(2011, 1, 1, 9, 0, 0, 0, time.UTC)
	var events []tailor.Event
	for day := range 90 {
		for s := range 5 {
			for j := range 3 {
				events = append(events, tailor.Event{ID: fmt.Sprint(day, s, j), UserID: tailor.UserID(fmt.Sprint("u", s)), ItemID: tailor.ItemID(fmt.Sprint(s, (day+j)%6)),
					Type: tailor.Purchase, OrderID: fmt.Sprint(day, "-", s), Timestamp: t0.AddDate(0, 0, day)})
			}
		}
	}
	f := split(t, "session-next", dataset.FromEvents(events, nil), eval.Options{Cutoff: t0.AddDate(0, 0, 60), Seed: 1})[0]
	stan, _ := all.Lookup("stan")
	best, trials, err := eval.Search(context.Background(), stan, f, 20, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != len(stan.Grid) || best.ValidNDCG <= 0 {
		t.Errorf("best %s (%v) of %d trials", best.Params, best.ValidNDCG, len(trials))
	}
}

// nothing answers every query with no items.
type nothing struct{}

func (nothing) Fit(context.Context, *dataset.Dataset) error { return nil }
func (nothing) Tasks() []model.Task                         { return []model.Task{model.TaskPersonal} }
func (nothing) Answer(_ *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	return dst, nil
}

// TestEmptyAnswersEncode: a model that answers nothing has metrics of 0
// where they are defined and none where they are not (novelty of empty
// lists), so its result encodes as JSON (which has no NaN).
func TestEmptyAnswersEncode(t *testing.T) {
	folds := split(t, "kfold", synthetic(30, 20), eval.Options{Seed: 1, Folds: 3})
	info := model.Info{Name: "nothing", New: func(json.RawMessage, uint64) (model.Model, error) { return nothing{}, nil }}
	res, err := eval.Run(context.Background(), folds, []eval.Candidate{{Info: info}}, eval.RunOptions{Ks: []int{5}, Seed: 1, FullRanking: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("encode: %v", err)
	}
	if v, ok := res[0].Metrics["ndcg@5"]; !ok || v != 0 {
		t.Errorf("ndcg@5 = %v (present %v)", v, ok)
	}
	if _, ok := res[0].Metrics["novelty@5"]; ok {
		t.Error("novelty of empty lists is reported")
	}
}
