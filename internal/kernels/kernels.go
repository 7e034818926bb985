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
