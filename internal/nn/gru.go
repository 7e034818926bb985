package nn

import (
	"math"
	"math/rand/v2"

	"github.com/tailorhq/tailor/internal/kernels"
)

// GRU is a gated recurrent unit layer (Cho et al., 2014) from inputs of
// width In to a state of width D, run over a sequence from a zero state:
//
//	z = σ(x·Wz + h·Uz + bz)        the update gate
//	r = σ(x·Wr + h·Ur + br)        the reset gate
//	n = tanh(x·Wn + (r⊙h)·Un + bn) the candidate
//	h' = (1 − z)⊙n + z⊙h
//
// W is In×3D and U is D×3D (row-major, the gates' columns in the order
// z, r, n), B has 3D.
type GRU struct {
	In, D   int
	W, U, B []float32
}

// NewGRU makes a layer with weights drawn uniformly from ±1/√D (as
// PyTorch does) and zero biases.
func NewGRU(in, d int, r *rand.Rand) *GRU {
	g := &GRU{In: in, D: d, W: make([]float32, in*3*d), U: make([]float32, d*3*d), B: make([]float32, 3*d)}
	a := 1 / math.Sqrt(float64(d))
	for _, p := range [][]float32{g.W, g.U} {
		for i := range p {
			p[i] = float32((2*r.Float64() - 1) * a)
		}
	}
	return g
}

// Params lists the parameters: W, U, B.
func (g *GRU) Params() [][]float32 { return [][]float32{g.W, g.U, g.B} }

// GRUCache is what Backward needs of a Forward, and the buffers of a
// pass (a GRUInference reuses one from pass to pass).
type GRUCache struct {
	t              int
	x              []float32
	h              []float32 // (t+1)×D: the zero state, then each step's
	z, r, n        []float32 // t×D each
	ut             []float32 // Uᵀ, 3D×D
	xw, hu, rh, nu []float32
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// Forward runs the layer over the t rows of x (t×In) and returns the
// states after each (t×D).
func (g *GRU) Forward(x []float32, t int) ([]float32, *GRUCache) {
	c := &GRUCache{ut: transpose(g.U, g.D, 3*g.D)}
	return g.pass(x, t, transpose(g.W, g.In, 3*g.D), c), c
}

// pass runs the layer given W transposed (wt) and c.ut set to Uᵀ, into
// c's buffers (resized, their memory reused).
func (g *GRU) pass(x []float32, t int, wt []float32, c *GRUCache) []float32 {
	d := g.D
	c.t, c.x = t, x
	c.h = sized(c.h, (t+1)*d)
	clear(c.h[:d])
	c.z, c.r, c.n = sized(c.z, t*d), sized(c.r, t*d), sized(c.n, t*d)
	c.xw = sized(c.xw, t*3*d)
	LinearT(x, t, g.In, wt, 3*d, g.B, c.xw)
	c.hu, c.rh, c.nu = sized(c.hu, 2*d), sized(c.rh, d), sized(c.nu, d)
	hu, rh, nu := c.hu, c.rh, c.nu
	for s := range t {
		h := c.h[s*d : (s+1)*d]
		a := c.xw[s*3*d : (s+1)*3*d]
		kernels.MatVec(c.ut[:2*d*d], h, hu)
		z, r, n := c.z[s*d:(s+1)*d], c.r[s*d:(s+1)*d], c.n[s*d:(s+1)*d]
		for i := range d {
			z[i] = sigmoid(a[i] + hu[i])
			r[i] = sigmoid(a[d+i] + hu[d+i])
			rh[i] = r[i] * h[i]
		}
		kernels.MatVec(c.ut[2*d*d:], rh, nu)
		next := c.h[(s+1)*d : (s+2)*d]
		for i := range d {
			n[i] = float32(math.Tanh(float64(a[2*d+i] + nu[i])))
			next[i] = (1-z[i])*n[i] + z[i]*h[i]
		}
	}
	return c.h[d:]
}

// GRUInference is a layer's weights transposed (they do not change once
// trained) and the buffers of one pass at a time, for answering: Infer
// computes what Forward does, to the bit, reusing its buffers. Not safe
// for concurrent use; a caller keeps one per goroutine (a sync.Pool).
type GRUInference struct {
	g  *GRU
	wt []float32
	c  GRUCache
}

// NewInference returns g's weights transposed and buffers for sequences
// of up to maxT steps (longer ones grow them). g's weights must not change
// after.
func (g *GRU) NewInference(maxT int) *GRUInference {
	in := &GRUInference{g: g, wt: transpose(g.W, g.In, 3*g.D)}
	in.c.ut = transpose(g.U, g.D, 3*g.D)
	g.pass(make([]float32, maxT*g.In), maxT, in.wt, &in.c) // sizes the buffers
	return in
}

// Infer returns the states after each of the t rows of x; they live in
// the GRUInference until its next call.
func (in *GRUInference) Infer(x []float32, t int) []float32 {
	return in.g.pass(x, t, in.wt, &in.c)
}

// Backward takes the gradient of a loss at every state (t×D) and returns
// the gradient at the inputs (t×In) and at W, U and B (back-propagation
// through time).
func (g *GRU) Backward(c *GRUCache, dy []float32) ([]float32, [][]float32) {
	d, t := g.D, c.t
	dW, dU, dB := make([]float32, len(g.W)), make([]float32, len(g.U)), make([]float32, len(g.B))
	da := make([]float32, t*3*d) // the gradient at x·W + b, per step
	dnext := make([]float32, d)
	dh, drh := make([]float32, d), make([]float32, d)
	rh := make([]float32, d)
	for s := t - 1; s >= 0; s-- {
		h := c.h[s*d : (s+1)*d]
		z, r, n := c.z[s*d:(s+1)*d], c.r[s*d:(s+1)*d], c.n[s*d:(s+1)*d]
		a := da[s*3*d : (s+1)*3*d]
		daz, dar, dan := a[:d], a[d:2*d], a[2*d:]
		for i := range d {
			gs := dy[s*d+i] + dnext[i]
			dh[i] = gs * z[i] // through z⊙h
			dan[i] = gs * (1 - z[i]) * (1 - n[i]*n[i])
			daz[i] = gs * (h[i] - n[i]) * z[i] * (1 - z[i])
			rh[i] = r[i] * h[i]
		}
		// an = … + (r⊙h)·Un: dUn += (r⊙h)ᵀ·dan, d(r⊙h) = Un·dan.
		for i := range d {
			row := g.U[i*3*d : (i+1)*3*d]
			drh[i] = kernels.Dot(row[2*d:], dan)
			kernels.Axpy(rh[i], dan, dU[i*3*d+2*d:(i+1)*3*d])
		}
		for i := range d {
			dar[i] = drh[i] * h[i] * r[i] * (1 - r[i])
			dh[i] += drh[i] * r[i]
		}
		// az, ar = … + h·[Uz Ur].
		for i := range d {
			row := g.U[i*3*d : (i+1)*3*d]
			dh[i] += kernels.Dot(row[:d], daz) + kernels.Dot(row[d:2*d], dar)
			kernels.Axpy(h[i], a[:2*d], dU[i*3*d:i*3*d+2*d])
		}
		copy(dnext, dh)
	}
	dx := make([]float32, t*g.In)
	LinearBackward(c.x, t, g.In, g.W, 3*d, da, dx, dW, dB)
	return dx, [][]float32{dW, dU, dB}
}
