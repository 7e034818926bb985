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
// In training, ForwardDrop adds dropout where SASRec has it: on the
// attention weights, on the feed-forward layer's hidden units and on its
// output.
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

// BlockCache is what Forward keeps for Backward, and the buffers of a
// pass (an Inference reuses one from pass to pass).
type BlockCache struct {
	t                  int
	x, h1, q, k, v     []float32
	inv1, inv2         []float32
	heads              [][3][]float32 // per head: q, k, v slices (t×dh)
	probs              [][]float32
	att, x2, h2, z, zr []float32
	o, proj, f, y      []float32
	// The dropout masks (nil without dropout): per head on the attention
	// weights (t×t), on the hidden units (t×Hidden), on the output (t×D).
	mp     [][]float32
	mz, mf []float32
}

// sized returns buf resized to n, reusing its memory when it can.
func sized(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
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
	return b.ForwardDrop(x, t, 0, nil)
}

// ForwardT is Forward given the weights transposed (Transpose): the same
// numbers, without transposing them for every pass.
func (b *Block) ForwardT(x []float32, t int, wt *Transposed) ([]float32, *BlockCache) {
	c := &BlockCache{}
	return b.pass(x, t, wt, c), c
}

// ForwardDrop is Forward in training with dropout at rate p on the
// attention weights, the hidden units and the output of the feed-forward
// layer, its masks drawn from r (each entry kept with chance 1−p and
// scaled by 1/(1−p)) and kept in the cache for Backward. With p 0 it is
// Forward and draws nothing from r (which may be nil).
func (b *Block) ForwardDrop(x []float32, t int, p float64, r *rand.Rand) ([]float32, *BlockCache) {
	if p < 0 || p >= 1 {
		panic(fmt.Sprintf("nn: dropout rate %g out of [0, 1)", p))
	}
	c := &BlockCache{}
	if p > 0 {
		c.mp = make([][]float32, b.Heads)
		for hd := range c.mp {
			c.mp[hd] = DropoutMask(t*t, p, r)
		}
		c.mz, c.mf = DropoutMask(t*b.Hidden, p, r), DropoutMask(t*b.D, p, r)
	}
	var wt Transposed
	b.Transpose(&wt)
	return b.pass(x, t, &wt, c), c
}

// DropoutMask draws a mask of n entries, each 0 with chance p and
// 1/(1−p) otherwise (inverted dropout); nil when p is 0 or r is nil (no
// dropout).
func DropoutMask(n int, p float64, r *rand.Rand) []float32 {
	if p <= 0 || r == nil {
		return nil
	}
	m, keep := make([]float32, n), float32(1/(1-p))
	for i := range m {
		if r.Float64() >= p {
			m[i] = keep
		}
	}
	return m
}

// headMask is head hd's mask on its attention weights (nil without
// dropout).
func (c *BlockCache) headMask(hd int) []float32 {
	if c.mp == nil {
		return nil
	}
	return c.mp[hd]
}

// mul sets x to x ⊙ m (m nil: unchanged).
func mul(x, m []float32) {
	if m == nil {
		return
	}
	for i := range x {
		x[i] *= m[i]
	}
}

