package kernels

import (
	"math"
	"math/rand/v2"
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
