// Package gru4rec is a recurrent next-item model in the manner of GRU4Rec
// (Hidasi et al., "Session-based Recommendations with Recurrent Neural
// Networks", ICLR 2016): a gated recurrent layer over each shopper's
// sequence of items. It is sasrec's baseline of its own family, so it
// shares everything but the network with it (package seqtrain): item
// embeddings tied between input and output, dropout on the input
// embeddings, a final layer norm, full softmax cross-entropy over the
// catalog at every position, Adam on both cores, early stopping on each
// shopper's last training item. (The paper's one-hot inputs and sampled
// ranking losses are not used: the comparison is of the networks.)
package gru4rec

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
	// Dims is the width of the embeddings and of the recurrent state
	// (default 64); MaxLen the longest sequence trained on (default 50).
	Dims   int `json:"dims,omitempty"`
	MaxLen int `json:"max_len,omitempty"`
	// Training holds the training parameters: learning_rate, epochs,
	// patience, batch, dropout, weight_decay, clip_norm, warmup,
	// full_softmax_max and negatives (package seqtrain).
	seqtrain.Training
}

// Info describes the model for package all.
func Info() model.Info {
	return model.Info{Name: "gru4rec", New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("gru4rec", params, &c); err != nil {
			return nil, err
		}
		c.Dims, c.MaxLen = cmp.Or(c.Dims, 64), cmp.Or(c.MaxLen, 50)
		if err := c.Training.Check("gru4rec"); err != nil {
			return nil, err
		}
		switch {
		case c.Dims < 2 || c.Dims > 1024 || c.MaxLen < 2 || c.MaxLen > 1000:
			return nil, fmt.Errorf("gru4rec: dims %d must be from 2 to 1024 and max_len %d from 2 to 1000", c.Dims, c.MaxLen)
		}
		return &Model{cfg: c, seed: seed}, nil
	}}
}

// Model is a fitted GRU4Rec. It is safe for concurrent use once fitted.
type Model struct {
	cfg  Config
	seed uint64

	emb    []float32 // n×d, tied input and output
	gru    *nn.GRU
	gf, bf []float32 // the final layer norm
	seqtrain.Base

	// answering holds the buffers and transposed weights of the answers'
	// passes, made once the weights are final (final).
	answering *seqtrain.Passes[*answerPass]
}

// answerPass is one forward pass of answering: the GRU's inference and
// the embeddings' and final layer norm's buffers.
type answerPass struct {
	gru          *nn.GRUInference
	x0, hf, invF []float32
}

// final makes the answering passes for the weights as they are now.
func (m *Model) final() {
	d, t := m.cfg.Dims, m.cfg.MaxLen
	m.answering = seqtrain.NewPasses(t, func() *answerPass {
		return &answerPass{gru: m.gru.NewInference(t), x0: make([]float32, t*d), hf: make([]float32, t*d), invF: make([]float32, t)}
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
	hs := p.gru.Infer(x, t)
	hf := p.hf[:t*d]
	nn.LayerNormInto(hs, t, d, m.gf, m.bf, hf, p.invF[:t])
	kernels.MatVec(m.emb, hf[(t-1)*d:t*d], out)
}

// params lists every parameter slice, in a fixed order: the embeddings,
// the norm's gain and shift, the GRU's W, U and B.
func (m *Model) params() [][]float32 {
	return append([][]float32{m.emb, m.gf, m.bf}, m.gru.Params()...)
}

// trace is what a forward pass leaves for the backward one.
type trace struct {
	x0   []float32
	gc   *nn.GRUCache
	hs   []float32 // the GRU's states
	hf   []float32 // normalized
	invF []float32
}

// embed writes the items' embeddings into x (len(seq)×d).
func (m *Model) embed(seq []int32, x []float32) {
	d := m.cfg.Dims
	for i, it := range seq {
		copy(x[i*d:(i+1)*d], m.emb[int(it)*d:int(it+1)*d])
	}
}

// forward runs the network over a sequence; mask (t×d, or nil) is the
// input dropout.
func (m *Model) forward(seq []int32, mask []float32) *trace {
	d, t := m.cfg.Dims, len(seq)
	tr := &trace{x0: make([]float32, t*d)}
	m.embed(seq, tr.x0)
	for i := range mask {
		tr.x0[i] *= mask[i]
	}
	tr.hs, tr.gc = m.gru.Forward(tr.x0, t)
	tr.hf = make([]float32, t*d)
	tr.invF = nn.LayerNorm(tr.hs, t, d, m.gf, m.bf, tr.hf)
	return tr
}

// step adds one sequence's loss gradient to g and returns its summed loss
// and target count.
func (m *Model) step(seq []int32, g [][]float32, logits []float32, r *rand.Rand) (float64, int) {
	if len(seq) < 2 {
		return 0, 0
	}
	in, targets := seq[:len(seq)-1], seq[1:]
	d, t := m.cfg.Dims, len(in)
	mask := nn.DropoutMask(t*d, *m.cfg.Dropout, r)
	tr := m.forward(in, mask)
	loss, dh := m.Out.Loss(tr.hf, t, m.emb, targets, logits, g[0], r)
	ds := make([]float32, t*d)
	nn.LayerNormBackward(tr.hs, t, d, m.gf, tr.invF, dh, ds, g[1], g[2])
	dx, gg := m.gru.Backward(tr.gc, ds)
	for i, gi := range gg {
		kernels.Axpy(1, gi, g[3+i])
	}
	for i := range mask {
		dx[i] *= mask[i]
	}
	for i, it := range in {
		kernels.Axpy(1, dx[i*d:(i+1)*d], g[0][int(it)*d:int(it+1)*d])
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
	kernels.MatVec(m.emb, tr.hf[(len(seq)-1)*d:len(seq)*d], out)
}

// init draws the weights.
func (m *Model) init(r *rand.Rand) {
	d := m.cfg.Dims
	m.emb = make([]float32, m.N*d)
	for i := range m.emb {
		m.emb[i] = float32(r.NormFloat64() * 0.05)
	}
	m.gf, m.bf = make([]float32, d), make([]float32, d)
	for i := range m.gf {
		m.gf[i] = 1
	}
	m.gru = nn.NewGRU(d, d, r)
}

// Fit trains on every shopper's sequence.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	if err := m.Prepare(d, m.cfg.Dims, &m.cfg.Training); err != nil {
		return err
	}
	c := m.cfg
	r := rand.New(rand.NewPCG(m.seed, 0x6e0))
	m.init(r)
	res, err := seqtrain.Train(ctx, network{m}, m.Seqs, r, c.Options("gru4rec", m.Out, c.MaxLen, m.seed))
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
	return seqtrain.Answer("gru4rec", q, dst, m.N, m.Seqs, m.answerScores)
}

// MarshalBinary encodes the weights and the training shoppers' sequences
// (by index, without ids).
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.emb == nil {
		return nil, errors.New("gru4rec: not fitted")
	}
	return seqtrain.Marshal(m.N, m.params(), m.Seqs)
}

// UnmarshalBinary decodes what MarshalBinary wrote into a model of the
// same configuration.
func (m *Model) UnmarshalBinary(data []byte) error {
	n, seqs, err := seqtrain.Unmarshal(data, func(n int) ([][]float32, error) {
		m.N = n
		m.init(rand.New(rand.NewPCG(0, 0)))
		return m.params(), nil
	})
	if err != nil {
		return fmt.Errorf("gru4rec: %w", err)
	}
	m.N, m.Seqs = n, seqs
	m.final()
	return nil
}
