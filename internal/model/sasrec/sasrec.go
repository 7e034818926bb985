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
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/seqtrain"
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
	// BlockDropout is the dropout inside the blocks, where the SASRec
	// paper has it besides the input's: on the attention weights and the
	// feed-forward layer's hidden units and output (default 0: none; the
	// input's is Training's dropout).
	BlockDropout float64 `json:"block_dropout,omitempty"`
	// Training holds the training parameters: learning_rate, epochs,
	// patience, batch, dropout, weight_decay, clip_norm, warmup,
	// full_softmax_max and negatives (package seqtrain).
	seqtrain.Training
}

// Info describes the model for package all.
func Info() model.Info {
	// The search: the input's dropout (the default 0.2, or 0.5 for small
	// data), alone or, as in the SASRec paper, at the same rate inside
	// the blocks too; early stopping with a patience of 6 (training keeps
	// the best epoch's weights, so a longer patience only costs time).
	var grid []json.RawMessage
	for _, dr := range []float64{0.2, 0.5} {
		for _, bd := range []float64{0, dr} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"dropout":%g,"block_dropout":%g,"patience":6}`, dr, bd)))
		}
	}
	return model.Info{Name: "sasrec", Grid: grid, New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("sasrec", params, &c); err != nil {
			return nil, err
		}
		c.Dims, c.Heads, c.Blocks, c.MaxLen = cmp.Or(c.Dims, 64), cmp.Or(c.Heads, 2), cmp.Or(c.Blocks, 2), cmp.Or(c.MaxLen, 50)
		if err := c.Training.Check("sasrec"); err != nil {
			return nil, err
		}
		switch {
		case c.Dims < 2 || c.Dims > 1024 || c.Heads < 1 || c.Dims%c.Heads != 0:
			return nil, fmt.Errorf("sasrec: dims %d must be from 2 to 1024 and a multiple of heads %d", c.Dims, c.Heads)
		case c.Blocks < 1 || c.Blocks > 12 || c.MaxLen < 2 || c.MaxLen > 1000:
			return nil, fmt.Errorf("sasrec: blocks %d must be from 1 to 12 and max_len %d from 2 to 1000", c.Blocks, c.MaxLen)
		case !(c.BlockDropout >= 0 && c.BlockDropout < 1):
			return nil, fmt.Errorf("sasrec: block_dropout %g must be in [0, 1)", c.BlockDropout)
		}
		return &Model{cfg: c, seed: seed}, nil
	}}
}

// Model is a fitted SASRec. It is safe for concurrent use once fitted.
type Model struct {
	cfg  Config
	seed uint64

	emb    []float32 // n×d, tied input and output
	pos    []float32 // MaxLen×d
	blocks []*nn.Block
	gf, bf []float32 // the final layer norm
	seqtrain.Base
	// answering holds the buffers and transposed weights of the answers'
	// forward passes, made once the weights are final (final).
	answering *seqtrain.Passes[*answerPass]
}

// answerPass is one forward pass of answering: each block's Inference
// and the embeddings' and final layer norm's buffers.
type answerPass struct {
	blocks       []*nn.Inference
	x0, hf, invF []float32
}

// final makes the answering passes for the weights as they are now.
func (m *Model) final() {
	d, t := m.cfg.Dims, m.cfg.MaxLen
	m.answering = seqtrain.NewPasses(t, func() *answerPass {
		p := &answerPass{x0: make([]float32, t*d), hf: make([]float32, t*d), invF: make([]float32, t)}
		for _, b := range m.blocks {
			p.blocks = append(p.blocks, b.NewInference(t))
		}
		return p
	})
}

// answerScores is scores for answering: the same numbers, to the bit,
// from a pooled pass (forward allocates what training's backward needs).
func (m *Model) answerScores(seq []int32, out []float32) {
	m.answering.Scores(seq, out, m.answer, m.scores)
}

// answer is answerScores's pass over p's buffers.
func (m *Model) answer(p *answerPass, seq []int32, out []float32) {
	d, t := m.cfg.Dims, len(seq)
	x := p.x0[:t*d]
	m.embed(seq, x)
	for _, b := range p.blocks {
		x = b.Infer(x, t)
	}
	hf := p.hf[:t*d]
	nn.LayerNormInto(x, t, d, m.gf, m.bf, hf, p.invF[:t])
	kernels.MatVec(m.emb, hf[(t-1)*d:t*d], out)
}

// params lists every parameter slice, in a fixed order.
func (m *Model) params() [][]float32 {
	ps := [][]float32{m.emb, m.pos, m.gf, m.bf}
	for _, b := range m.blocks {
		ps = append(ps, b.Params()...)
	}
	return ps
}

// trace is what a forward pass keeps for the backward pass.
type trace struct {
	t      int
	x0     []float32
	caches []*nn.BlockCache
	hf     []float32
	invF   []float32
	last   []float32 // the last block's output
}

// embed sets x (t×d) to the sequence's item embeddings plus their
// positions' embeddings.
func (m *Model) embed(seq []int32, x []float32) {
	d := m.cfg.Dims
	for i, it := range seq {
		copy(x[i*d:(i+1)*d], m.emb[int(it)*d:int(it+1)*d])
		kernels.Axpy(1, m.pos[i*d:(i+1)*d], x[i*d:(i+1)*d])
	}
}

// forward runs the network over a sequence (at most MaxLen items) and
// returns the final hidden states (t×d) and what backward needs; mask is
// the input's dropout, and r, when not nil, draws the blocks' (training).
func (m *Model) forward(seq []int32, mask []float32, r *rand.Rand) *trace {
	d, t := m.cfg.Dims, len(seq)
	tr := &trace{t: t, x0: make([]float32, t*d)}
	m.embed(seq, tr.x0)
	// Dropout in training: mask holds 0 or 1/(1−p) per entry.
	for i := range mask[:min(len(mask), t*d)] {
		tr.x0[i] *= mask[i]
	}
	x, drop := tr.x0, 0.0
	if r != nil {
		drop = m.cfg.BlockDropout
	}
	for _, b := range m.blocks {
		y, c := b.ForwardDrop(x, t, drop, r)
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
	d, t := m.cfg.Dims, len(in)
	mask := nn.DropoutMask(t*d, *m.cfg.Dropout, r)
	tr := m.forward(in, mask, r)
	loss, dh := m.Out.Loss(tr.hf, t, m.emb, targets, logits, g[0], r)
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
	tr := m.forward(seq, nil, nil)
	h := tr.hf[(tr.t-1)*d : tr.t*d]
	kernels.MatVec(m.emb, h, out)
}

// Fit trains on every shopper's sequence.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	if err := m.Prepare(d, m.cfg.Dims, &m.cfg.Training); err != nil {
		return err
	}
	c := m.cfg
	r := rand.New(rand.NewPCG(m.seed, 0x5a5))
	dim := c.Dims
	m.emb = make([]float32, m.N*dim)
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
	res, err := seqtrain.Train(ctx, network{m}, m.Seqs, r, c.Options("sasrec", m.Out, c.MaxLen, m.seed))
	if err != nil {
		return err
	}
	m.Trained(res)
	m.final()
	return nil
}

// network is the model as the shared training loop sees it.
type network struct{ m *Model }

func (n network) Params() [][]float32 { return n.m.params() }

func (n network) Step(seq []int32, g [][]float32, logits []float32, r *rand.Rand) (float64, int) {
	return n.m.step(seq, g, logits, r)
}

func (n network) Scores(seq []int32, out []float32) { n.m.scores(seq, out) }

// Answer ranks the items after the shopper's sequence: theirs from
// training (by User), or the query's history's items in time order.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	return seqtrain.Answer("sasrec", q, dst, m.N, m.Seqs, m.answerScores)
}

// MarshalBinary encodes the configuration's shape, the weights and the
// training shoppers' sequences (by index, without ids).
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.emb == nil {
		return nil, errors.New("sasrec: not fitted")
	}
	return seqtrain.Marshal(m.N, m.params(), m.Seqs)
}

// UnmarshalBinary decodes what MarshalBinary wrote into a model of the
// same configuration.
func (m *Model) UnmarshalBinary(data []byte) error {
	n, seqs, err := seqtrain.Unmarshal(data, func(n int) ([][]float32, error) {
		c, dim := m.cfg, m.cfg.Dims
		m.N = n
		m.emb, m.pos, m.gf, m.bf = make([]float32, n*dim), make([]float32, c.MaxLen*dim), make([]float32, dim), make([]float32, dim)
		m.blocks = nil
		r := rand.New(rand.NewPCG(0, 0))
		for range c.Blocks {
			b, err := nn.NewBlock(dim, c.Heads, 4*dim, r)
			if err != nil {
				return nil, err
			}
			m.blocks = append(m.blocks, b)
		}
		return m.params(), nil
	})
	if err != nil {
		return fmt.Errorf("sasrec: %w", err)
	}
	m.N, m.Seqs = n, seqs
	m.final()
	return nil
}
