// Package sasrec is SASRec (Kang and McAuley, "Self-Attentive Sequential
// Recommendation", ICDM 2018) trained with full softmax cross-entropy over
// the catalog: item embeddings tied between input and output, learned
// positional embeddings, a stack of pre-norm causal self-attention blocks
// (package nn, every layer gradient-checked), trained to predict the next
// item at every position of each shopper's sequence with Adam, on both
// cores, early stopping on each shopper's last training item, dropout on
// the input embeddings.
package sasrec

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/nn"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters.
type Config struct {
	// Dims is the embedding width (default 64), Heads the attention heads
	// (default 2), Blocks the transformer blocks (default 2), MaxLen the
	// longest sequence (default 50).
	Dims   int `json:"dims,omitempty"`
	Heads  int `json:"heads,omitempty"`
	Blocks int `json:"blocks,omitempty"`
	MaxLen int `json:"max_len,omitempty"`
	// LearningRate (default 0.001), Epochs the most (default 30),
	// Patience the epochs without a better validation mean reciprocal
	// rank before stopping (default 3), Batch the sequences per step
	// (default 32).
	LearningRate float64 `json:"learning_rate,omitempty"`
	Epochs       int     `json:"epochs,omitempty"`
	Patience     int     `json:"patience,omitempty"`
	Batch        int     `json:"batch,omitempty"`
	// Dropout is the share of the input embeddings' entries zeroed in
	// training (default 0.2; the kept ones are scaled up to match).
	Dropout *float64 `json:"dropout,omitempty"`
}

// Info describes the model for package all.
func Info() model.Info {
	return model.Info{Name: "sasrec", New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("sasrec", params, &c); err != nil {
			return nil, err
		}
		c.Dims, c.Heads, c.Blocks, c.MaxLen = cmp.Or(c.Dims, 64), cmp.Or(c.Heads, 2), cmp.Or(c.Blocks, 2), cmp.Or(c.MaxLen, 50)
		c.LearningRate, c.Epochs, c.Patience, c.Batch = cmp.Or(c.LearningRate, 0.001), cmp.Or(c.Epochs, 30), cmp.Or(c.Patience, 3), cmp.Or(c.Batch, 32)
		if c.Dropout == nil {
			dropout := 0.2
			c.Dropout = &dropout
		}
		if !(*c.Dropout >= 0 && *c.Dropout < 1) {
			return nil, fmt.Errorf("sasrec: dropout %v must be in [0, 1)", *c.Dropout)
		}
		switch {
		case c.Dims < 2 || c.Dims > 1024 || c.Heads < 1 || c.Dims%c.Heads != 0:
			return nil, fmt.Errorf("sasrec: dims %d must be from 2 to 1024 and a multiple of heads %d", c.Dims, c.Heads)
		case c.Blocks < 1 || c.Blocks > 12 || c.MaxLen < 2 || c.MaxLen > 1000:
			return nil, fmt.Errorf("sasrec: blocks %d must be from 1 to 12 and max_len %d from 2 to 1000", c.Blocks, c.MaxLen)
		case !(c.LearningRate > 0 && c.LearningRate < 1) || c.Epochs < 1 || c.Epochs > 10000 || c.Patience < 1 || c.Batch < 1:
			return nil, fmt.Errorf("sasrec: learning_rate %v, epochs %d, patience %d and batch %d are out of range", c.LearningRate, c.Epochs, c.Patience, c.Batch)
		}
		return &Model{cfg: c, seed: seed}, nil
	}}
}

// Model is a fitted SASRec. It is safe for concurrent use once fitted.
type Model struct {
	cfg  Config
	seed uint64

	n      int       // items
	emb    []float32 // n×d, tied input and output
	pos    []float32 // MaxLen×d
	blocks []*nn.Block
	gf, bf []float32 // the final layer norm
	seqs   [][]int32 // each training shopper's sequence, oldest first
	// Epochs and ValidMRR say how training went: the epochs run and the
	// best validation mean reciprocal rank.
	Epochs   int
	ValidMRR float64
}

// Tasks: personal and session recommendations.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskPersonal, model.TaskSession} }

// params lists every parameter slice, in a fixed order.
func (m *Model) params() [][]float32 {
	ps := [][]float32{m.emb, m.pos, m.gf, m.bf}
	for _, b := range m.blocks {
		ps = append(ps, b.Params()...)
	}
	return ps
}

