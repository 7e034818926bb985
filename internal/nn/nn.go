// Package nn holds the layers of Tailor's neural sequence models, each a
// forward pass and a hand-written backward pass over row-major float32
// matrices (T rows of a width), on the project's SIMD kernels where they
// pay: linear maps, layer normalization, ReLU, row softmax, causal
// self-attention (one head; a multi-head layer is heads of it over slices
// of the width), and softmax cross-entropy over a catalog. Every backward
// pass is checked against finite differences in the tests. The layers
// keep no state: a forward pass returns what its backward pass needs.
package nn

import (
	"math"

	"github.com/tailorhq/tailor/internal/kernels"
)

// Linear computes y = x·W + b for x of t rows of in columns, W of in rows
// of out columns (row-major), b of out (nil: none); y has t×out.
func Linear(x []float32, t, in int, w []float32, out int, b []float32, y []float32) {
	LinearT(x, t, in, transpose(w, in, out), out, b, y)
}

// LinearT is Linear given W transposed (out rows of in columns: each
// output a dot product), for weights that do not change between calls.
func LinearT(x []float32, t, in int, wt []float32, out int, b []float32, y []float32) {
	for r := range t {
		xr := x[r*in : (r+1)*in]
		for c := range out {
			v := kernels.Dot(xr, wt[c*in:(c+1)*in])
			if b != nil {
				v += b[c]
			}
			y[r*out+c] = v
		}
	}
}

// LinearBackward adds to dx, dw and db (any may be nil) the gradients of a
// loss whose gradient at y is dy.
func LinearBackward(x []float32, t, in int, w []float32, out int, dy, dx, dw, db []float32) {
	for r := range t {
		dyr := dy[r*out : (r+1)*out]
		if dx != nil {
			// dx[r] += dy[r]·Wᵀ: a dot of dy with each row of W.
			for i := range in {
				dx[r*in+i] += kernels.Dot(w[i*out:(i+1)*out], dyr)
			}
		}
		if dw != nil {
			for i := range in {
				kernels.Axpy(x[r*in+i], dyr, dw[i*out:(i+1)*out])
			}
		}
		if db != nil {
			kernels.Axpy(1, dyr, db)
		}
	}
}

func transpose(w []float32, rows, cols int) []float32 {
	out := make([]float32, len(w))
	transposeInto(out, w, rows, cols)
	return out
}

// transposeInto writes w (rows×cols) transposed into out (cols×rows).
func transposeInto(out, w []float32, rows, cols int) {
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = w[r*cols+c]
		}
	}
}

// LayerNormEps keeps layer normalization finite on constant rows.
const LayerNormEps = 1e-5

// LayerNorm normalizes each of the t rows of width d to mean 0 and
// variance 1, then scales by gamma and shifts by beta; it returns each
// row's 1/σ for the backward pass.
func LayerNorm(x []float32, t, d int, gamma, beta, y []float32) (invStd []float32) {
	invStd = make([]float32, t)
	LayerNormInto(x, t, d, gamma, beta, y, invStd)
	return invStd
}

// LayerNormInto is LayerNorm writing each row's 1/σ into invStd (t).
func LayerNormInto(x []float32, t, d int, gamma, beta, y, invStd []float32) {
	for r := range t {
		xr := x[r*d : (r+1)*d]
		var mean, v float64
		for _, a := range xr {
			mean += float64(a)
		}
		mean /= float64(d)
		for _, a := range xr {
			v += (float64(a) - mean) * (float64(a) - mean)
		}
		is := 1 / math.Sqrt(v/float64(d)+LayerNormEps)
		invStd[r] = float32(is)
		for i, a := range xr {
			y[r*d+i] = float32((float64(a)-mean)*is)*gamma[i] + beta[i]
		}
	}
}

// LayerNormBackward adds the gradients at x, gamma and beta of a loss
// whose gradient at LayerNorm's output is dy.
func LayerNormBackward(x []float32, t, d int, gamma, invStd, dy, dx, dgamma, dbeta []float32) {
	xhat := make([]float64, d)
	for r := range t {
		xr, dyr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d]
		var mean float64
		for _, a := range xr {
			mean += float64(a)
		}
		mean /= float64(d)
		is := float64(invStd[r])
		var sumG, sumGX float64 // Σ g and Σ g·x̂ with g = dy·γ
		for i, a := range xr {
			xhat[i] = (float64(a) - mean) * is
			g := float64(dyr[i]) * float64(gamma[i])
			sumG += g
			sumGX += g * xhat[i]
			dgamma[i] += dyr[i] * float32(xhat[i])
			dbeta[i] += dyr[i]
		}
		for i := range xr {
			g := float64(dyr[i]) * float64(gamma[i])
			dx[r*d+i] += float32(is / float64(d) * (float64(d)*g - sumG - xhat[i]*sumGX))
		}
	}
}

// ReLU sets y = max(x, 0).
func ReLU(x, y []float32) {
	for i, a := range x {
		y[i] = max(a, 0)
	}
}

// ReLUBackward adds dy where x > 0.
func ReLUBackward(x, dy, dx []float32) {
	for i, a := range x {
		if a > 0 {
			dx[i] += dy[i]
		}
	}
}

