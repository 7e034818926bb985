package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/topk"
)

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
	return model.Info{Name: "pop-or-anti", Grid: grid, New: func(p json.RawMessage, _ uint64) (model.Model, error) {
		m := &popOrAnti{}
		return m, json.Unmarshal(p, m)
	}}
}

// skewed has 2,000 users; user u has the items below 5 + u%30 of 40, so
// low indices are popular.
func skewed(t *testing.T) Fold {
	t.Helper()
	users, items := make([]string, 2000), make([]string, 40)
	var xs []feature.Interaction
	for u := range users {
		users[u] = fmt.Sprint("u", u)
		for i := 0; i < 5+u%30; i++ {
			xs = append(xs, feature.Interaction{User: int32(u), Item: int32(i), Weight: 1})
		}
	}
	for i := range items {
		items[i] = fmt.Sprint("i", i)
	}
	d, err := feature.Build(users, items, xs)
	if err != nil {
		t.Fatal(err)
	}
	return Fold{Train: d}
}

func TestHalving(t *testing.T) {
	f := skewed(t)
	info := popOrAntiInfo()
	best, trials, err := Halving(context.Background(), info, f, 10, 1, 0, 3)
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
	// The good candidate survives every round.
	for r := 1; r <= 3; r++ {
		if !slices.ContainsFunc(trials, func(tr Trial) bool { return tr.Rung == r && string(tr.Params) == `{"anti":false,"id":8}` }) {
			t.Errorf("round %d lacks the good candidate", r)
		}
	}
	// Seeded: the same run gives the same trials.
	_, again, err := Halving(context.Background(), info, f, 10, 1, 0, 3)
	if err != nil || !slices.EqualFunc(trials, again, func(a, b Trial) bool {
		return string(a.Params) == string(b.Params) && a.ValidNDCG == b.ValidNDCG
	}) {
		t.Errorf("a second run differs (err %v)", err)
	}
	// A spent budget stops after the first trial.
	if _, few, err := Halving(context.Background(), info, f, 10, 1, time.Nanosecond, 3); err != nil || len(few) != 1 {
		t.Errorf("a 1 ns budget ran %d trials (err %v)", len(few), err)
	}
	if _, _, err := Halving(context.Background(), info, f, 10, 1, 0, 1); err == nil {
		t.Error("eta 1 accepted")
	}
	// Few users (a third would be under 200): one round, all on all.
	var xs []feature.Interaction
	for u := int32(0); u < 300; u++ {
		items, _ := f.Train.Row(u)
		for _, i := range items {
			xs = append(xs, feature.Interaction{User: u, Item: i, Weight: 1})
		}
	}
	small, err := feature.Build(f.Train.Users[:300], f.Train.Items, xs)
	if err != nil {
		t.Fatal(err)
	}
	if _, one, err := Halving(context.Background(), info, Fold{Train: small}, 10, 1, 0, 3); err != nil || len(one) != 9 || one[0].UsersShare != 1 {
		t.Errorf("small data: %d trials, err %v", len(one), err)
	}
	empty, _ := feature.Build(f.Train.Users[:300], f.Train.Items, nil)
	if _, _, err := Halving(context.Background(), info, Fold{Train: empty}, 10, 1, 0, 3); err == nil {
		t.Error("no validation users: no error")
	}
}

// TestSearchCarves checks that a search over several validation carves
// scores each parameter set by its mean over the single-carve searches of
// seeds seed, seed+1, …, and rejects fewer than one carve.
func TestSearchCarves(t *testing.T) {
	folds, err := Split("kfold", synthetic(60, 30), Options{Seed: 1, Folds: 2})
	if err != nil {
		t.Fatal(err)
	}
	f := folds[0]
	info, _ := all.Lookup("itemknn")
	byParams := func(ts []Trial) map[string]float64 {
		out := map[string]float64{}
		for _, tr := range ts {
			out[string(tr.Params)] = tr.ValidNDCG
		}
		return out
	}
	_, one, err := Search(context.Background(), info, f, 5, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, two, err := Search(context.Background(), info, f, 5, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	best, both, err := Search(context.Background(), info, f, 5, 1, 0, 2)
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
	if _, _, err := Search(context.Background(), info, f, 5, 1, 0, 0); err == nil {
		t.Error("zero carves accepted")
	}
}
