package gbdt

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStump: one split of one tree with learning rate 1 and no L2 learns a
// step exactly: base 5 (the mean), leaves −5 and +5, the threshold at the
// last value of the lower step.
func TestStump(t *testing.T) {
	var d Data
	for i := range 20 {
		y := float32(0)
		if i >= 10 {
			y = 10
		}
		d.X = append(d.X, []float32{float32(i)})
		d.Y = append(d.Y, y)
	}
	m, err := Train(context.Background(), &d, nil, Options{Trees: 1, LearningRate: 1, MaxLeaves: 2, MinLeaf: 1, Lambda: 1e-12, Bins: 32})
	if err != nil {
		t.Fatal(err)
	}
	if m.Base != 5 || len(m.Trees) != 1 || m.Trees[0].Threshold[0] != 9 {
		t.Fatalf("base %v, trees %+v", m.Base, m.Trees)
	}
	for i, want := range map[int]float64{0: 0, 9: 0, 10: 10, 19: 10} {
		if got := m.Predict([]float32{float32(i)}); math.Abs(got-want) > 1e-6 {
			t.Errorf("x = %d: %v, want %v", i, got, want)
		}
	}
	if m.Importance[0] <= 0 {
		t.Errorf("importance %v", m.Importance)
	}
}

// TestMargin: with each row's starting score given (Data.Margin), the
// trees learn the rest: labels that are the margin plus a step are
// learnt by one stump as the step alone (margin + prediction = label),
// and a margin that is not finite, or one too few, is an error.
func TestMargin(t *testing.T) {
	var d Data
	for i := range 20 {
		step := float32(0)
		if i >= 10 {
			step = 4
		}
		margin := float64(i%7) * 3
		d.X = append(d.X, []float32{float32(i)})
		d.Y = append(d.Y, float32(margin)+step)
		d.Margin = append(d.Margin, margin)
	}
	m, err := Train(context.Background(), &d, nil, Options{Trees: 1, LearningRate: 1, MaxLeaves: 2, MinLeaf: 1, Lambda: 1e-12, Bins: 32})
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.X {
		if got := d.Margin[i] + m.Predict(d.X[i]); math.Abs(got-float64(d.Y[i])) > 1e-4 {
			t.Errorf("row %d: margin + prediction %v, label %v", i, got, d.Y[i])
		}
	}
	for _, bad := range [][]float64{d.Margin[:5], append(slices.Clone(d.Margin[:19]), math.NaN())} {
		b := d
		b.Margin = bad
		if _, err := Train(context.Background(), &b, nil, Options{Trees: 1}); err == nil {
			t.Errorf("margins %v accepted", bad)
		}
	}
}

// TestNDCG checks NDCG against a hand-computed case: labels 2, 0, 1 ranked
// 0, 2, 1 by score: DCG = 3/1 + 0 + 1/log2(4)... the order is items 0, 1,
// 2 by score 3, 2, 1: DCG = 3 + 0 + 1/2 = 3.5; ideal 3 + 1/log2(3) + 0.
func TestNDCG(t *testing.T) {
	got, ok := NDCG([]float32{2, 0, 1}, []float64{3, 2, 1}, 10)
	want := 3.5 / (3 + 1/math.Log2(3))
	if !ok || math.Abs(got-want) > 1e-12 {
		t.Errorf("ndcg %v, want %v", got, want)
	}
	if _, ok := NDCG([]float32{0, 0}, []float64{1, 2}, 10); ok {
		t.Error("a group without relevant items has an NDCG")
	}
}

// rankData makes queries of 20 items whose label (0–2) follows feature 0,
// feature 1 being noise.
func rankData(r *rand.Rand, queries int) *Data {
	d := &Data{Groups: []int{0}}
	for range queries {
		for range 20 {
			f0 := r.Float32()
			label := float32(0)
			switch {
			case f0 > 0.9:
				label = 2
			case f0 > 0.7:
				label = 1
			}
			d.X = append(d.X, []float32{f0, r.Float32()})
			d.Y = append(d.Y, label)
		}
		d.Groups = append(d.Groups, len(d.X))
	}
	return d
}

// TestLambdaRank learns to rank by the informative feature: near-perfect
// validation NDCG, the informative feature far more important than the
// noise, early stopping keeps the best trees, and the same seed gives the
// same model.
func TestLambdaRank(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	train, valid := rankData(r, 200), rankData(r, 50)
	o := Options{Objective: LambdaRank, Trees: 60, MaxLeaves: 8, MinLeaf: 5}
	m, err := Train(context.Background(), train, valid, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.ValidLoss > 0.02 {
		t.Errorf("validation NDCG %v, want above 0.98", 1-m.ValidLoss)
	}
	if m.Importance[0] < 10*m.Importance[1] {
		t.Errorf("importance %v: the informative feature should dominate", m.Importance)
	}
	if m.BestTrees != len(m.Trees) || m.BestTrees > 60 {
		t.Errorf("best trees %d of %d", m.BestTrees, len(m.Trees))
	}
	again, _ := Train(context.Background(), train, valid, o)
	for _, x := range [][]float32{{0.1, 0.5}, {0.95, 0.2}, {0.75, 0.9}} {
		if m.Predict(x) != again.Predict(x) {
			t.Error("two trainings differ")
		}
	}
	// Ranked by the model, a validation query's items come in label order.
	q := valid.X[valid.Groups[0]:valid.Groups[1]]
	y := valid.Y[valid.Groups[0]:valid.Groups[1]]
	s := make([]float64, len(q))
	for i := range q {
		s[i] = m.Predict(q[i])
	}
	idx := make([]int, len(q))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(math.Copysign(1, s[b]-s[a])) })
	if y[idx[0]] != slices.Max(y) {
		t.Errorf("the top item has label %v, the best is %v", y[idx[0]], slices.Max(y))
	}
}

// TestLogistic separates two classes, and bad input is an error naming it.
func TestLogistic(t *testing.T) {
	var d Data
	for i := range 200 {
		x := float32(i) / 200
		y := float32(0)
		if x > 0.5 {
			y = 1
		}
		d.X = append(d.X, []float32{x})
		d.Y = append(d.Y, y)
	}
	m, err := Train(context.Background(), &d, nil, Options{Objective: Logistic, Trees: 30})
	if err != nil {
		t.Fatal(err)
	}
	if !(m.Predict([]float32{0.9}) > 0 && m.Predict([]float32{0.1}) < 0) {
		t.Errorf("scores %v %v", m.Predict([]float32{0.9}), m.Predict([]float32{0.1}))
	}
	bad := Data{X: [][]float32{{1}, {float32(math.NaN())}}, Y: []float32{0, 1}}
	if _, err := Train(context.Background(), &bad, nil, Options{}); err == nil {
		t.Error("a NaN feature was accepted")
	}
	if _, err := Train(context.Background(), &Data{X: [][]float32{{1}}, Y: []float32{2}}, nil, Options{Objective: Logistic}); err == nil {
		t.Error("a logistic label of 2 was accepted")
	}
}
