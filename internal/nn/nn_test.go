package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The gradient checks: a loss L = Σ y·r with fixed random r, the analytic
// gradient of each input against central differences of L.

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func dot64(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// check compares grad with central differences of loss over the entries
// of x.
func check(t *testing.T, name string, x, grad []float32, loss func() float64) {
	t.Helper()
	checkEps(t, name, x, grad, loss, 1e-2)
}

// checkEps is check with a step of eps.
func checkEps(t *testing.T, name string, x, grad []float32, loss func() float64, eps float32) {
	t.Helper()
	for i := range x {
		old := x[i]
		x[i] = old + eps
		up := loss()
		x[i] = old - eps
		down := loss()
		x[i] = old
		num := (up - down) / (2 * float64(eps))
		if diff := math.Abs(num - float64(grad[i])); diff > 2e-2*math.Max(1, math.Abs(num)) {
			t.Errorf("%s[%d]: analytic %v, numeric %v", name, i, grad[i], num)
		}
	}
}

func TestLinearGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const T, in, out = 3, 4, 5
	x, w, b, rr := randVec(r, T*in), randVec(r, in*out), randVec(r, out), randVec(r, T*out)
	y := make([]float32, T*out)
	loss := func() float64 { Linear(x, T, in, w, out, b, y); return dot64(y, rr) }
	loss()
	dx, dw, db := make([]float32, T*in), make([]float32, in*out), make([]float32, out)
	LinearBackward(x, T, in, w, out, rr, dx, dw, db)
	check(t, "x", x, dx, loss)
	check(t, "w", w, dw, loss)
	check(t, "b", b, db, loss)
	// By hand: x = [1 2], W = [[1 0 2], [0 1 1]], b = [1 1 1] → y = [2 3 5].
	y1 := make([]float32, 3)
	Linear([]float32{1, 2}, 1, 2, []float32{1, 0, 2, 0, 1, 1}, 3, []float32{1, 1, 1}, y1)
	if y1[0] != 2 || y1[1] != 3 || y1[2] != 5 {
		t.Errorf("linear by hand: %v", y1)
	}
}

func TestLayerNormGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 1))
	const T, d = 3, 6
	x, gamma, beta, rr := randVec(r, T*d), randVec(r, d), randVec(r, d), randVec(r, T*d)
	y := make([]float32, T*d)
	var inv []float32
	loss := func() float64 { inv = LayerNorm(x, T, d, gamma, beta, y); return dot64(y, rr) }
	loss()
	dx, dg, dbeta := make([]float32, T*d), make([]float32, d), make([]float32, d)
	LayerNormBackward(x, T, d, gamma, inv, rr, dx, dg, dbeta)
	check(t, "x", x, dx, loss)
	check(t, "gamma", gamma, dg, loss)
	check(t, "beta", beta, dbeta, loss)
	// By hand: [1 2 3] → mean 2, variance 2/3: [−1.2247, 0, 1.2247].
	y1 := make([]float32, 3)
	LayerNorm([]float32{1, 2, 3}, 1, 3, []float32{1, 1, 1}, []float32{0, 0, 0}, y1)
	if math.Abs(float64(y1[2])-math.Sqrt(1.5)) > 1e-4 || y1[1] != 0 {
		t.Errorf("layer norm by hand: %v", y1)
	}
}

func TestSoftmaxAndReLUGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 1))
	const T, n = 2, 5
	x, rr := randVec(r, T*n), randVec(r, T*n)
	y := make([]float32, T*n)
	loss := func() float64 { Softmax(x, T, n, y); return dot64(y, rr) }
	loss()
	dx := make([]float32, T*n)
	SoftmaxBackward(y, T, n, rr, dx)
	check(t, "softmax x", x, dx, loss)
	z := make([]float32, T*n)
	lossR := func() float64 { ReLU(x, z); return dot64(z, rr) }
	lossR()
	dz := make([]float32, T*n)
	ReLUBackward(x, rr, dz)
	check(t, "relu x", x, dz, lossR)
}

func TestCrossEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 1))
	const T, n = 4, 7
	logits := randVec(r, T*n)
	targets := []int32{3, -1, 0, 6} // the second position has no target
	dl := make([]float32, T*n)
	CrossEntropy(logits, T, n, targets, dl)
	check(t, "logits", logits, dl, func() float64 { return CrossEntropy(logits, T, n, targets, nil) })
	// By hand: two equal logits, target 0: −log ½.
	if l := CrossEntropy([]float32{0, 0}, 1, 2, []int32{0}, nil); math.Abs(l-math.Ln2) > 1e-6 {
		t.Errorf("cross-entropy by hand: %v, want ln 2", l)
	}
}

func TestAttentionGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 1))
	const T, d = 4, 3
	q, k, v, rr := randVec(r, T*d), randVec(r, T*d), randVec(r, T*d), randVec(r, T*d)
	o := make([]float32, T*d)
	var p []float32
	loss := func() float64 { p = Attention(q, k, v, T, d, o); return dot64(o, rr) }
	loss()
	dq, dk, dv := make([]float32, T*d), make([]float32, T*d), make([]float32, T*d)
	AttentionBackward(q, k, v, p, T, d, rr, dq, dk, dv)
	check(t, "q", q, dq, loss)
	check(t, "k", k, dk, loss)
	check(t, "v", v, dv, loss)
	// Causal: the first position sees only itself, so its output is v_0.
	for j := range d {
		if math.Abs(float64(o[j]-v[j])) > 1e-6 {
			t.Errorf("position 0 output %v, want v_0 %v", o[:d], v[:d])
			break
		}
	}
}

// testBlock is a block of width 4, two heads and hidden 6 drawn from r,
// its gains and shifts moved away from 1 and 0 so that their gradients
// show.
func testBlock(t *testing.T, r *rand.Rand) *Block {
	t.Helper()
	b, err := NewBlock(4, 2, 6, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]float32{b.G1, b.Be1, b.G2, b.Be2, b.B1, b.B2} {
		for i := range p {
			p[i] += float32(r.NormFloat64()) * 0.3
		}
	}
	return b
}

// checkBlock checks a block's input and parameter gradients against
// finite differences of loss, with a small step: the ReLU's kink is
// within 0.01 of some inputs.
func checkBlock(t *testing.T, b *Block, x, dx []float32, grads [][]float32, loss func() float64) {
	t.Helper()
	checkEps(t, "x", x, dx, loss, 1e-3)
	names := []string{"Wq", "Wk", "Wv", "Wo", "W1", "B1", "W2", "B2", "G1", "Be1", "G2", "Be2"}
	for i, p := range b.Params() {
		checkEps(t, names[i], p, grads[i], loss, 1e-3)
	}
}

// TestAttentionDropGradients checks attention with a dropout mask on its
// weights: the gradients against finite differences, and the output
// against the weights times the mask by hand.
func TestAttentionDropGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 2))
	const T, d = 4, 3
	q, k, v, rr := randVec(r, T*d), randVec(r, T*d), randVec(r, T*d), randVec(r, T*d)
	m := DropoutMask(T*T, 0.4, r)
	o, p := make([]float32, T*d), make([]float32, T*T)
	loss := func() float64 { AttentionDropInto(q, k, v, T, d, o, p, m); return dot64(o, rr) }
	loss()
	dq, dk, dv := make([]float32, T*d), make([]float32, T*d), make([]float32, T*d)
	AttentionDropBackward(q, k, v, p, m, T, d, rr, dq, dk, dv)
	check(t, "q", q, dq, loss)
	check(t, "k", k, dk, loss)
	check(t, "v", v, dv, loss)
	// The last position's output is Σ_j p_j m_j v_j.
	loss()
	i := T - 1
	for c := range d {
		want := 0.0
		for j := range T {
			want += float64(p[i*T+j]) * float64(m[i*T+j]) * float64(v[j*d+c])
		}
		if math.Abs(float64(o[i*d+c])-want) > 1e-5 {
			t.Errorf("output [%d][%d] = %v, want %v", i, c, o[i*d+c], want)
		}
	}
}

// TestBlockDropout checks a block trained with dropout: the gradients
// under fixed masks against finite differences; masks that drop about
// the rate's share and scale the rest; and a rate of 0 that is Forward to
// the bit and draws nothing.
func TestBlockDropout(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 2))
	b := testBlock(t, r)
	const T, rate = 3, 0.3
	x, rr := randVec(r, T*4), randVec(r, T*4)
	masks := func() *rand.Rand { return rand.New(rand.NewPCG(11, 3)) }
	loss := func() float64 { y, _ := b.ForwardDrop(x, T, rate, masks()); return dot64(y, rr) }
	y, cache := b.ForwardDrop(x, T, rate, masks())
	dx, grads := b.Backward(cache, rr)
	checkBlock(t, b, x, dx, grads, loss)
	if plain, _ := b.Forward(x, T); slices.Equal(plain, y) {
		t.Error("dropout at 0.3 left the output unchanged")
	}

	m := DropoutMask(100000, rate, rand.New(rand.NewPCG(1, 1)))
	zeros := 0
	for _, v := range m {
		switch v {
		case 0:
			zeros++
		case float32(1 / (1 - rate)):
		default:
			t.Fatalf("mask entry %v, want 0 or %v", v, 1/(1-rate))
		}
	}
	if share := float64(zeros) / float64(len(m)); math.Abs(share-rate) > 0.01 {
		t.Errorf("mask dropped %.3f of its entries, want about %v", share, rate)
	}

	r0 := rand.New(rand.NewPCG(4, 4))
	y0, _ := b.ForwardDrop(x, T, 0, r0)
	if plain, _ := b.Forward(x, T); !slices.Equal(plain, y0) {
		t.Error("ForwardDrop at rate 0 differs from Forward")
	}
	if r0.Uint64() != rand.New(rand.NewPCG(4, 4)).Uint64() {
		t.Error("ForwardDrop at rate 0 drew from its random source")
	}
}

