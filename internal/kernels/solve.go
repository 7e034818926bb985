package kernels

import (
	"fmt"
	"math"

	"github.com/viterin/vek/vek32"
)

// Axpy adds alpha·x to y. It panics if their lengths differ.
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panic("kernels: Axpy of vectors of different lengths")
	}
	// vek's SIMD multiply and add round each product and each sum once,
	// as the loop below does (Go does not fuse them on amd64's baseline),
	// so every path gives the same bits; each is used where it is fastest
	// (BenchmarkAxpy).
	switch {
	case alpha == 1 && len(x) >= 16:
		vek32.Add_Inplace(y, x)
		return
	case len(x) >= 128:
		var buf [256]float32
		for len(x) > 0 {
			c := min(len(x), len(buf))
			ax := buf[:c]
			copy(ax, x[:c])
			vek32.MulNumber_Inplace(ax, alpha)
			vek32.Add_Inplace(y[:c], ax)
			x, y = x[c:], y[c:]
		}
		return
	}
	axpyGo(alpha, x, y)
}

// axpyGo is Axpy in plain Go.
func axpyGo(alpha float32, x, y []float32) {
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs, ys := x[i:i+4:i+4], y[i:i+4:i+4]
		ys[0] += alpha * xs[0]
		ys[1] += alpha * xs[1]
		ys[2] += alpha * xs[2]
		ys[3] += alpha * xs[3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

// CG improves x towards the solution of A·x = b by at most steps
// iterations of the conjugate-gradient method, where A is symmetric
// positive definite and mul(v, out) sets out = A·v. work must hold 3·len(b)
// values. It returns the number of iterations run: fewer than steps when
// the residual vanishes or A turns out not to be positive definite along a
// search direction.
func CG(mul func(v, out []float32), b, x []float32, steps int, work []float32) int {
	k := len(b)
	if len(x) != k || len(work) < 3*k {
		panic("kernels: CG sizes do not match")
	}
	r, p, ap := work[:k], work[k:2*k], work[2*k:3*k]
	mul(x, ap)
	for i := range r {
		r[i] = b[i] - ap[i]
	}
	copy(p, r)
	rr := Dot(r, r)
	for step := 0; step < steps; step++ {
		if !(rr > 1e-20) {
			return step
		}
		mul(p, ap)
		pap := Dot(p, ap)
		if !(pap > 0) {
			return step
		}
		alpha := rr / pap
		Axpy(alpha, p, x)
		Axpy(-alpha, ap, r)
		rrNew := Dot(r, r)
		beta := rrNew / rr
		for i := range p {
			p[i] = r[i] + beta*p[i]
		}
		rr = rrNew
	}
	return steps
}

// CholeskySolve solves A·x = b for a symmetric positive definite k×k
// matrix a (row-major; its lower triangle is read and overwritten by the
// Cholesky factor L), writing x over b. It returns an error, naming the
// pivot, if A is not positive definite.
func CholeskySolve(a []float64, k int, b []float64) error {
	if len(a) != k*k || len(b) != k {
		panic("kernels: CholeskySolve sizes do not match")
	}
	for j := 0; j < k; j++ {
		rj := a[j*k : j*k+j]
		d := a[j*k+j]
		for _, v := range rj {
			d -= v * v
		}
		if !(d > 0) || math.IsInf(d, 0) {
			return fmt.Errorf("kernels: matrix is not positive definite (pivot %d is %g)", j, d)
		}
		d = math.Sqrt(d)
		a[j*k+j] = d
		for i := j + 1; i < k; i++ {
			ri := a[i*k : i*k+j]
			s := a[i*k+j]
			for t, v := range ri {
				s -= v * rj[t]
			}
			a[i*k+j] = s / d
		}
	}
	for i := 0; i < k; i++ { // L·y = b
		s := b[i]
		for t := 0; t < i; t++ {
			s -= a[i*k+t] * b[t]
		}
		b[i] = s / a[i*k+i]
	}
	for i := k - 1; i >= 0; i-- { // Lᵀ·x = y
		s := b[i]
		for t := i + 1; t < k; t++ {
			s -= a[t*k+i] * b[t]
		}
		b[i] = s / a[i*k+i]
	}
	return nil
}
