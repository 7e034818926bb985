package eval

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
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/shareddata"
)

// synthetic makes users×items rating events: user u rated item i when
// (u+i)%3 != 0, with rating 1 + (u*i)%5.
func synthetic(users, items int) *Data {
	d := &Data{Format: "jsonl", Items: map[tailor.ItemID]tailor.Item{}}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := 0; u < users; u++ {
		for i := 0; i < items; i++ {
			if (u+i)%3 == 0 {
				continue
			}
			v := float64(1 + (u*i)%5)
			d.Events = append(d.Events, tailor.Event{ID: fmt.Sprintf("%d-%d", u, i), UserID: tailor.UserID(fmt.Sprint("u", u)),
				ItemID: tailor.ItemID(fmt.Sprint("i", i)), Type: tailor.Rating, Value: &v, Timestamp: t0.Add(time.Duration(u*items+i) * time.Minute)})
		}
	}
	return d
}

func TestKfold(t *testing.T) {
	d := synthetic(30, 20)
	folds, err := Split("kfold", d, Options{Seed: 7, Folds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != 5 {
		t.Fatalf("%d folds", len(folds))
	}
	seen := map[[2]int32]int{}
	for _, f := range folds {
		for u, items := range f.Test {
			for _, i := range items {
				if f.Train.Has(u, i) {
					t.Fatalf("pair (%d, %d) is in train and test", u, i)
				}
				seen[[2]int32{u, i}]++
			}
		}
		if f.Train.NNZ()+len(flatten(f.Test)) != len(d.Events) {
			t.Errorf("train %d + test %d != %d", f.Train.NNZ(), len(flatten(f.Test)), len(d.Events))
		}
	}
	if len(seen) != len(d.Events) {
		t.Errorf("%d pairs tested, want every one of %d", len(seen), len(d.Events))
	}
	for p, n := range seen {
		if n != 1 {
			t.Fatalf("pair %v tested %d times", p, n)
		}
	}
	again, _ := Split("kfold", d, Options{Seed: 7, Folds: 5})
	if fmt.Sprint(again[0].Test) != fmt.Sprint(folds[0].Test) {
		t.Error("the same seed gave another split")
	}
	other, _ := Split("kfold", d, Options{Seed: 8, Folds: 5})
	if fmt.Sprint(other[0].Test) == fmt.Sprint(folds[0].Test) {
		t.Error("another seed gave the same split")
	}
}

func flatten(m map[int32][]int32) []int32 {
	var out []int32
	for _, v := range m {
		out = append(out, v...)
	}
	return out
}

func TestRecbole(t *testing.T) {
	d := synthetic(40, 30)
	folds, err := Split("recbole", d, Options{Seed: 3, MinRating: 3, Core: 5})
	if err != nil {
		t.Fatal(err)
	}
	f := folds[0]
	for u := int32(0); u < int32(f.Train.NumUsers()); u++ {
		items, _ := f.Train.Row(u)
		n := len(items) + len(f.Valid[u]) + len(f.Test[u])
		if n < 5 {
			t.Errorf("user %d kept with %d interactions, below the 5-core", u, n)
		}
		if len(f.Valid[u]) != n/10 || len(f.Test[u]) != n/10 {
			t.Errorf("user %d: %d interactions, valid %d test %d; want %d each", u, n, len(f.Valid[u]), len(f.Test[u]), n/10)
		}
		for _, i := range append(f.Valid[u], f.Test[u]...) {
			if f.Train.Has(u, i) {
				t.Errorf("user %d item %d in train and held out", u, i)
			}
		}
	}
	// Ratings below 3 are gone: count what should be kept.
	kept := 0
	for _, e := range d.Events {
		if *e.Value >= 3 {
			kept++
		}
	}
	if total := f.Train.NNZ() + len(flatten(f.Valid)) + len(flatten(f.Test)); total > kept {
		t.Errorf("%d interactions kept, but only %d ratings are ≥ 3", total, kept)
	}
}

func TestSplitErrors(t *testing.T) {
	d := synthetic(5, 5)
	tests := map[string]Options{"nope": {}, "ml100k-folds": {}, "recbole": {Core: 100}}
	for p, o := range tests {
		if _, err := Split(p, d, o); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
	if _, err := Split("kfold", d, Options{Folds: 1}); err == nil {
		t.Error("kfold with one fold: no error")
	}
	for _, spec := range []string{"movielens", "xml:file", "movielens:/no/such/dir"} {
		if _, err := Load(context.Background(), spec); err == nil {
			t.Errorf("Load(%q): no error", spec)
		}
	}
}

func TestRunSynthetic(t *testing.T) {
	d := synthetic(30, 20)
	folds, err := Split("kfold", d, Options{Seed: 1, Folds: 3})
	if err != nil {
		t.Fatal(err)
	}
	var cands []Candidate
	for _, m := range all.Models() {
		cands = append(cands, Candidate{Info: m})
	}
	res, err := Run(context.Background(), folds, cands, []int{5, 10}, 1, func(id string) []string {
		return []string{"genre" + id[len(id)-1:]} // items ending in the same digit share a genre
	})
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
		if r.TestUsers == 0 || r.UsersPerSecond <= 0 || r.PeakHeapBytes == 0 {
			t.Errorf("%s: %+v", r.Model, r)
		}
	}
}

// TestPopularityAnchors checks the split and metric code against the
// reference figures of ../shared/REFERENCE.md for the popularity model.
func TestPopularityAnchors(t *testing.T) {
	path := shareddata.Path(t, "ml-100k")
	d, err := Load(context.Background(), "movielens:"+path)
	if err != nil {
		t.Fatal(err)
	}
	pop, _ := all.Lookup("popular")
	tests := []struct {
		protocol        string
		ndcg, precision float64
		tol             float64
	}{
		{"kfold", 0.2181, 0.1898, 0.01},        // random folds: the seed moves it a little
		{"ml100k-folds", 0.2507, 0.2224, 1e-3}, // published folds: exact
	}
	for _, tt := range tests {
		folds, err := Split(tt.protocol, d, Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), folds, []Candidate{{Info: pop}}, []int{10}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := res[0].Metrics
		if diff := m["ndcg@10"] - tt.ndcg; diff > tt.tol || diff < -tt.tol {
			t.Errorf("%s: popular ndcg@10 %.4f, reference %.4f", tt.protocol, m["ndcg@10"], tt.ndcg)
		}
		if diff := m["precision@10"] - tt.precision; diff > tt.tol || diff < -tt.tol {
			t.Errorf("%s: popular precision@10 %.4f, reference %.4f", tt.protocol, m["precision@10"], tt.precision)
		}
	}
}

func TestLeaveOneOut(t *testing.T) {
	d := synthetic(10, 6)
	folds, err := Split("loo", d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := folds[0]
	for u := int32(0); u < int32(f.Train.NumUsers()); u++ {
		test, valid := f.Test[u], f.Valid[u]
		if len(test) != 1 || len(valid) != 1 {
			t.Fatalf("user %d: test %v valid %v", u, test, valid)
		}
		// In synthetic, a user's events are in item order in time: the
		// last two items are test and valid.
		items, _ := f.Train.Row(u)
		maxTrain := slices.Max(itemNames(f, items))
		if name(f, test[0]) <= name(f, valid[0]) || name(f, valid[0]) <= maxTrain {
			t.Errorf("user %d: train up to %s, valid %s, test %s", u, maxTrain, name(f, valid[0]), name(f, test[0]))
		}
	}
}

func name(f Fold, i int32) string { return f.Train.Items[i] }

func itemNames(f Fold, items []int32) []string {
	var out []string
	for _, i := range items {
		out = append(out, name(f, i))
	}
	return out
}

func TestTemporal(t *testing.T) {
	t0 := time.Date(2011, 8, 1, 10, 0, 0, 0, time.UTC)
	price := 2.0
	zero := 0.0
	ev := func(u, i string, day int, typ tailor.EventType, p *float64) tailor.Event {
		return tailor.Event{ID: fmt.Sprint(u, i, day, typ), UserID: tailor.UserID(u), ItemID: tailor.ItemID(i), Type: typ,
			UnitPrice: p, Timestamp: t0.AddDate(0, 0, day)}
	}
	d := &Data{Format: "online-retail", Items: map[tailor.ItemID]tailor.Item{"POST": {ID: "POST", NonProduct: true}}, Events: []tailor.Event{
		ev("a", "x", 0, tailor.Purchase, &price),
		ev("a", "y", 1, tailor.Purchase, &price),
		ev("a", "POST", 2, tailor.Purchase, &price), // not a product
		ev("b", "x", 3, tailor.Purchase, &price),
		ev("a", "x", 5, tailor.Purchase, &price),     // a repeat in the validation window
		ev("a", "x", 40, tailor.Purchase, &price),    // a repeat
		ev("a", "z", 41, tailor.Purchase, &price),    // new to a
		ev("a", "w", 42, tailor.Purchase, &zero),     // free: not a purchase that counts
		ev("a", "v", 43, tailor.Return, &price),      // not a purchase
		ev("c", "x", 44, tailor.Purchase, &price),    // c is not a returning user
		ev("b", "POST", 45, tailor.Purchase, &price), // not a product
	}}
	cutoff := t0.AddDate(0, 0, 31)
	// Validation is the 30 days before the cutoff (days 1 to 30), trained
	// on day 0 (a–x): a returns with y, and x again.
	tests := []struct {
		repeats   string
		want      map[string][]string
		wantValid map[string][]string
	}{
		{"exclude", map[string][]string{"a": {"z"}}, map[string][]string{"a": {"y"}}},
		{"include", map[string][]string{"a": {"x", "z"}}, map[string][]string{"a": {"y", "x"}}},
	}
	for _, tt := range tests {
		folds, err := Split("temporal", d, Options{Cutoff: cutoff, Repeats: tt.repeats})
		if err != nil {
			t.Fatal(err)
		}
		f := folds[0]
		got := map[string][]string{}
		for u, items := range f.Test {
			for _, i := range items {
				got[f.Train.Users[u]] = append(got[f.Train.Users[u]], name(f, i))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: test = %v, want %v", tt.repeats, got, tt.want)
		}
		gotValid := map[string][]string{}
		for u, items := range f.Valid {
			for _, i := range items {
				gotValid[f.Train.Users[u]] = append(gotValid[f.Train.Users[u]], name(f, i))
			}
		}
		if fmt.Sprint(gotValid) != fmt.Sprint(tt.wantValid) {
			t.Errorf("%s: valid = %v, want %v", tt.repeats, gotValid, tt.wantValid)
		}
		if f.ValidTrain == nil || f.ValidTrain.NNZ() != 1 {
			t.Errorf("%s: validation training part %v, want a–x only", tt.repeats, f.ValidTrain)
		}
		if f.Repeats != (tt.repeats == "include") {
			t.Errorf("%s: Repeats = %v", tt.repeats, f.Repeats)
		}
		if f.Train.NNZ() != 3 {
			t.Errorf("%s: %d training pairs, want 3 (a–x, a–y, b–x)", tt.repeats, f.Train.NNZ())
		}
	}
	if _, err := Split("temporal", d, Options{Cutoff: cutoff, Repeats: "sometimes"}); err == nil {
		t.Error("bad repeats accepted")
	}
}

// TestOnlineRetailAnchors checks the temporal protocol on the full Online
// Retail file against ../shared/REFERENCE.md (cutoff 2011-09-01, @20).
func TestOnlineRetailAnchors(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	d := loadOnlineRetail(t)
	pop, _ := all.Lookup("popular")
	knn, _ := all.Lookup("itemknn")
	again, _ := all.Lookup("buyagain")
	ease, _ := all.Lookup("ease")
	tests := []struct {
		repeats string
		model   string
		recall  float64
		ndcg    float64
		hit     float64
	}{
		{"exclude", "popular", 0.0327, 0.0450, 0.4151},
		{"exclude", "itemknn", 0.0662, 0.0851, 0.5502},
		{"include", "popular", 0.0520, 0.0990, 0.6391},
		{"include", "itemknn", 0.1216, 0.1954, 0.7556},
		{"include", "buyagain", 0.2133, 0.3339, 0.8693},
		{"exclude", "ease", 0.0850, 0.1081, 0.6450}, // λ 400, as the reference chose on the month before the cutoff
	}
	for _, repeats := range []string{"exclude", "include"} {
		folds, err := Split("temporal", d, Options{Cutoff: time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), Repeats: repeats})
		if err != nil {
			t.Fatal(err)
		}
		cands := []Candidate{{Info: pop}, {Info: knn}, {Info: again}}
		if repeats == "exclude" {
			cands = append(cands, Candidate{Info: ease, Params: json.RawMessage(`{"lambda":400}`)})
		}
		res, err := Run(context.Background(), folds, cands, []int{20}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			if tt.repeats != repeats {
				continue
			}
			for _, r := range res {
				if r.Model != tt.model {
					continue
				}
				for _, c := range []struct {
					key       string
					got, want float64
				}{{"recall@20", r.Metrics["recall@20"], tt.recall}, {"ndcg@20", r.Metrics["ndcg@20"], tt.ndcg}, {"hit@20", r.Metrics["hit@20"], tt.hit}} {
					if d := c.got - c.want; d > 0.003 || d < -0.003 {
						t.Errorf("%s %s %s = %.4f, reference %.4f", repeats, tt.model, c.key, c.got, c.want)
					}
				}
			}
		}
	}
}

func TestLooSampled(t *testing.T) {
	d := synthetic(40, 150)
	folds, err := Split("loo-sampled", d, Options{Seed: 2, Negatives: 20})
	if err != nil {
		t.Fatal(err)
	}
	if folds[0].Sampled != 20 || len(folds[0].Test) != 40 {
		t.Fatalf("fold: sampled %d, %d test users", folds[0].Sampled, len(folds[0].Test))
	}
	knn, _ := all.Lookup("itemknn")
	res, err := Run(context.Background(), folds, []Candidate{{Info: knn}}, []int{5}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := res[0].Metrics
	sh, ok := m["sampled_hit@5"]
	if !ok || sh < m["hit@5"] || sh > 1 {
		t.Errorf("sampled_hit@5 = %v (present %v), full hit@5 = %v: ranking among 20 cannot be harder", sh, ok, m["hit@5"])
	}
	if _, err := Split("loo-sampled", d, Options{Negatives: -1}); err == nil {
		t.Error("negative negatives accepted")
	}
}

func TestWriteHTML(t *testing.T) {
	d := synthetic(20, 15)
	folds, err := Split("kfold", d, Options{Seed: 1, Folds: 2})
	if err != nil {
		t.Fatal(err)
	}
	var cands []Candidate
	for _, m := range all.Models() {
		cands = append(cands, Candidate{Info: m})
	}
	res, err := Run(context.Background(), folds, cands, []int{5, 10}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteHTML(&b, Report{Dataset: "synthetic <data>", Protocol: "kfold", Seed: 1, Folds: 2, Ks: []int{5, 10}, Results: res}); err != nil {
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
	if err := WriteHTML(&b, Report{}); err == nil {
		t.Error("an empty report was written")
	}
}

func TestTune(t *testing.T) {
	d := synthetic(40, 30)
	for _, protocol := range []string{"kfold", "loo"} {
		folds, err := Split(protocol, d, Options{Seed: 1, Folds: 2})
		if err != nil {
			t.Fatal(err)
		}
		knn, _ := all.Lookup("itemknn")
		res, err := Run(context.Background(), folds, []Candidate{{Info: knn, Tune: true}}, []int{5}, 1, nil)
		if err != nil {
			t.Fatal(err)
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
	// The carved validation part never overlaps the inner training part.
	folds, _ := Split("kfold", d, Options{Seed: 1, Folds: 2})
	train, valid, err := carveValid(folds[0].Train, 1)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for u, items := range valid {
		for _, i := range items {
			held++
			if train.Has(u, i) || !folds[0].Train.Has(u, i) {
				t.Fatalf("user %d item %d: in inner train %v, in fold train %v", u, i, train.Has(u, i), folds[0].Train.Has(u, i))
			}
		}
	}
	if held == 0 || train.NNZ()+held != folds[0].Train.NNZ() {
		t.Errorf("held %d, inner train %d, fold train %d", held, train.NNZ(), folds[0].Train.NNZ())
	}
}
