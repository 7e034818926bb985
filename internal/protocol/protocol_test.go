package protocol_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	protocols "github.com/tailorhq/tailor/internal/protocol/all"
	"github.com/tailorhq/tailor/internal/shareddata"
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
	d := dataset.FromEvents(events, nil)
	d.Format = "jsonl"
	return d
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

// held maps each case's user to its relevant items.
func held(cases []eval.Case) map[int32][]int32 {
	m := map[int32][]int32{}
	for _, c := range cases {
		m[c.Query.User] = append(m[c.Query.User], c.Relevant...)
	}
	return m
}

func flatten(m map[int32][]int32) []int32 {
	var out []int32
	for _, v := range m {
		out = append(out, v...)
	}
	return out
}

func matrix(t *testing.T, d *dataset.Dataset) interface {
	Has(u, i int32) bool
	NNZ() int
	Row(u int32) ([]int32, []float32)
} {
	t.Helper()
	m, err := d.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKfold(t *testing.T) {
	d := synthetic(30, 20)
	folds := split(t, "kfold", d, eval.Options{Seed: 7, Folds: 5})
	if len(folds) != 5 {
		t.Fatalf("%d folds", len(folds))
	}
	seen := map[[2]int32]int{}
	for _, f := range folds {
		test := held(f.Cases)
		train := matrix(t, f.Train)
		for u, items := range test {
			for _, i := range items {
				if train.Has(u, i) {
					t.Fatalf("pair (%d, %d) is in train and test", u, i)
				}
				seen[[2]int32{u, i}]++
			}
		}
		if train.NNZ()+len(flatten(test)) != len(d.Events) {
			t.Errorf("train %d + test %d != %d", train.NNZ(), len(flatten(test)), len(d.Events))
		}
		for _, c := range f.Cases {
			if c.Query.Task != model.TaskPersonal {
				t.Fatalf("case %+v", c.Query)
			}
			items, _ := train.Row(c.Query.User)
			for _, i := range items {
				if !c.Query.Exclude(i) {
					t.Fatalf("user %d: training item %d is ranked", c.Query.User, i)
				}
			}
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
	again := split(t, "kfold", d, eval.Options{Seed: 7, Folds: 5})
	if fmt.Sprint(held(again[0].Cases)) != fmt.Sprint(held(folds[0].Cases)) {
		t.Error("the same seed gave another split")
	}
	other := split(t, "kfold", d, eval.Options{Seed: 8, Folds: 5})
	if fmt.Sprint(held(other[0].Cases)) == fmt.Sprint(held(folds[0].Cases)) {
		t.Error("another seed gave the same split")
	}
}

func TestRecbole(t *testing.T) {
	d := synthetic(40, 30)
	f := split(t, "recbole", d, eval.Options{Seed: 3, MinRating: 3, Core: 5})[0]
	v, err := f.Validation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	test, valid := held(f.Cases), held(v.Cases)
	train := matrix(t, f.Train)
	for u := int32(0); u < int32(f.Train.NumUsers()); u++ {
		items, _ := train.Row(u)
		n := len(items) + len(valid[u]) + len(test[u])
		if n < 5 {
			t.Errorf("user %d kept with %d interactions, below the 5-core", u, n)
		}
		if len(valid[u]) != n/10 || len(test[u]) != n/10 {
			t.Errorf("user %d: %d interactions, valid %d test %d; want %d each", u, n, len(valid[u]), len(test[u]), n/10)
		}
		for _, i := range append(valid[u], test[u]...) {
			if train.Has(u, i) {
				t.Errorf("user %d item %d in train and held out", u, i)
			}
		}
	}
	// At test time a user's validation items are not ranked.
	for _, c := range f.Cases {
		for _, i := range valid[c.Query.User] {
			if !c.Query.Exclude(i) {
				t.Fatalf("user %d: validation item %d is ranked at test time", c.Query.User, i)
			}
		}
	}
	kept := 0
	for _, e := range d.Events {
		if e.Value >= 3 {
			kept++
		}
	}
	if total := train.NNZ() + len(flatten(valid)) + len(flatten(test)); total > kept {
		t.Errorf("%d interactions kept, but only %d ratings are ≥ 3", total, kept)
	}
}

func TestSplitErrors(t *testing.T) {
	d := synthetic(5, 5)
	tests := []struct {
		protocol string
		opts     eval.Options
	}{
		{"ml100k-folds", eval.Options{}},
		{"recbole", eval.Options{Core: 100}},
		{"kfold", eval.Options{Folds: 1}},
		{"temporal", eval.Options{Repeats: "sometimes"}},
		{"loo-sampled", eval.Options{Negatives: -1}},
		{"basket-completion", eval.Options{}}, // no cutoff
		{"rebuy", eval.Options{Cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"session-next", eval.Options{Cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}}, // no orders
		{"cold-items", eval.Options{Cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}},   // no purchases
		{"search-replay", eval.Options{Cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		p, err := protocols.Lookup(tt.protocol)
		if err != nil {
			t.Fatal(err)
		}
		o := tt.opts.Defaults()
		if tt.opts.Negatives < 0 {
			o.Negatives = -1
		}
		if folds, err := p.Split(context.Background(), d, o); err == nil && len(folds) > 0 && len(folds[0].Cases) > 0 {
			t.Errorf("%s %+v: no error", tt.protocol, tt.opts)
		}
	}
	if _, err := protocols.Lookup("nope"); err == nil {
		t.Error("unknown protocol found")
	}
	for _, spec := range []string{"movielens", "xml:file", "movielens:/no/such/dir"} {
		if _, err := dataset.Load(context.Background(), spec); err == nil {
			t.Errorf("Load(%q): no error", spec)
		}
	}
}

func TestLeaveOneOut(t *testing.T) {
	d := synthetic(10, 6)
	f := split(t, "loo", d, eval.Options{})[0]
	v, err := f.Validation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	test, valid := held(f.Cases), held(v.Cases)
	train := matrix(t, f.Train)
	name := func(i int32) string { return f.Train.Items[i] }
	for u := int32(0); u < int32(f.Train.NumUsers()); u++ {
		if len(test[u]) != 1 || len(valid[u]) != 1 {
			t.Fatalf("user %d: test %v valid %v", u, test[u], valid[u])
		}
		// A user's events are in item order in time: the last two items
		// are test and valid.
		items, _ := train.Row(u)
		var names []string
		for _, i := range items {
			names = append(names, name(i))
		}
		maxTrain := slices.Max(names)
		if name(test[u][0]) <= name(valid[u][0]) || name(valid[u][0]) <= maxTrain {
			t.Errorf("user %d: train up to %s, valid %s, test %s", u, maxTrain, name(valid[u][0]), name(test[u][0]))
		}
	}
}

func TestTemporal(t *testing.T) {
	t0 := time.Date(2011, 8, 1, 10, 0, 0, 0, time.UTC)
	price := 2.0
	zero := 0.0
	ev := func(u, i string, day int, typ tailor.EventType, p *float64) tailor.Event {
		return tailor.Event{ID: fmt.Sprint(u, i, day, typ), UserID: tailor.UserID(u), ItemID: tailor.ItemID(i), Type: typ,
			UnitPrice: p, Timestamp: t0.AddDate(0, 0, day)}
	}
	d := dataset.FromEvents([]tailor.Event{
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
	}, []tailor.Item{{ID: "POST", NonProduct: true}})
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
	names := func(f eval.Fold, cases []eval.Case) map[string][]string {
		got := map[string][]string{}
		for u, items := range held(cases) {
			for _, i := range items {
				got[f.Train.Users[u]] = append(got[f.Train.Users[u]], f.Train.Items[i])
			}
		}
		return got
	}
	for _, tt := range tests {
		f := split(t, "temporal", d, eval.Options{Cutoff: cutoff, Repeats: tt.repeats})[0]
		if got := names(f, f.Cases); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: test = %v, want %v", tt.repeats, got, tt.want)
		}
		v, err := f.Validation(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := names(*v, v.Cases); fmt.Sprint(got) != fmt.Sprint(tt.wantValid) {
			t.Errorf("%s: valid = %v, want %v", tt.repeats, got, tt.wantValid)
		}
		if m := matrix(t, v.Train); m.NNZ() != 1 {
			t.Errorf("%s: the validation training part has %d pairs, want a–x only", tt.repeats, m.NNZ())
		}
		if f.Repeats != (tt.repeats == "include") {
			t.Errorf("%s: Repeats = %v", tt.repeats, f.Repeats)
		}
		if m := matrix(t, f.Train); m.NNZ() != 3 {
			t.Errorf("%s: %d training pairs, want 3 (a–x, a–y, b–x)", tt.repeats, m.NNZ())
		}
	}
}

func TestLooSampled(t *testing.T) {
	d := synthetic(40, 150)
	folds := split(t, "loo-sampled", d, eval.Options{Seed: 2, Negatives: 20})
	if folds[0].Sampled != 20 || len(folds[0].Cases) != 40 {
		t.Fatalf("fold: sampled %d, %d test cases", folds[0].Sampled, len(folds[0].Cases))
	}
	knn, _ := all.Lookup("itemknn")
	res, err := eval.Run(context.Background(), folds, []eval.Candidate{{Info: knn}}, eval.RunOptions{Ks: []int{5}, Seed: 2, FullRanking: true})
	if err != nil {
		t.Fatal(err)
	}
	m := res[0].Metrics
	sh, ok := m["sampled_hit@5"]
	if !ok || sh < m["hit@5"] || sh > 1 {
		t.Errorf("sampled_hit@5 = %v (present %v), full hit@5 = %v: ranking among 20 cannot be harder", sh, ok, m["hit@5"])
	}
}

// shop makes orders for the shop protocols: 60 shoppers over 120 days,
// each order two to four items of one of three kinds, in kind order.
func shop() *dataset.Dataset {
	t0 := time.Date(2011, 1, 1, 9, 0, 0, 0, time.UTC)
	price := 1.5
	var events []tailor.Event
	var items []tailor.Item
	kinds := []string{"MUG", "BAG", "CANDLE"}
	for k, kind := range kinds {
		for j := 0; j < 8; j++ {
			items = append(items, tailor.Item{ID: tailor.ItemID(fmt.Sprint(k, j)), Title: fmt.Sprintf("RED SPOT %d %s", j, kind)})
		}
	}
	n := 0
	for day := 0; day < 120; day++ {
		for u := day % 3; u < 60; u += 7 {
			k := u % 3
			order := fmt.Sprint("o", day, "-", u)
			for j := 0; j < 2+(u+day)%3; j++ {
				n++
				events = append(events, tailor.Event{ID: fmt.Sprint("e", n), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: tailor.ItemID(fmt.Sprint(k, (day+j)%8)),
					Type: tailor.Purchase, UnitPrice: &price, OrderID: order, Timestamp: t0.AddDate(0, 0, day).Add(time.Duration(u) * time.Minute)})
			}
		}
	}
	return dataset.FromEvents(events, items)
}

// TestShopProtocols runs every shop protocol on the shop data with its
// default models, and checks their cases and the validation parts.
func TestShopProtocols(t *testing.T) {
	d := shop()
	cutoff := time.Date(2011, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"basket-completion", "session-next", "rebuy", "cold-items", "search-replay"} {
		t.Run(name, func(t *testing.T) {
			p, _ := protocols.Lookup(name)
			folds := split(t, name, d, eval.Options{Cutoff: cutoff, Seed: 1, ValidWindow: 30 * 24 * time.Hour})
			f := folds[0]
			end := cutoff.UnixNano()
			for _, e := range f.Train.Events {
				if e.Time >= end {
					t.Fatalf("a training event at %v, after the cutoff", e.At())
				}
			}
			for _, c := range f.Cases {
				if c.Query.Task != p.Task || len(c.Relevant) == 0 {
					t.Fatalf("case %+v", c)
				}
			}
			v, err := f.Validation(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			vend := cutoff.Add(-30 * 24 * time.Hour).UnixNano()
			for _, e := range v.Train.Events {
				if e.Time >= vend {
					t.Fatalf("a validation training event at %v, after the validation cutoff", e.At())
				}
			}
			var cands []eval.Candidate
			for _, b := range p.Baselines {
				info, err := all.Lookup(b.Model)
				if err != nil {
					t.Fatal(err)
				}
				cands = append(cands, eval.Candidate{Info: info, Params: b.Params, Label: b.Label})
			}
			res, err := eval.Run(context.Background(), folds, cands, eval.RunOptions{Ks: p.Ks, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				k := p.Ks[0]
				if h := r.Metrics[eval.Key("hit", k)]; h < 0 || h > 1 || r.TestUsers != len(f.Cases) {
					t.Errorf("%s: hit@%d %v over %d cases", r.Model, k, h, r.TestUsers)
				}
			}
			// Every model that answers the task fits the protocol; no other.
			for _, info := range all.Models() {
				tasks, err := info.TasksOf()
				if err != nil {
					t.Fatal(err)
				}
				if slices.Contains(tasks, p.Task) != slices.Contains(all.For(p.Task), info.Name) {
					t.Errorf("%s: For and TasksOf disagree", info.Name)
				}
			}
		})
	}
}

// TestPopularityAnchors checks the split and metric code against the
// reference figures of ../shared/REFERENCE.md for the popularity model.
func TestPopularityAnchors(t *testing.T) {
	path := shareddata.Path(t, "ml-100k")
	d, err := dataset.Load(context.Background(), "movielens:"+path)
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
		folds := split(t, tt.protocol, d, eval.Options{Seed: 1})
		res, err := eval.Run(context.Background(), folds, []eval.Candidate{{Info: pop}}, eval.RunOptions{Ks: []int{10}, Seed: 1, FullRanking: true})
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

// TestOnlineRetailAnchors checks the temporal protocol on the full Online
// Retail file against ../shared/REFERENCE.md (cutoff 2011-09-01, @20),
// and the shop protocols' models against the figures BENCHMARKS.md
// records for them.
func TestOnlineRetailAnchors(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	path := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	d, err := dataset.Load(context.Background(), "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC)
	type want struct {
		model, metric string
		params        string
		value, tol    float64
	}
	tests := []struct {
		protocol string
		repeats  string
		k        int
		wants    []want
	}{
		{"temporal", "exclude", 20, []want{
			{"popular", "recall", "", 0.0327, 0.003}, {"popular", "ndcg", "", 0.0450, 0.003}, {"popular", "hit", "", 0.4151, 0.003},
			{"itemknn", "recall", "", 0.0662, 0.003}, {"itemknn", "ndcg", "", 0.0851, 0.003}, {"itemknn", "hit", "", 0.5502, 0.003},
			{"ease", "recall", `{"lambda":400}`, 0.0850, 0.003}, {"ease", "ndcg", `{"lambda":400}`, 0.1081, 0.003},
		}},
		{"temporal", "include", 20, []want{
			{"popular", "recall", "", 0.0520, 0.003}, {"itemknn", "recall", "", 0.1216, 0.003},
			{"buyagain", "recall", "", 0.2133, 0.003}, {"buyagain", "ndcg", "", 0.3339, 0.003}, {"buyagain", "hit", "", 0.8693, 0.003},
		}},
		// BENCHMARKS.md (2026-11-28), before the one harness.
		{"basket-completion", "", 10, []want{{"fbt", "hit", "", 0.2041, 0.002}, {"fbt", "mrr", "", 0.0960, 0.002}, {"popular", "hit", "", 0.0428, 0.002}}},
		{"rebuy", "", 10, []want{{"rebuy", "recall", "", 0.1517, 0.002}, {"rebuy", "ndcg", "", 0.3608, 0.002}, {"frequent", "ndcg", "", 0.3251, 0.002}}},
		{"cold-items", "", 20, []want{{"content", "recall", "", 0.2608, 0.002}, {"popularity-in-category", "recall", "", 0.1241, 0.002}}},
	}
	for _, tt := range tests {
		folds := split(t, tt.protocol, d, eval.Options{Cutoff: cutoff, Repeats: tt.repeats, Seed: 1})
		var cands []eval.Candidate
		for _, w := range tt.wants {
			if slices.ContainsFunc(cands, func(c eval.Candidate) bool { return c.Info.Name == w.model }) {
				continue
			}
			info, _ := all.Lookup(w.model)
			c := eval.Candidate{Info: info}
			if w.params != "" {
				c.Params = json.RawMessage(w.params)
			}
			cands = append(cands, c)
		}
		p, _ := protocols.Lookup(tt.protocol)
		res, err := eval.Run(context.Background(), folds, cands, eval.RunOptions{Ks: []int{tt.k}, Seed: 1, FullRanking: p.FullRanking})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.wants {
			for _, r := range res {
				if r.Model != w.model {
					continue
				}
				if got := r.Metrics[eval.Key(w.metric, tt.k)]; got-w.value > w.tol || w.value-got > w.tol {
					t.Errorf("%s %s %s %s@%d = %.4f, want %.4f", tt.protocol, tt.repeats, w.model, w.metric, tt.k, got, w.value)
				}
			}
		}
	}
}
