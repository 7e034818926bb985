// Package kernels has the vector arithmetic on the hot paths of the factor
// models: float32 dot products and matrix–vector products, with SIMD
// through viterin/vek (AVX2 on amd64; it falls back to plain Go where the
// CPU lacks it), and plain-Go versions to check and benchmark against.
package kernels

import "github.com/viterin/vek/vek32"

// Dot returns the dot product of x and y. It panics if their lengths
// differ.
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic("kernels: Dot of vectors of different lengths")
	}
	if len(x) == 0 {
		return 0
	}
	return vek32.Dot(x, y)
}

// DotGo is Dot in plain Go, for reference.
func DotGo(x, y []float32) float32 {
	if len(x) != len(y) {
		panic("kernels: DotGo of vectors of different lengths")
	}
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// MatVec sets out[i] to the dot product of row i of the row-major matrix
// m (len(out) rows of len(v) columns) with v. It panics on mismatched
// sizes.
func MatVec(m, v, out []float32) {
	k := len(v)
	if len(m) != len(out)*k {
		panic("kernels: MatVec sizes do not match")
	}
	if k == 0 {
		clear(out)
		return
	}
	for i := range out {
		out[i] = vek32.Dot(m[i*k:(i+1)*k], v)
	}
}

// MatVecGo is MatVec in plain Go, for reference.
func MatVecGo(m, v, out []float32) {
	k := len(v)
	if len(m) != len(out)*k {
		panic("kernels: MatVecGo sizes do not match")
	}
	for i := range out {
		out[i] = DotGo(m[i*k:(i+1)*k], v)
	}
}

// MatMul sets dst (m×p) to the product of x (m×n) and y (n×p), all
// row-major, through vek's AVX2 matrix kernel (which splits large
// products over the cores). It panics on mismatched sizes.
func MatMul(dst, x, y []float32, m, n, p int) {
	if len(x) != m*n || len(y) != n*p || len(dst) < m*p {
		panic("kernels: MatMul sizes do not match")
	}
	if m*p == 0 {
		return
	}
	if n == 0 {
		clear(dst[:m*p])
		return
	}
	vek32.MatMul_Into(dst[:m*p], x, y, n)
}

// Transpose sets dst (c×r) to the transpose of a (r×c), both row-major.
func Transpose(dst, a []float32, r, c int) {
	if len(a) != r*c || len(dst) < r*c {
		panic("kernels: Transpose sizes do not match")
	}
	for i := range r {
		row := a[i*c : (i+1)*c]
		for j, v := range row {
			dst[j*r+i] = v
		}
	}
}

// minExp is the smallest argument ExpInplace passes to vek: below it
// vek's AVX2 exponential returns garbage (exp(−100) comes out as
// −4.3e33), where the true value is under float32's smallest normal
// number anyway.
const minExp = -87

// ExpInplace sets every x[i] to e^x[i], through vek's SIMD exponential
// (relative error under 1e-6 for arguments up to 0, as in a softmax,
// and under 1e-5 above); arguments under −87 count as −87, whose
// exponential (1.6e-38) stands for the ones too small for float32.
func ExpInplace(x []float32) {
	for i, v := range x {
		if !(v >= minExp) { // also catches NaN, left for the caller to see
			if v != v {
				continue
			}
			x[i] = minExp
		}
	}
	vek32.Exp_Inplace(x)
}

// Sum returns the sum of x.
func Sum(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return vek32.Sum(x)
}

// Scale multiplies every x[i] by a.
func Scale(x []float32, a float32) {
	if len(x) > 0 {
		vek32.MulNumber_Inplace(x, a)
	}
}
