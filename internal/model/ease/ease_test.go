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
// general inverse, on a small random matrix; with dropout p the diagonal
// penalty is λ + p/(1−p)·G_ii (EDLAE); with user weight γ the Gram matrix
// is XᵀDX, D = diag(n_u^−γ).
func TestAgainstFormula(t *testing.T) {
	for _, tc := range []struct{ lambda, dropout, gamma float64 }{{7, 0, 0}, {7, 0.25, 0}, {0.5, 0.5, 0}, {0.3, 0, 0.5}, {0.2, 0.25, 1}} {
		testAgainstFormula(t, tc.lambda, tc.dropout, tc.gamma)
	}
}

func testAgainstFormula(t *testing.T, lambda, dropout, gamma float64) {
	const users, items = 30, 12
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
	m, err := New(Config{Lambda: lambda, Dropout: dropout, UserWeight: gamma})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}

	var g, p, dx mat.Dense
	dx.Apply(func(u, _ int, v float64) float64 { return v * math.Pow(mat.Sum(x.RowView(u)), -gamma) }, x)
	g.Mul(x.T(), &dx)
	for i := 0; i < items; i++ {
		g.Set(i, i, g.At(i, i)+lambda+dropout/(1-dropout)*g.At(i, i))
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
				t.Errorf("λ %v p %v γ %v: user %d item %d: score %v, formula %v", lambda, dropout, gamma, u, e.Index, e.Score, w)
			}
		}
	}
	for _, c := range []Config{{Lambda: -1}, {Dropout: 1}, {Dropout: -0.1}, {Lambda: math.NaN()}, {UserWeight: -0.5}, {UserWeight: 3}, {UserWeight: math.NaN()}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	small, _ := New(Config{MaxItems: 5})
	if err := small.Fit(context.Background(), d); err == nil {
		t.Error("a catalog over max_items was fitted")
	}
}