// sequences are the shoppers' items in time order (the matrix's rows by
// their times when the dataset has no events).
func sequences(d *dataset.Dataset) ([][]int32, error) {
	mx, err := d.Matrix()
	if err != nil {
		return nil, err
	}
	out := make([][]int32, d.NumUsers())
	for u := range out {
		lo, hi := mx.RowPtr[u], mx.RowPtr[u+1]
		idx := make([]int64, 0, hi-lo)
		for k := lo; k < hi; k++ {
			if mx.Weights[k] > 0 {
				idx = append(idx, k)
			}
		}
		slices.SortStableFunc(idx, func(a, b int64) int {
			return cmp.Or(cmp.Compare(mx.Times[a], mx.Times[b]), cmp.Compare(mx.Cols[a], mx.Cols[b]))
		})
		for _, k := range idx {
			out[u] = append(out[u], mx.Cols[k])
		}
	}
	return out, nil
}

// forward runs the network over a sequence (at most MaxLen items) and
// returns the final hidden states (t×d) and what backward needs.
type trace struct {
	t      int
	x0     []float32
	caches []*nn.BlockCache
	hf     []float32
	invF   []float32
	last   []float32 // the last block's output
}

func (m *Model) forward(seq []int32, mask []float32) *trace {
	d, t := m.cfg.Dims, len(seq)
	tr := &trace{t: t, x0: make([]float32, t*d)}
	for i, it := range seq {
		copy(tr.x0[i*d:(i+1)*d], m.emb[int(it)*d:int(it+1)*d])
		kernels.Axpy(1, m.pos[i*d:(i+1)*d], tr.x0[i*d:(i+1)*d])
	}
	// Dropout in training: mask holds 0 or 1/(1−p) per entry.
	for i := range mask[:min(len(mask), t*d)] {
		tr.x0[i] *= mask[i]
	}
	x := tr.x0
	for _, b := range m.blocks {
		y, c := b.Forward(x, t)
		tr.caches = append(tr.caches, c)
		x = y
	}
	tr.last = x
	tr.hf = make([]float32, t*d)
	tr.invF = nn.LayerNorm(x, t, d, m.gf, m.bf, tr.hf)
	return tr
}

// grads holds a gradient for every parameter (the order of params).
type grads [][]float32

func (m *Model) newGrads() grads {
	var g grads
	for _, p := range m.params() {
		g = append(g, make([]float32, len(p)))
	}
	return g
}

// step adds one sequence's loss gradient to g and returns its summed loss
// and target count: the next item at every position.
func (m *Model) step(seq []int32, g grads, logits []float32, r *rand.Rand) (float64, int) {
	if len(seq) < 2 {
		return 0, 0
	}
	in, targets := seq[:len(seq)-1], seq[1:]
	d, t, n := m.cfg.Dims, len(in), m.n
	var mask []float32
	if p := *m.cfg.Dropout; p > 0 && r != nil {
		mask = make([]float32, t*d)
		for i := range mask {
			if r.Float64() >= p {
				mask[i] = float32(1 / (1 - p))
			}
		}
	}
	tr := m.forward(in, mask)
	logits = logits[:t*n]
	for i := range t {
		h := tr.hf[i*d : (i+1)*d]
		for j := range n {
			logits[i*n+j] = kernels.Dot(h, m.emb[j*d:(j+1)*d])
		}
	}
	tg := make([]int32, t)
	copy(tg, targets)
	dl := make([]float32, t*n)
	loss := nn.CrossEntropy(logits, t, n, tg, dl) * float64(t)
	for i := range dl {
		dl[i] *= float32(t) // summed over positions; the batch divides
	}
	dh := make([]float32, t*d)
	for i := range t {
		for j := range n {
			if w := dl[i*n+j]; w != 0 {
				kernels.Axpy(w, m.emb[j*d:(j+1)*d], dh[i*d:(i+1)*d])
				kernels.Axpy(w, tr.hf[i*d:(i+1)*d], g[0][j*d:(j+1)*d])
			}
		}
	}
	dx := make([]float32, t*d)
	nn.LayerNormBackward(tr.last, t, d, m.gf, tr.invF, dh, dx, g[2], g[3])
	for k := len(m.blocks) - 1; k >= 0; k-- {
		var bg [][]float32
		dx, bg = m.blocks[k].Backward(tr.caches[k], dx)
		for i, gi := range bg {
			kernels.Axpy(1, gi, g[4+12*k+i])
		}
	}
	// x₀ = (E[in] + P) ⊙ mask.
	for i := range mask {
		dx[i] *= mask[i]
	}
	for i, it := range in {
		kernels.Axpy(1, dx[i*d:(i+1)*d], g[0][int(it)*d:int(it+1)*d])
		kernels.Axpy(1, dx[i*d:(i+1)*d], g[1][i*d:(i+1)*d])
	}
	return loss, t
}

