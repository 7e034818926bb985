package ials

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/kernels"
)

// clusters returns 200 users who each take about 15 items from one of two
// disjoint halves of a 60-item catalog.
func clusters(t *testing.T) *feature.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 5))
	var xs []feature.Interaction
	users, items := make([]string, 200), make([]string, 60)
	for u := range users {
		users[u] = fmt.Sprint("u", u)
		half := int32(u % 2)
		for i := int32(0); i < 30; i++ {
			if r.Float64() < 0.5 {
				xs = append(xs, feature.Interaction{User: int32(u), Item: half*30 + i, Weight: 1})
			}
		}
	}
	for i := range items {
		items[i] = fmt.Sprint("i", i)
	}
	d, err := feature.Build(users, items, xs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFoldIn(t *testing.T) {
	d := clusters(t)
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
	d := clusters(t)
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