// Softmax turns each of the t rows of width n into probabilities.
func Softmax(x []float32, t, n int, y []float32) {
	for r := range t {
		xr, yr := x[r*n:(r+1)*n], y[r*n:(r+1)*n]
		m := xr[0]
		for _, a := range xr {
			m = max(m, a)
		}
		for i, a := range xr {
			yr[i] = a - m
		}
		kernels.ExpInplace(yr)
		kernels.Scale(yr, 1/kernels.Sum(yr))
	}
}

// SoftmaxBackward adds dx = y ⊙ (dy − Σ dy·y) per row, y being Softmax's
// output.
func SoftmaxBackward(y []float32, t, n int, dy, dx []float32) {
	for r := range t {
		yr, dyr := y[r*n:(r+1)*n], dy[r*n:(r+1)*n]
		dot := kernels.Dot(yr, dyr)
		for i := range yr {
			dx[r*n+i] += yr[i] * (dyr[i] - dot)
		}
	}
}

// CrossEntropy is the mean over the rows with a target (targets[r] ≥ 0)
// of −log softmax(logits[r])[targets[r]], over n classes; it sets
// dlogits (when not nil) to the loss's gradient: (softmax − one-hot) /
// the number of rows counted.
func CrossEntropy(logits []float32, t, n int, targets []int32, dlogits []float32) float64 {
	counted := 0
	for _, c := range targets {
		if c >= 0 {
			counted++
		}
	}
	if counted == 0 {
		if dlogits != nil {
			clear(dlogits)
		}
		return 0
	}
	p := make([]float32, n)
	var loss float64
	for r := range t {
		if targets[r] < 0 {
			if dlogits != nil {
				clear(dlogits[r*n : (r+1)*n])
			}
			continue
		}
		Softmax(logits[r*n:(r+1)*n], 1, n, p)
		loss -= math.Log(math.Max(float64(p[targets[r]]), 1e-30))
		if dlogits != nil {
			for i := range p {
				dlogits[r*n+i] = p[i] / float32(counted)
			}
			dlogits[r*n+int(targets[r])] -= 1 / float32(counted)
		}
	}
	return loss / float64(counted)
}

// Attention is one head of causal self-attention over t positions of
// width d: position i attends to positions 0..i with weights
// softmax(q_i·k_j/√d), and its output is those weights times the v_j. It
// returns the weights (t×t, zero above the diagonal) for the backward
// pass.
func Attention(q, k, v []float32, t, d int, o []float32) (p []float32) {
	p = make([]float32, t*t)
	AttentionInto(q, k, v, t, d, o, p)
	return p
}

// AttentionInto is Attention writing the probabilities into p (t×t; only
// each row's first i+1 entries are written).
func AttentionInto(q, k, v []float32, t, d int, o, p []float32) {
	AttentionDropInto(q, k, v, t, d, o, p, nil)
}

// AttentionDropInto is AttentionInto with dropout on the weights: the
// output uses each weight p_ij times m_ij (m is t×t, 0 or 1/(1−rate); nil
// for none), while p keeps the weights before the mask for the backward
// pass.
func AttentionDropInto(q, k, v []float32, t, d int, o, p, m []float32) {
	scale := float32(1 / math.Sqrt(float64(d)))
	for i := range t {
		row := p[i*t : i*t+i+1]
		for j := 0; j <= i; j++ {
			row[j] = kernels.Dot(q[i*d:(i+1)*d], k[j*d:(j+1)*d]) * scale
		}
		Softmax(row, 1, i+1, row)
		oi := o[i*d : (i+1)*d]
		clear(oi)
		for j := 0; j <= i; j++ {
			w := row[j]
			if m != nil {
				w *= m[i*t+j]
			}
			kernels.Axpy(w, v[j*d:(j+1)*d], oi)
		}
	}
}

// AttentionBackward adds to dq, dk and dv the gradients of a loss whose
// gradient at Attention's output is do.
func AttentionBackward(q, k, v, p []float32, t, d int, do, dq, dk, dv []float32) {
	AttentionDropBackward(q, k, v, p, nil, t, d, do, dq, dk, dv)
}

// AttentionDropBackward is AttentionBackward for AttentionDropInto's
// output with the mask m (nil for none).
func AttentionDropBackward(q, k, v, p, m []float32, t, d int, do, dq, dk, dv []float32) {
	scale := float32(1 / math.Sqrt(float64(d)))
	dp := make([]float32, t)
	ds := make([]float32, t)
	for i := range t {
		row := p[i*t : i*t+i+1]
		doi := do[i*d : (i+1)*d]
		for j := 0; j <= i; j++ {
			w, mj := row[j], float32(1)
			if m != nil {
				mj = m[i*t+j]
				w *= mj
			}
			kernels.Axpy(w, doi, dv[j*d:(j+1)*d])         // dV += (P⊙M)ᵀ·dO
			dp[j] = kernels.Dot(doi, v[j*d:(j+1)*d]) * mj // dP = (dO·Vᵀ)⊙M
		}
		clear(ds[:i+1])
		SoftmaxBackward(row, 1, i+1, dp[:i+1], ds[:i+1])
		for j := 0; j <= i; j++ {
			g := ds[j] * scale
			kernels.Axpy(g, k[j*d:(j+1)*d], dq[i*d:(i+1)*d])
			kernels.Axpy(g, q[i*d:(i+1)*d], dk[j*d:(j+1)*d])
		}
	}
}