// scores are the next-item scores after a sequence (its last MaxLen
// items).
func (m *Model) scores(seq []int32, out []float32) {
	if len(seq) > m.cfg.MaxLen {
		seq = seq[len(seq)-m.cfg.MaxLen:]
	}
	d := m.cfg.Dims
	tr := m.forward(seq, nil)
	h := tr.hf[(tr.t-1)*d : tr.t*d]
	kernels.MatVec(m.emb, h, out)
}

// Fit trains on every shopper's sequence.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	seqs, err := sequences(d)
	if err != nil {
		return err
	}
	m.n, m.seqs = d.NumItems(), seqs
	c := m.cfg
	r := rand.New(rand.NewPCG(m.seed, 0x5a5))
	dim := c.Dims
	m.emb = make([]float32, m.n*dim)
	for i := range m.emb {
		m.emb[i] = float32(r.NormFloat64() * 0.05)
	}
	m.pos = make([]float32, c.MaxLen*dim)
	for i := range m.pos {
		m.pos[i] = float32(r.NormFloat64() * 0.05)
	}
	m.gf, m.bf = make([]float32, dim), make([]float32, dim)
	for i := range m.gf {
		m.gf[i] = 1
	}
	m.blocks = nil
	for range c.Blocks {
		b, err := nn.NewBlock(dim, c.Heads, 4*dim, r)
		if err != nil {
			return err
		}
		m.blocks = append(m.blocks, b)
	}
	// Each shopper's last item checks the epochs; the rest trains.
	var train [][]int32
	type check struct {
		seq  []int32
		want int32
	}
	var valid []check
	for _, s := range seqs {
		if len(s) >= 3 {
			valid = append(valid, check{s[:len(s)-1], s[len(s)-1]})
			s = s[:len(s)-1]
		}
		if len(s) > c.MaxLen+1 {
			s = s[len(s)-c.MaxLen-1:]
		}
		if len(s) >= 2 {
			train = append(train, s)
		}
	}
	if len(train) == 0 {
		return errors.New("sasrec: no shopper has two items to learn from")
	}
	if len(valid) > 1000 {
		vr := rand.New(rand.NewPCG(m.seed, 0x7a1))
		vr.Shuffle(len(valid), func(i, j int) { valid[i], valid[j] = valid[j], valid[i] })
		valid = valid[:1000]
	}
	params := m.params()
	adamM, adamV := m.newGrads(), m.newGrads()
	workers := runtime.GOMAXPROCS(0)
	wg := make([]grads, workers)
	rngs := make([]*rand.Rand, workers) // each worker's dropout masks
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(m.seed, uint64(w)+0xd0))
	}
	buf := make([][]float32, workers)
	for w := range workers {
		wg[w], buf[w] = m.newGrads(), make([]float32, c.MaxLen*m.n)
	}
	best, bestHit, stale := []([]float32)(nil), -1.0, 0
	step := 0
	order := make([]int, len(train))
	for i := range order {
		order[i] = i
	}
	for epoch := 1; epoch <= c.Epochs; epoch++ {
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var lossSum float64
		var targets int
		for lo := 0; lo < len(order); lo += c.Batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch := order[lo:min(lo+c.Batch, len(order))]
			var mu sync.Mutex
			var wgr sync.WaitGroup
			for w := range workers {
				for _, g := range wg[w] {
					clear(g)
				}
				wgr.Add(1)
				go func() {
					defer wgr.Done()
					var l float64
					var n int
					for k := w; k < len(batch); k += workers {
						li, ni := m.step(train[batch[k]], wg[w], buf[w], rngs[w])
						l, n = l+li, n+ni
					}
					mu.Lock()
					lossSum, targets = lossSum+l, targets+n
					mu.Unlock()
				}()
			}
			wgr.Wait()
			// Adam over the mean gradient of the batch's targets.
			step++
			count := 0
			for _, k := range batch {
				count += len(train[k]) - 1
			}
			scale := 1 / float32(count)
			b1, b2 := 0.9, 0.98
			c1, c2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
			lr := float32(c.LearningRate * math.Sqrt(c2) / c1)
			for p := range params {
				pm, pv := adamM[p], adamV[p]
				for i := range params[p] {
					gsum := float32(0)
					for w := range workers {
						gsum += wg[w][p][i]
					}
					gi := gsum * scale
					pm[i] = float32(b1)*pm[i] + float32(1-b1)*gi
					pv[i] = float32(b2)*pv[i] + float32(1-b2)*gi*gi
					params[p][i] -= lr * pm[i] / (float32(math.Sqrt(float64(pv[i]))) + 1e-8)
				}
			}
		}
		if targets > 0 && (math.IsNaN(lossSum) || math.IsInf(lossSum, 0)) {
			return fmt.Errorf("sasrec: the loss is not a number at epoch %d: stopped, nothing kept", epoch)
		}
		// Validation: the mean reciprocal rank of each checked shopper's
		// last item among the items not in their sequence (every rank
		// counts, so that a small catalog does not saturate it).
		var rr float64
		sc := make([]float32, m.n)
		for _, v := range valid {
			m.scores(v.seq, sc)
			target := sc[v.want]
			above := 0
			for i, s := range sc {
				if s > target && !slices.Contains(v.seq, int32(i)) {
					above++
				}
			}
			rr += 1 / float64(above+1)
		}
		hit := 0.0
		if len(valid) > 0 {
			hit = rr / float64(len(valid))
		}
		m.Epochs = epoch
		// A tie keeps the later, longer-trained weights, but does not
		// reset the patience.
		if hit >= bestHit {
			if hit > bestHit+1e-9 {
				stale = 0
			} else {
				stale++
			}
			bestHit = hit
			best = best[:0]
			for _, p := range params {
				best = append(best, slices.Clone(p))
			}
		} else {
			stale++
		}
		if stale >= c.Patience {
			break
		}
	}
	for i, p := range params {
		copy(p, best[i])
	}
	m.ValidMRR = bestHit
	return nil
}

