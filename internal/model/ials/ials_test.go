package ials

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/model/modeltest"
)

func TestFoldIn(t *testing.T) {
	d := modeltest.Clusters(t)
	m, err := New(Config{Factors: 8, Iterations: 10}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	k := m.cfg.Factors
	// A training user's fold-in solves their normal equations exactly.
	items, weights := d.Row(3)
	x, err := m.FoldIn(items, weights)
	if err != nil {
		t.Fatal(err)
	}
	sys := system{m: m, g: m.gram, y: m.ItemVectors(), items: items, weights: weights, reg: m.regularization(len(items), d.NumItems())}
	ax, b := make([]float32, k), make([]float32, k)
	sys.mul(x, ax)
	sys.rhs(b)
	for a := range b {
		if math.Abs(float64(ax[a]-b[a])) > 1e-4*(1+math.Abs(float64(b[a]))) {
			t.Fatalf("residual at %d: A·x %v, b %v", a, ax[a], b[a])
		}
	}
	// And it is close to the trained vector (which had 3 CG steps a sweep).
	if c := cosine(x, m.UserVector(3)); c < 0.95 {
		t.Errorf("fold-in vs trained vector: cosine %.3f", c)
	}
	// A new shopper with six items of the second half gets the rest of
	// that half first.
	hist := []int32{31, 36, 40, 44, 48, 55}
	got, err := m.RecommendHistory(hist, []float32{1, 1, 1, 1, 1, 1}, 10, func(i int32) bool { return slices.Contains(hist, i) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Index < 30 {
			t.Errorf("new shopper of the second half got item %d (score %v): %v", e.Index, e.Score, got)
		}
	}
	// An empty history folds in to the zero vector: nothing is known.
	if x, err := m.FoldIn(nil, nil); err != nil || kernels.Dot(x, x) != 0 {
		t.Errorf("empty fold-in = %v, %v", x, err)
	}
	for _, bad := range [][]int32{{-1}, {60}} {
		if _, err := m.FoldIn(bad, []float32{1}); err == nil {
			t.Errorf("fold-in of item %d: no error", bad[0])
		}
	}
	if _, err := m.FoldIn([]int32{1}, nil); err == nil {
		t.Error("fold-in with missing weights: no error")
	}
}

func TestConfigRanges(t *testing.T) {
	neg := -1.0
	for _, c := range []Config{{Factors: -1}, {Iterations: -2}, {Lambda: -1}, {Unobserved: math.Inf(1)}, {Nu: &neg}, {Alpha: -1}, {CGSteps: 101}, {InitStd: -1}} {
		if _, err := New(c, 1); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestFitIsSeeded(t *testing.T) {
	d := modeltest.Clusters(t)
	fit := func(seed uint64) []float32 {
		m, err := New(Config{Factors: 4, Iterations: 2}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Fit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		return m.ItemVectors()
	}
	a, b, c := fit(1), fit(1), fit(2)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same seed, different vectors")
		}
	}
	if cosine(a, c) > 0.9999 {
		t.Error("different seeds, same vectors")
	}
}

func cosine(a, b []float32) float64 {
	return float64(kernels.Dot(a, b)) / math.Sqrt(float64(kernels.Dot(a, a))*float64(kernels.Dot(b, b)))
}