// TestBlockGradients checks a two-head block end to end: the input and
// every parameter against finite differences.
func TestBlockGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 1))
	b := testBlock(t, r)
	const T = 3
	x, rr := randVec(r, T*4), randVec(r, T*4)
	loss := func() float64 { y, _ := b.Forward(x, T); return dot64(y, rr) }
	_, cache := b.Forward(x, T)
	dx, grads := b.Backward(cache, rr)
	checkBlock(t, b, x, dx, grads, loss)
	if _, err := NewBlock(5, 2, 4, r); err == nil {
		t.Error("a width that is not a multiple of the heads was accepted")
	}
}

func TestGRUGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1))
	const T, in, d = 4, 3, 5
	g := NewGRU(in, d, r)
	for i := range g.B {
		g.B[i] = float32(r.NormFloat64()) * 0.3
	}
	x, rr := randVec(r, T*in), randVec(r, T*d)
	loss := func() float64 { y, _ := g.Forward(x, T); return dot64(y, rr) }
	_, cache := g.Forward(x, T)
	dx, grads := g.Backward(cache, rr)
	checkEps(t, "x", x, dx, loss, 1e-3)
	for i, name := range []string{"W", "U", "B"} {
		checkEps(t, name, g.Params()[i], grads[i], loss, 1e-3)
	}
	// By hand: one step from the zero state with all weights zero and
	// biases bz = 0, bn = 1: z = ½, n = tanh 1, h = ½·tanh 1.
	h := NewGRU(1, 1, r)
	clear(h.W)
	clear(h.U)
	h.B[0], h.B[1], h.B[2] = 0, 0, 1
	y, _ := h.Forward([]float32{2}, 1)
	if want := 0.5 * math.Tanh(1); math.Abs(float64(y[0])-want) > 1e-6 {
		t.Errorf("one step by hand: %v, want %v", y[0], want)
	}
}

// BenchmarkBlock is one transformer block's forward and backward pass over
// a 50-position sequence of width 64 (sasrec's defaults: 2 heads, a
// feed-forward layer of 256). Its floating-point operations: forward
// 24·t·d² (the projections and the feed-forward layer) + 4·t²·d (the
// attention's scores and weighted sums), backward twice that.
func BenchmarkBlock(b *testing.B) {
	const t, d = 50, 64
	r := rand.New(rand.NewPCG(3, 4))
	blk, err := NewBlock(d, 2, 4*d, r)
	if err != nil {
		b.Fatal(err)
	}
	x, dy := make([]float32, t*d), make([]float32, t*d)
	for i := range x {
		x[i], dy[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	for b.Loop() {
		_, c := blk.Forward(x, t)
		blk.Backward(c, dy)
	}
	flops := 3 * (24.0*t*d*d + 4.0*t*t*d)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestInferIsForward checks the answering path of a block against its
// training path: for sequences of every length up to the buffers' and
// twice through one Inference, Infer gives Forward's output to the bit.
func TestInferIsForward(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	b, err := NewBlock(16, 4, 32, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.B1 {
		b.B1[i] = float32(r.NormFloat64())
	}
	in := b.NewInference(12)
	for _, n := range []int{1, 5, 12, 3, 12} {
		x := make([]float32, n*16)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		want, _ := b.Forward(x, n)
		if got := in.Infer(x, n); !slices.Equal(got, want) {
			t.Errorf("%d positions: Infer %v, Forward %v", n, got[:4], want[:4])
		}
	}
}

// TestGRUInferIsForward: a GRU's pooled pass gives Forward's states to the
// bit, over lengths within and past its buffers', reused.
func TestGRUInferIsForward(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 3))
	g := NewGRU(8, 16, r)
	for i := range g.B {
		g.B[i] = float32(r.NormFloat64())
	}
	in := g.NewInference(10)
	for _, n := range []int{1, 6, 10, 3, 14, 2} {
		x := make([]float32, n*8)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		want, _ := g.Forward(x, n)
		if got := in.Infer(x, n); !slices.Equal(got, want) {
			t.Errorf("%d steps: Infer %v, Forward %v", n, got[:4], want[:4])
		}
	}
}
