package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomCSR returns a random sparse matrix of m rows over n columns with
// about density·n entries a row, sorted, and positive values.
func randomCSR(m, n int, density float64, seed uint64) ([]int64, []int32, []float32) {
	r := rand.New(rand.NewPCG(seed, 2))
	rowPtr := []int64{0}
	var cols []int32
	var vals []float32
	for u := 0; u < m; u++ {
		for i := 0; i < n; i++ {
			if r.Float64() < density {
				cols = append(cols, int32(i))
				vals = append(vals, 1+float32(r.IntN(4)))
			}
		}
		rowPtr = append(rowPtr, int64(len(cols)))
	}
	return rowPtr, cols, vals
}

func TestGramCSR(t *testing.T) {
	for _, tc := range []struct {
		m, n     int
		weighted bool
	}{{1, 1, false}, {10, 5, true}, {50, 200, false}, {50, 200, true}, {300, 130, true}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			rp, cols, vals := randomCSR(tc.m, tc.n, 0.2, uint64(tc.n))
			if !tc.weighted {
				vals = nil
			}
			got, want := make([]float32, tc.n*tc.n), make([]float32, tc.n*tc.n)
			GramCSR(rp, cols, vals, tc.n, got)
			GramCSRGo(rp, cols, vals, tc.n, want)
			if !slices.Equal(got, want) {
				t.Fatal("GramCSR differs from the plain loop")
			}
			// And from the definition, on the lower triangle.
			for i := 0; i < tc.n; i++ {
				for j := 0; j <= i; j++ {
					var s float32
					for u := 0; u < tc.m; u++ {
						s += at(rp, cols, vals, u, i) * at(rp, cols, vals, u, j)
					}
					if got[i*tc.n+j] != s {
						t.Fatalf("G[%d][%d] = %v, want %v", i, j, got[i*tc.n+j], s)
					}
				}
			}
		})
	}
}

func at(rp []int64, cols []int32, vals []float32, u, i int) float32 {
	for a := rp[u]; a < rp[u+1]; a++ {
		if int(cols[a]) == i {
			if vals == nil {
				return 1
			}
			return vals[a]
		}
	}
	return 0
}

func TestGram(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, tc := range [][2]int{{0, 4}, {1, 3}, {100, 8}, {1000, 64}} {
		n, k := tc[0], tc[1]
		h := make([]float32, n*k)
		for i := range h {
			h[i] = float32(r.NormFloat64())
		}
		got, want := make([]float32, k*k), make([]float32, k*k)
		Gram(h, n, k, make([]float32, n*k), got)
		GramGo(h, n, k, want)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-3*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("n=%d k=%d: element %d = %v, want %v", n, k, i, got[i], want[i])
			}
		}
	}
}

func TestSolvers(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, k := range []int{1, 2, 8, 64} {
		h := make([]float32, 3*k*k)
		for i := range h {
			h[i] = float32(r.NormFloat64())
		}
		g := make([]float32, k*k)
		GramGo(h, 3*k, k, g)
		a64 := make([]float64, k*k)
		for i, v := range g {
			a64[i] = float64(v)
		}
		for i := 0; i < k; i++ {
			a64[i*k+i]++
			g[i*k+i]++
		}
		b := make([]float64, k)
		for i := range b {
			b[i] = r.NormFloat64()
		}
		var want mat.VecDense
		if err := want.SolveVec(mat.NewDense(k, k, slices.Clone(a64)), mat.NewVecDense(k, slices.Clone(b))); err != nil {
			t.Fatal(err)
		}
		x := slices.Clone(b)
		if err := CholeskySolve(slices.Clone(a64), k, x); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if math.Abs(x[i]-want.AtVec(i)) > 1e-9*(1+math.Abs(want.AtVec(i))) {
				t.Fatalf("k=%d: Cholesky x[%d] = %v, want %v", k, i, x[i], want.AtVec(i))
			}
		}
		b32, x32 := make([]float32, k), make([]float32, k)
		for i, v := range b {
			b32[i] = float32(v)
		}
		mul := func(v, out []float32) { MatVec(g, v, out) }
		CG(mul, b32, x32, 4*k, make([]float32, 3*k))
		for i := range x32 {
			if math.Abs(float64(x32[i])-want.AtVec(i)) > 1e-3*(1+math.Abs(want.AtVec(i))) {
				t.Fatalf("k=%d: CG x[%d] = %v, want %v", k, i, x32[i], want.AtVec(i))
			}
		}
		// From the exact answer CG stops at once.
		if n := CG(mul, b32, x32, 10, make([]float32, 3*k)); n > 1 && k == 1 {
			t.Errorf("k=1: CG from the solution ran %d steps", n)
		}
	}
	if err := CholeskySolve([]float64{1, 2, 2, 1}, 2, []float64{1, 1}); err == nil {
		t.Error("indefinite: no error")
	}
}

func TestAxpy(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7}
	y := []float32{1, 1, 1, 1, 1, 1, 1}
	Axpy(2, x, y)
	if want := []float32{3, 5, 7, 9, 11, 13, 15}; !slices.Equal(y, want) {
		t.Errorf("Axpy = %v, want %v", y, want)
	}
	// Every path (plain Go, SIMD addition, SIMD multiply and add, with a
	// tail past a chunk) gives the plain loop's bits.
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{15, 16, 64, 127, 128, 255, 256, 257, 1000} {
		for _, alpha := range []float32{1, 0.3719, -2.5, 1e-7, 0} {
			x, y := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*100)
			}
			want := slices.Clone(y)
			axpyGo(alpha, x, want)
			Axpy(alpha, x, y)
			if !slices.Equal(y, want) {
				t.Errorf("n %d, alpha %g: Axpy differs from the plain loop", n, alpha)
			}
		}
	}
}

func BenchmarkAxpy(b *testing.B) {
	for _, n := range []int{64, 256, 4096} {
		x, y := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = float32(i) * 1e-3
		}
		for _, alpha := range []float32{1, 0.37} {
			b.Run(fmt.Sprintf("n=%d/alpha=%g", n, alpha), func(b *testing.B) {
				for b.Loop() {
					Axpy(alpha, x, y)
				}
			})
			b.Run(fmt.Sprintf("n=%d/alpha=%g/plain-Go", n, alpha), func(b *testing.B) {
				for b.Loop() {
					axpyGo(alpha, x, y)
				}
			})
		}
	}
}

func BenchmarkGramCSR(b *testing.B) {
	rp, cols, _ := randomCSR(600, 4000, 0.02, 9)
	dst := make([]float32, 4000*4000)
	b.Run("blocked-parallel", func(b *testing.B) {
		for b.Loop() {
			GramCSR(rp, cols, nil, 4000, dst)
		}
	})
	b.Run("plain-Go", func(b *testing.B) {
		for b.Loop() {
			GramCSRGo(rp, cols, nil, 4000, dst)
		}
	})
}

func BenchmarkGram(b *testing.B) {
	n, k := 10000, 64
	h := make([]float32, n*k)
	for i := range h {
		h[i] = float32(i%13) / 13
	}
	dst, ht := make([]float32, k*k), make([]float32, n*k)
	flops := 2 * float64(n) * float64(k) * float64(k)
	b.Run("vek", func(b *testing.B) {
		for b.Loop() {
			Gram(h, n, k, ht, dst)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("plain-Go", func(b *testing.B) {
		for b.Loop() {
			GramGo(h, n, k, dst)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
