package kernels

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomSPD returns XᵀX + λI for a random sparse 0/1 matrix X of m rows,
// like the Gram matrices EASE inverts.
func randomSPD(n, m int, lambda float64, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	g := make([]float64, n*n)
	for u := 0; u < m; u++ {
		var items []int
		for i := 0; i < n; i++ {
			if r.Float64() < 0.05 {
				items = append(items, i)
			}
		}
		for _, i := range items {
			for _, j := range items {
				g[i*n+j]++
			}
		}
	}
	for i := 0; i < n; i++ {
		g[i*n+i] += lambda
	}
	return g
}

func TestInvertSPD(t *testing.T) {
	for _, tc := range []struct{ n, m int }{{1, 3}, {7, 20}, {255, 300}, {256, 300}, {257, 400}, {600, 500}} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			g := randomSPD(tc.n, tc.m, 10, uint64(tc.n))
			a := make([]float32, len(g))
			for i, v := range g {
				a[i] = float32(v)
			}
			// Only the lower triangle may be read: poison the upper one.
			for i := 0; i < tc.n; i++ {
				for j := i + 1; j < tc.n; j++ {
					a[i*tc.n+j] = float32(math.NaN())
				}
			}
			if err := InvertSPD(context.Background(), a, tc.n); err != nil {
				t.Fatal(err)
			}
			var want mat.Dense
			if err := want.Inverse(mat.NewDense(tc.n, tc.n, g)); err != nil {
				t.Fatal(err)
			}
			var worst float64
			for i := 0; i < tc.n; i++ {
				for j := 0; j < tc.n; j++ {
					d := math.Abs(float64(a[i*tc.n+j]) - want.At(i, j))
					worst = max(worst, d/(math.Abs(want.At(i, i))+1e-12))
				}
			}
			t.Logf("largest error relative to the diagonal %.2g", worst)
			// float32 products: relative to the diagonal, errors stay below 1e-6 on these.
			if worst > 1e-4 || math.IsNaN(worst) {
				t.Errorf("largest error relative to the diagonal %g", worst)
			}
		})
	}
}

func TestInvertSPDErrors(t *testing.T) {
	if err := InvertSPD(context.Background(), make([]float32, 5), 2); err == nil {
		t.Error("wrong size: no error")
	}
	a := []float32{1, 0, 0, -1} // not positive definite
	if err := InvertSPD(context.Background(), a, 2); err == nil {
		t.Error("indefinite matrix: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := InvertSPD(ctx, []float32{2}, 1); err == nil {
		t.Error("cancelled: no error")
	}
}

// BenchmarkInvertSPD compares the blocked float32 sweep with gonum's
// float64 Cholesky inverse (pure Go), both on this machine's cores.
func BenchmarkInvertSPD(b *testing.B) {
	for _, n := range []int{1024, 2048, 4096} {
		g := randomSPD(n, 600, 50, 7)
		flops := float64(n) * float64(n) * float64(n) // ≈ n³ for an SPD inverse
		b.Run(fmt.Sprintf("sweep-float32/n=%d", n), func(b *testing.B) {
			a := make([]float32, n*n)
			for b.Loop() {
				for i, v := range g {
					a[i] = float32(v)
				}
				if err := InvertSPD(context.Background(), a, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if n > 2048 {
			continue // gonum takes over 10 s an inverse here
		}
		b.Run(fmt.Sprintf("gonum-cholesky-float64/n=%d", n), func(b *testing.B) {
			s := mat.NewSymDense(n, g)
			for b.Loop() {
				var c mat.Cholesky
				if !c.Factorize(s) {
					b.Fatal("not positive definite")
				}
				var inv mat.SymDense
				if err := c.InverseTo(&inv); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