// pass computes the block's output for t positions into c's buffers
// (resized, their memory reused), keeping in c what Backward needs.
func (b *Block) pass(x []float32, t int, wt *Transposed, c *BlockCache) []float32 {
	d, h, dh := b.D, b.Hidden, b.D/b.Heads
	c.t, c.x = t, x
	c.h1, c.inv1 = sized(c.h1, t*d), sized(c.inv1, t)
	LayerNormInto(x, t, d, b.G1, b.Be1, c.h1, c.inv1)
	c.q, c.k, c.v = sized(c.q, t*d), sized(c.k, t*d), sized(c.v, t*d)
	LinearT(c.h1, t, d, wt.wq, d, nil, c.q)
	LinearT(c.h1, t, d, wt.wk, d, nil, c.k)
	LinearT(c.h1, t, d, wt.wv, d, nil, c.v)
	c.att, c.o = sized(c.att, t*d), sized(c.o, t*dh)
	if len(c.heads) != b.Heads {
		c.heads, c.probs = make([][3][]float32, b.Heads), make([][]float32, b.Heads)
	}
	for hd := range b.Heads {
		hs := &c.heads[hd]
		for j, m := range [3][]float32{c.q, c.k, c.v} {
			hs[j] = sized(hs[j], t*dh)
			sliceInto(m, hs[j], t, d, hd*dh, dh)
		}
		c.probs[hd] = sized(c.probs[hd], t*t)
		AttentionDropInto(hs[0], hs[1], hs[2], t, dh, c.o, c.probs[hd], c.headMask(hd))
		unslice(c.o, c.att, t, d, hd*dh, dh)
	}
	c.proj = sized(c.proj, t*d)
	LinearT(c.att, t, d, wt.wo, d, nil, c.proj)
	c.x2 = sized(c.x2, t*d)
	for i := range c.proj {
		c.x2[i] = x[i] + c.proj[i]
	}
	c.h2, c.inv2 = sized(c.h2, t*d), sized(c.inv2, t)
	LayerNormInto(c.x2, t, d, b.G2, b.Be2, c.h2, c.inv2)
	c.z, c.zr = sized(c.z, t*h), sized(c.zr, t*h)
	LinearT(c.h2, t, d, wt.w1, h, b.B1, c.z)
	ReLU(c.z, c.zr)
	mul(c.zr, c.mz)
	c.f = sized(c.f, t*d)
	LinearT(c.zr, t, h, wt.w2, d, b.B2, c.f)
	mul(c.f, c.mf)
	c.y = sized(c.y, t*d)
	for i := range c.y {
		c.y[i] = c.x2[i] + c.f[i]
	}
	return c.y
}

// Backward returns the gradient at the input and the parameters' gradients
// (in the order of Params) of a loss whose gradient at the output is dy.
func (b *Block) Backward(c *BlockCache, dy []float32) ([]float32, [][]float32) {
	d, h, dh, t := b.D, b.Hidden, b.D/b.Heads, c.t
	g := make([][]float32, 12)
	for i, p := range b.Params() {
		g[i] = make([]float32, len(p))
	}
	// y = x₂ + f⊙M_f: the residual passes dy to x₂.
	dx2 := append([]float32(nil), dy...)
	df := dy
	if c.mf != nil {
		df = append([]float32(nil), dy...)
		mul(df, c.mf)
	}
	dzr := make([]float32, t*h)
	LinearBackward(c.zr, t, h, b.W2, d, df, dzr, g[6], g[7])
	mul(dzr, c.mz) // zr = ReLU(z)⊙M_z
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
		AttentionDropBackward(c.heads[hd][0], c.heads[hd][1], c.heads[hd][2], c.probs[hd], c.headMask(hd), t, dh, do, dqs, dks, dvs)
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
// answering: Infer computes what Forward does, to the bit, reusing its
// buffers from pass to pass. Not safe for concurrent use; a caller keeps
// one per goroutine (a sync.Pool).
type Inference struct {
	b  *Block
	wt Transposed
	c  BlockCache
}

// NewInference returns the transposed weights of b and buffers for
// sequences of up to maxT positions (longer ones grow them). b's weights
// must not change after.
func (b *Block) NewInference(maxT int) *Inference {
	in := &Inference{b: b}
	b.Transpose(&in.wt)
	b.pass(make([]float32, maxT*b.D), maxT, &in.wt, &in.c) // sizes the buffers
	return in
}

// Infer returns the block's output for t positions; it lives in the
// Inference until its next call.
func (in *Inference) Infer(x []float32, t int) []float32 {
	return in.b.pass(x, t, &in.wt, &in.c)
}
