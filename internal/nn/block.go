package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Block is one pre-norm transformer block of width D with Heads heads of
// causal self-attention and a position-wise feed-forward layer of width
// Hidden:
//
//	x₂ = x + Attn(LN₁(x))·Wo,  y = x₂ + ReLU(LN₂(x₂)·W₁ + b₁)·W₂ + b₂
//
// where Attn splits LN₁(x)·Wq, ·Wk and ·Wv into Heads slices of the width.
type Block struct {
	D, Heads, Hidden int
	Wq, Wk, Wv, Wo   []float32 // D×D
	W1               []float32 // D×Hidden
	B1               []float32 // Hidden
	W2               []float32 // Hidden×D
	B2               []float32 // D
	G1, Be1, G2, Be2 []float32 // D: the layer norms' gains and shifts
}

// NewBlock makes a block with weights drawn from N(0, 1/fan-in) by r,
// gains 1 and shifts 0.
func NewBlock(d, heads, hidden int, r *rand.Rand) (*Block, error) {
	if d < 1 || heads < 1 || d%heads != 0 || hidden < 1 {
		return nil, fmt.Errorf("nn: a block of width %d with %d heads and hidden %d: the width must be a positive multiple of the heads", d, heads, hidden)
	}
	w := func(in, out int) []float32 {
		v := make([]float32, in*out)
		s := 1 / math.Sqrt(float64(in))
		for i := range v {
			v[i] = float32(r.NormFloat64() * s)
		}
		return v
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	return &Block{D: d, Heads: heads, Hidden: hidden, Wq: w(d, d), Wk: w(d, d), Wv: w(d, d), Wo: w(d, d),
		W1: w(d, hidden), B1: make([]float32, hidden), W2: w(hidden, d), B2: make([]float32, d),
		G1: ones(d), Be1: make([]float32, d), G2: ones(d), Be2: make([]float32, d)}, nil
}

// Params lists the block's parameter slices (for an optimizer), in a fixed
// order that Grads of a Backward follows too.
func (b *Block) Params() [][]float32 {
	return [][]float32{b.Wq, b.Wk, b.Wv, b.Wo, b.W1, b.B1, b.W2, b.B2, b.G1, b.Be1, b.G2, b.Be2}
}

// BlockCache is what Forward keeps for Backward.
type BlockCache struct {
	t                  int
	x, h1, q, k, v     []float32
	inv1, inv2         []float32
	heads              [][3][]float32 // per head: q, k, v slices (t×dh)
	probs              [][]float32
	att, x2, h2, z, zr []float32
}

// Transposed is a block's weight matrices transposed for LinearT: made
// once while the weights hold still (a training batch, or answering) and
// shared by every forward pass of that time.
type Transposed struct{ wq, wk, wv, wo, w1, w2 []float32 }

// Transpose sets wt to b's weights transposed, reusing its memory.
func (b *Block) Transpose(wt *Transposed) {
	d, h := b.D, b.Hidden
	into := func(dst *[]float32, w []float32, rows, cols int) {
		if len(*dst) != len(w) {
			*dst = make([]float32, len(w))
		}
		transposeInto(*dst, w, rows, cols)
	}
	into(&wt.wq, b.Wq, d, d)
	into(&wt.wk, b.Wk, d, d)
	into(&wt.wv, b.Wv, d, d)
	into(&wt.wo, b.Wo, d, d)
	into(&wt.w1, b.W1, d, h)
	into(&wt.w2, b.W2, h, d)
}

// Forward computes the block's output for t positions.
func (b *Block) Forward(x []float32, t int) ([]float32, *BlockCache) {
	var wt Transposed
	b.Transpose(&wt)
	return b.ForwardT(x, t, &wt)
}

// ForwardT is Forward given the weights transposed (Transpose): the same
// numbers, without transposing them for every pass.
func (b *Block) ForwardT(x []float32, t int, wt *Transposed) ([]float32, *BlockCache) {
	d, h, dh := b.D, b.Hidden, b.D/b.Heads
	c := &BlockCache{t: t, x: x}
	c.h1 = make([]float32, t*d)
	c.inv1 = LayerNorm(x, t, d, b.G1, b.Be1, c.h1)
	c.q, c.k, c.v = make([]float32, t*d), make([]float32, t*d), make([]float32, t*d)
	LinearT(c.h1, t, d, wt.wq, d, nil, c.q)
	LinearT(c.h1, t, d, wt.wk, d, nil, c.k)
	LinearT(c.h1, t, d, wt.wv, d, nil, c.v)
	c.att = make([]float32, t*d)
	o := make([]float32, t*dh)
	for hd := range b.Heads {
		qs, ks, vs := slice(c.q, t, d, hd*dh, dh), slice(c.k, t, d, hd*dh, dh), slice(c.v, t, d, hd*dh, dh)
		c.heads = append(c.heads, [3][]float32{qs, ks, vs})
		c.probs = append(c.probs, Attention(qs, ks, vs, t, dh, o))
		unslice(o, c.att, t, d, hd*dh, dh)
	}
	proj := make([]float32, t*d)
	LinearT(c.att, t, d, wt.wo, d, nil, proj)
	c.x2 = make([]float32, t*d)
	for i := range proj {
		c.x2[i] = x[i] + proj[i]
	}
	c.h2 = make([]float32, t*d)
	c.inv2 = LayerNorm(c.x2, t, d, b.G2, b.Be2, c.h2)
	c.z, c.zr = make([]float32, t*h), make([]float32, t*h)
	LinearT(c.h2, t, d, wt.w1, h, b.B1, c.z)
	ReLU(c.z, c.zr)
	f := make([]float32, t*d)
	LinearT(c.zr, t, h, wt.w2, d, b.B2, f)
	y := make([]float32, t*d)
	for i := range y {
		y[i] = c.x2[i] + f[i]
	}
	return y, c
}

// Backward returns the gradient at the input and the parameters' gradients
// (in the order of Params) of a loss whose gradient at the output is dy.
func (b *Block) Backward(c *BlockCache, dy []float32) ([]float32, [][]float32) {
	d, h, dh, t := b.D, b.Hidden, b.D/b.Heads, c.t
	g := make([][]float32, 12)
	for i, p := range b.Params() {
		g[i] = make([]float32, len(p))
	}
	// y = x₂ + f: the residual passes dy to x₂.
	dx2 := append([]float32(nil), dy...)
	dzr := make([]float32, t*h)
	LinearBackward(c.zr, t, h, b.W2, d, dy, dzr, g[6], g[7])
	dz := make([]float32, t*h)
	ReLUBackward(c.z, dzr, dz)
	dh2 := make([]float32, t*d)
	LinearBackward(c.h2, t, d, b.W1, h, dz, dh2, g[4], g[5])
	LayerNormBackward(c.x2, t, d, b.G2, c.inv2, dh2, dx2, g[10], g[11])
	// x₂ = x + att·Wo.
	dx := append([]float32(nil), dx2...)
	datt := make([]float32, t*d)
	LinearBackward(c.att, t, d, b.Wo, d, dx2, datt, g[3], nil)
	dq, dk, dv := make([]float32, t*d), make([]float32, t*d), make([]float32, t*d)
	do := make([]float32, t*dh)
	for hd := range b.Heads {
		copy(do, slice(datt, t, d, hd*dh, dh))
		dqs, dks, dvs := make([]float32, t*dh), make([]float32, t*dh), make([]float32, t*dh)
		AttentionBackward(c.heads[hd][0], c.heads[hd][1], c.heads[hd][2], c.probs[hd], t, dh, do, dqs, dks, dvs)
		unslice(dqs, dq, t, d, hd*dh, dh)
		unslice(dks, dk, t, d, hd*dh, dh)
		unslice(dvs, dv, t, d, hd*dh, dh)
	}
	dh1 := make([]float32, t*d)
	LinearBackward(c.h1, t, d, b.Wq, d, dq, dh1, g[0], nil)
	LinearBackward(c.h1, t, d, b.Wk, d, dk, dh1, g[1], nil)
	LinearBackward(c.h1, t, d, b.Wv, d, dv, dh1, g[2], nil)
	LayerNormBackward(c.x, t, d, b.G1, c.inv1, dh1, dx, g[8], g[9])
	return dx, g
}

// slice copies columns [at, at+w) of a t×d matrix.
func slice(m []float32, t, d, at, w int) []float32 {
	out := make([]float32, t*w)
	sliceInto(m, out, t, d, at, w)
	return out
}

// sliceInto is slice writing into out (t×w).
func sliceInto(m, out []float32, t, d, at, w int) {
	for r := range t {
		copy(out[r*w:(r+1)*w], m[r*d+at:r*d+at+w])
	}
}

// unslice writes a t×w matrix into columns [at, at+w) of a t×d one.
func unslice(s, m []float32, t, d, at, w int) {
	for r := range t {
		copy(m[r*d+at:r*d+at+w], s[r*w:(r+1)*w])
	}
}

// Inference is a block's weights transposed for Linear (they do not change
// once trained) and the buffers of one forward pass at a time, for
// answering: Infer computes what Forward does, to the bit, without
// allocating and without keeping what Backward needs. Not safe for
// concurrent use; a caller keeps one per goroutine (a sync.Pool).
type Inference struct {
	b                  *Block
	wt                 Transposed
	h1, q, k, v, att   []float32
	qs, ks, vs, o, p   []float32
	proj, x2, h2, z, f []float32
	y, inv             []float32
}

// NewInference returns the transposed weights of b and buffers for
// sequences of up to maxT positions. b's weights must not change after.
func (b *Block) NewInference(maxT int) *Inference {
	d, h, dh := b.D, b.Hidden, b.D/b.Heads
	buf := func(n int) []float32 { return make([]float32, n) }
	in := &Inference{b: b,
		h1: buf(maxT * d), q: buf(maxT * d), k: buf(maxT * d), v: buf(maxT * d), att: buf(maxT * d),
		qs: buf(maxT * dh), ks: buf(maxT * dh), vs: buf(maxT * dh), o: buf(maxT * dh), p: buf(maxT * maxT),
		proj: buf(maxT * d), x2: buf(maxT * d), h2: buf(maxT * d), z: buf(maxT * h), f: buf(maxT * d), y: buf(maxT * d), inv: buf(maxT)}
	b.Transpose(&in.wt)
	return in
}

// Infer returns the block's output for t positions (at most the maxT of
// NewInference); it lives in the Inference until its next call.
func (in *Inference) Infer(x []float32, t int) []float32 {
	b := in.b
	d, h, dh := b.D, b.Hidden, b.D/b.Heads
	h1, q, k, v, att := in.h1[:t*d], in.q[:t*d], in.k[:t*d], in.v[:t*d], in.att[:t*d]
	LayerNormInto(x, t, d, b.G1, b.Be1, h1, in.inv[:t])
	LinearT(h1, t, d, in.wt.wq, d, nil, q)
	LinearT(h1, t, d, in.wt.wk, d, nil, k)
	LinearT(h1, t, d, in.wt.wv, d, nil, v)
	qs, ks, vs, o := in.qs[:t*dh], in.ks[:t*dh], in.vs[:t*dh], in.o[:t*dh]
	for hd := range b.Heads {
		sliceInto(q, qs, t, d, hd*dh, dh)
		sliceInto(k, ks, t, d, hd*dh, dh)
		sliceInto(v, vs, t, d, hd*dh, dh)
		AttentionInto(qs, ks, vs, t, dh, o, in.p[:t*t])
		unslice(o, att, t, d, hd*dh, dh)
	}
	proj, x2, h2 := in.proj[:t*d], in.x2[:t*d], in.h2[:t*d]
	LinearT(att, t, d, in.wt.wo, d, nil, proj)
	for i := range proj {
		x2[i] = x[i] + proj[i]
	}
	LayerNormInto(x2, t, d, b.G2, b.Be2, h2, in.inv[:t])
	z, f, y := in.z[:t*h], in.f[:t*d], in.y[:t*d]
	LinearT(h2, t, d, in.wt.w1, h, b.B1, z)
	ReLU(z, z)
	LinearT(z, t, h, in.wt.w2, d, b.B2, f)
	for i := range y {
		y[i] = x2[i] + f[i]
	}
	return y
}
