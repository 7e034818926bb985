package kernels

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/viterin/vek/vek32"
	"gonum.org/v1/gonum/mat"
)

// sweepBlock is the block size of InvertSPD: the width of each sweep and
// of the tiles of its trailing update (256×256 float32 tiles fit in L2).
const sweepBlock = 256

// InvertSPD replaces the symmetric positive definite n×n matrix a
// (row-major; only its lower triangle is read) by its inverse, with both
// triangles written.
//
// It applies the sweep operator block by block (Goodnight 1979): sweeping
// a b-wide block K of a symmetric matrix sets A_KK ← −P with P = A_KK⁻¹,
// A_KR ← P·A_KR and A_RR ← A_RR − A_RK·P·A_KR, which keeps the matrix
// symmetric; sweeping every block leaves −A⁻¹. Only the lower triangle is
// updated, so the whole inverse costs about n³ multiply-adds, nearly all of
// them in b×b×b float32 matrix products (vek's AVX2 kernel on both cores).
// Each P is computed in float64 by a Cholesky factorization; a block that
// is not positive definite returns an error naming its first row, and a is
// then left in an unspecified state.
func InvertSPD(ctx context.Context, a []float32, n int) error {
	if len(a) != n*n {
		return fmt.Errorf("kernels: InvertSPD of a %d-element slice as %d×%d", len(a), n, n)
	}
	const nb = sweepBlock
	c := make([]float32, n*nb)  // column block K of A before the sweep (n×b)
	r := make([]float32, nb*n)  // P·Cᵀ (b×n)
	ct := make([]float32, nb*n) // Cᵀ (b×n)
	p := make([]float32, nb*nb)
	workers := runtime.GOMAXPROCS(0)
	tiles := make([][]float32, workers) // per worker: packed R tile and product
	for w := range tiles {
		tiles[w] = make([]float32, 2*nb*nb)
	}
	for k0 := 0; k0 < n; k0 += nb {
		if err := ctx.Err(); err != nil {
			return err
		}
		k1 := min(k0+nb, n)
		b := k1 - k0
		// C[i][t] = A[i][k0+t], read from the lower triangle.
		for i := 0; i < n; i++ {
			row := c[i*b : (i+1)*b]
			switch {
			case i >= k1:
				copy(row, a[i*n+k0:i*n+k1])
			case i < k0:
				for t := range row {
					row[t] = a[(k0+t)*n+i]
				}
			default:
				for t := range row {
					if j := k0 + t; j <= i {
						row[t] = a[i*n+j]
					} else {
						row[t] = a[j*n+i]
					}
				}
			}
		}
		if err := invertBlock(c[k0*b:k1*b], b, p[:b*b]); err != nil {
			return fmt.Errorf("kernels: InvertSPD: block at row %d: %w", k0, err)
		}
		for i := 0; i < n; i++ {
			for t := 0; t < b; t++ {
				ct[t*n+i] = c[i*b+t]
			}
		}
		vek32.MatMul_Into(r[:b*n], p[:b*b], ct[:b*n], b)

		// A_IJ −= C_I · R_J over the lower tiles, in parallel over tile columns.
		var wg sync.WaitGroup
		next := make(chan int, (n+nb-1)/nb)
		for j0 := 0; j0 < n; j0 += nb {
			next <- j0
		}
		close(next)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(buf []float32) {
				defer wg.Done()
				for j0 := range next {
					j1 := min(j0+nb, n)
					wd := j1 - j0
					y := buf[:b*wd]
					for t := 0; t < b; t++ {
						copy(y[t*wd:(t+1)*wd], r[t*n+j0:t*n+j1])
					}
					prod := buf[nb*nb:]
					for i0 := j0; i0 < n; i0 += nb {
						i1 := min(i0+nb, n)
						h := i1 - i0
						vek32.MatMul_Into(prod[:h*wd], c[i0*b:i1*b], y, b)
						for ii := 0; ii < h; ii++ {
							vek32.Sub_Inplace(a[(i0+ii)*n+j0:(i0+ii)*n+j1], prod[ii*wd:(ii+1)*wd])
						}
					}
				}
			}(tiles[w])
		}
		wg.Wait()

		// Row block K (columns before K) and column block K (rows after K)
		// become R; the diagonal block becomes −P.
		for t := 0; t < b; t++ {
			copy(a[(k0+t)*n:(k0+t)*n+k0], r[t*n:t*n+k0])
			for s := 0; s < b; s++ {
				a[(k0+t)*n+k0+s] = -p[t*b+s]
			}
		}
		for i := k1; i < n; i++ {
			for t := 0; t < b; t++ {
				a[i*n+k0+t] = r[t*n+i]
			}
		}
	}
	// a's lower triangle holds −A⁻¹: negate it and mirror it.
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			v := -a[i*n+j]
			a[i*n+j], a[j*n+i] = v, v
		}
		a[i*n+i] = -a[i*n+i]
	}
	return nil
}

// invertBlock sets p (b×b) to the inverse of the symmetric positive
// definite b×b matrix in the rows of c (b×b, full), in float64.
func invertBlock(c []float32, b int, p []float32) error {
	s := mat.NewSymDense(b, nil)
	raw := s.RawSymmetric()
	for i := 0; i < b; i++ {
		for j := i; j < b; j++ {
			raw.Data[i*raw.Stride+j] = float64(c[i*b+j])
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(s) {
		return fmt.Errorf("not positive definite")
	}
	var inv mat.SymDense
	if err := chol.InverseTo(&inv); err != nil {
		return err
	}
	for i := 0; i < b; i++ {
		for j := 0; j < b; j++ {
			p[i*b+j] = float32(inv.At(i, j))
		}
	}
	return nil
}