// Answer ranks the items after the shopper's sequence: theirs from
// training (by User) with the query's newer history, or the history's
// items in time order.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskPersonal && q.Task != model.TaskSession {
		return dst, &model.TaskError{Model: "sasrec", Task: q.Task}
	}
	if m.emb == nil {
		return dst, errors.New("sasrec: not fitted")
	}
	if err := model.CheckQuery("sasrec", q, m.n); err != nil {
		return dst, err
	}
	var seq []int32
	if q.Task == model.TaskPersonal && q.User >= 0 && int(q.User) < len(m.seqs) {
		seq = m.seqs[q.User]
	} else {
		hist := slices.Clone(q.History)
		slices.SortStableFunc(hist, func(a, b model.Interaction) int { return cmp.Compare(a.Time, b.Time) })
		for _, h := range hist {
			if h.Weight > 0 || q.Task == model.TaskSession {
				seq = append(seq, h.Item)
			}
		}
	}
	if len(seq) == 0 {
		return dst, nil // nothing to go on: the caller falls back
	}
	sc := make([]float32, m.n)
	m.scores(seq, sc)
	h := topk.New(q.N)
	for i, s := range sc {
		if q.Allowed(int32(i)) {
			h.Push(int32(i), q.Boosted(int32(i), s))
		}
	}
	return h.Sorted(dst), nil
}

// MarshalBinary encodes the configuration's shape, the weights and the
// training shoppers' sequences (by index, without ids).
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.emb == nil {
		return nil, errors.New("sasrec: not fitted")
	}
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.n))
	for _, p := range m.params() {
		e.Float32s(p)
	}
	ptr := []int64{0}
	var items []int32
	for _, s := range m.seqs {
		items = append(items, s...)
		ptr = append(ptr, int64(len(items)))
	}
	e.Int64s(ptr)
	e.Int32s(items)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote into a model of the
// same configuration.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	n := int(d.Uint64())
	c, dim := m.cfg, m.cfg.Dims
	m.n = n
	m.emb, m.pos, m.gf, m.bf = make([]float32, n*dim), make([]float32, c.MaxLen*dim), make([]float32, dim), make([]float32, dim)
	m.blocks = nil
	r := rand.New(rand.NewPCG(0, 0))
	for range c.Blocks {
		b, err := nn.NewBlock(dim, c.Heads, 4*dim, r)
		if err != nil {
			return err
		}
		m.blocks = append(m.blocks, b)
	}
	for _, p := range m.params() {
		v := d.Float32s()
		if d.Err() == nil && len(v) != len(p) {
			return fmt.Errorf("sasrec: %w: a parameter of %d values where the configuration has %d", feature.ErrCorrupt, len(v), len(p))
		}
		copy(p, v)
	}
	ptr, items := d.Int64s(), d.Int32s()
	if err := d.Err(); err != nil {
		return err
	}
	if len(ptr) == 0 || ptr[len(ptr)-1] != int64(len(items)) {
		return fmt.Errorf("sasrec: %w", feature.ErrCorrupt)
	}
	m.seqs = make([][]int32, len(ptr)-1)
	for u := range m.seqs {
		if ptr[u] > ptr[u+1] {
			return fmt.Errorf("sasrec: %w", feature.ErrCorrupt)
		}
		m.seqs[u] = items[ptr[u]:ptr[u+1]:ptr[u+1]]
		for _, it := range m.seqs[u] {
			if it < 0 || int(it) >= n {
				return fmt.Errorf("sasrec: %w", feature.ErrCorrupt)
			}
		}
	}
	return nil
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int { return m.n }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}
