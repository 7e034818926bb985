package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func random(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func TestDotAndMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 7, 8, 15, 16, 31, 64, 65, 257} {
		x, y := random(r, n), random(r, n)
		if got, want := Dot(x, y), DotGo(x, y); math.Abs(float64(got-want)) > 1e-4*math.Max(1, math.Abs(float64(want))) {
			t.Errorf("n=%d: Dot %v, plain %v", n, got, want)
		}
		m := random(r, 5*n)
		got, want := make([]float32, 5), make([]float32, 5)
		MatVec(m, x, got)
		MatVecGo(m, x, want)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
				t.Errorf("n=%d row %d: MatVec %v, plain %v", n, i, got[i], want[i])
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Dot of different lengths did not panic")
		}
	}()
	Dot([]float32{1}, []float32{1, 2})
}

var sink float32

func BenchmarkDot64(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	x, y := random(r, 64), random(r, 64)
	for i := 0; i < b.N; i++ {
		sink += Dot(x, y)
	}
}

func BenchmarkDot64Go(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	x, y := random(r, 64), random(r, 64)
	for i := 0; i < b.N; i++ {
		sink += DotGo(x, y)
	}
}

// BenchmarkMatVec scores 10,000 items of 64 factors for one user, as a
// factor model's recommendation does.
func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	m, v, out := random(r, 10000*64), random(r, 64), make([]float32, 10000)
	b.SetBytes(int64(4 * len(m)))
	for i := 0; i < b.N; i++ {
		MatVec(m, v, out)
	}
}

func BenchmarkMatVecGo(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	m, v, out := random(r, 10000*64), random(r, 64), make([]float32, 10000)
	b.SetBytes(int64(4 * len(m)))
	for i := 0; i < b.N; i++ {
		MatVecGo(m, v, out)
	}
}

// TestMatMul checks MatMul and Transpose against the plain definition on
// shapes around vek's parallel threshold.
func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 2}, {50, 64, 1682}, {64, 50, 7}, {4, 0, 3}} {
		m, n, p := sz[0], sz[1], sz[2]
		x, y := make([]float32, m*n), make([]float32, n*p)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		for i := range y {
			y[i] = float32(r.NormFloat64())
		}
		dst := make([]float32, m*p)
		for i := range dst {
			dst[i] = 99 // overwritten
		}
		MatMul(dst, x, y, m, n, p)
		for i := range m {
			for j := range p {
				var want float64
				for k := range n {
					want += float64(x[i*n+k]) * float64(y[k*p+j])
				}
				if math.Abs(float64(dst[i*p+j])-want) > 1e-3*math.Max(1, math.Abs(want)) {
					t.Fatalf("%v: [%d,%d] = %v, want %v", sz, i, j, dst[i*p+j], want)
				}
			}
		}
		xt := make([]float32, m*n)
		Transpose(xt, x, m, n)
		for i := range m {
			for k := range n {
				if xt[k*m+i] != x[i*n+k] {
					t.Fatalf("%v: transpose [%d,%d]", sz, k, i)
				}
			}
		}
	}
}

// TestExpInplace checks the SIMD exponential against math.Exp over the
// range softmax uses, including the arguments vek gets wrong.
func TestExpInplace(t *testing.T) {
	x := []float32{-1e30, -200, -100, -88, -87, -20, -1, -0.001, 0, 0.5, 1, 10, 80}
	y := slices.Clone(x)
	ExpInplace(y)
	for i, v := range x {
		want := math.Exp(float64(max(v, minExp)))
		if math.Abs(float64(y[i])-want) > 1e-5*want {
			t.Errorf("exp(%v) = %v, want %v", v, y[i], want)
		}
	}
	// Densely over softmax's domain (arguments up to 0).
	dense := make([]float32, 100000)
	for i := range dense {
		dense[i] = -87 * float32(i) / float32(len(dense))
	}
	got := slices.Clone(dense)
	ExpInplace(got)
	worst := 0.0
	for i, v := range dense {
		want := math.Exp(float64(v))
		worst = max(worst, math.Abs(float64(got[i])-want)/want)
	}
	if worst > 1e-6 {
		t.Errorf("relative error up to %.2e over [-87, 0]", worst)
	}
	nan := []float32{float32(math.NaN())}
	if ExpInplace(nan); nan[0] == nan[0] {
		t.Errorf("exp(NaN) = %v", nan[0])
	}
}
