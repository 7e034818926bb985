package kernels

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/viterin/vek/vek32"
)

// gramRows is the number of rows of the Gram matrix one task fills: a task
// touches only its own rows, so tasks run in parallel without locks and the
// rows being written stay in cache.
const gramRows = 64

// GramCSR adds XᵀX to the lower triangle (and diagonal) of dst, an n×n
// row-major matrix, where X is the sparse matrix in compressed rows:
// row u holds columns cols[rowPtr[u]:rowPtr[u+1]], sorted increasingly,
// with values vals (nil for all ones). The upper triangle is not touched.
// It panics if dst is not n×n or a column is outside [0, n).
func GramCSR(rowPtr []int64, cols []int32, vals []float32, n int, dst []float32) {
	if len(dst) != n*n {
		panic(fmt.Sprintf("kernels: GramCSR into %d elements for n = %d", len(dst), n))
	}
	for _, c := range cols {
		if c < 0 || int(c) >= n {
			panic(fmt.Sprintf("kernels: GramCSR column %d outside [0, %d)", c, n))
		}
	}
	rows := len(rowPtr) - 1
	next := make(chan int, (n+gramRows-1)/gramRows)
	for i0 := 0; i0 < n; i0 += gramRows {
		next <- i0
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i0 := range next {
				i1 := int32(min(i0+gramRows, n))
				for u := 0; u < rows; u++ {
					lo, hi := rowPtr[u], rowPtr[u+1]
					items := cols[lo:hi]
					a, _ := slices.BinarySearch(items, int32(i0))
					for ; a < len(items) && items[a] < i1; a++ {
						row := dst[int(items[a])*n:]
						if vals == nil {
							for _, j := range items[:a+1] {
								row[j]++
							}
							continue
						}
						vi := vals[lo+int64(a)]
						for t, j := range items[:a+1] {
							row[j] += vi * vals[lo+int64(t)]
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

// GramCSRGo is GramCSR as one plain loop over the rows, for reference.
func GramCSRGo(rowPtr []int64, cols []int32, vals []float32, n int, dst []float32) {
	for u := 0; u+1 < len(rowPtr); u++ {
		lo, hi := rowPtr[u], rowPtr[u+1]
		for a := lo; a < hi; a++ {
			for b := lo; b <= a; b++ {
				v := float32(1)
				if vals != nil {
					v = vals[a] * vals[b]
				}
				dst[int(cols[a])*n+int(cols[b])] += v
			}
		}
	}
}

// Gram sets dst (k×k, row-major, both triangles) to HᵀH, the sum of the
// outer products of the n rows of h (n×k, row-major). ht is scratch of
// n·k values for Hᵀ; the product runs through vek's AVX2 matrix kernel.
func Gram(h []float32, n, k int, ht, dst []float32) {
	if len(h) != n*k || len(dst) != k*k || len(ht) < n*k {
		panic("kernels: Gram sizes do not match")
	}
	if n == 0 {
		clear(dst)
		return
	}
	for i := 0; i < n; i++ {
		for a, v := range h[i*k : (i+1)*k] {
			ht[a*n+i] = v
		}
	}
	vek32.MatMul_Into(dst, ht[:n*k], h, n)
}

// GramGo is Gram in plain Go, for reference.
func GramGo(h []float32, n, k int, dst []float32) {
	clear(dst)
	for i := 0; i < n; i++ {
		v := h[i*k : (i+1)*k]
		for a := 0; a < k; a++ {
			row := dst[a*k : (a+1)*k]
			for b := range row {
				row[b] += v[a] * v[b]
			}
		}
	}
}
