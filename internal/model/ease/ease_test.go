package ease

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/tailorhq/tailor/internal/feature"
)

// TestAgainstFormula checks the model's scores against B computed straight
// from the formula, B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, with a
// general inverse, on a small random matrix.
func TestAgainstFormula(t *testing.T) {
	const users, items, lambda = 30, 12, 7.0
	r := rand.New(rand.NewPCG(1, 2))
	var xs []feature.Interaction
	x := mat.NewDense(users, items, nil)
	for u := 0; u < users; u++ {
		for i := 0; i < items; i++ {
			if r.Float64() < 0.3 {
				xs = append(xs, feature.Interaction{User: int32(u), Item: int32(i), Weight: 1})
				x.Set(u, i, 1)
			}
		}
	}
	ids := func(n int, p string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = p + string(rune('a'+i))
		}
		return out
	}
	d, err := feature.Build(ids(users, "u"), ids(items, "i"), xs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Lambda: lambda})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}

	var g, p mat.Dense
	g.Mul(x.T(), x)
	for i := 0; i < items; i++ {
		g.Set(i, i, g.At(i, i)+lambda)
	}
	if err := p.Inverse(&g); err != nil {
		t.Fatal(err)
	}
	b := mat.NewDense(items, items, nil)
	for i := 0; i < items; i++ {
		for j := 0; j < items; j++ {
			if i != j {
				b.Set(i, j, -p.At(i, j)/p.At(j, j))
			}
		}
	}
	var want mat.Dense
	want.Mul(x, b)
	for u := 0; u < users; u++ {
		got := m.Recommend(int32(u), items, nil, nil)
		if len(got) != items {
			t.Fatalf("user %d: %d scores", u, len(got))
		}
		for _, e := range got {
			if w := want.At(u, int(e.Index)); math.Abs(float64(e.Score)-w) > 1e-4 {
				t.Errorf("user %d item %d: score %v, formula %v", u, e.Index, e.Score, w)
			}
		}
	}
	if _, err := New(Config{Lambda: -1}); err == nil {
		t.Error("negative lambda accepted")
	}
	small, _ := New(Config{MaxItems: 5})
	if err := small.Fit(context.Background(), d); err == nil {
		t.Error("a catalog over max_items was fitted")
	}
}
