package seqtrain

import (
	"sync"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
)

// Base is what every sequence model holds besides its network, and the
// model contract's methods they answer alike; a model embeds it.
type Base struct {
	// N is the catalog size; Seqs each training shopper's sequence,
	// oldest first; Out the output layer in training (nil once loaded).
	N    int
	Seqs [][]int32
	Out  *Output
	// Epochs and ValidMRR say how training went: the epochs run and the
	// best validation mean reciprocal rank.
	Epochs   int
	ValidMRR float64
}

// Prepare reads the dataset's training sequences (Sequences) and makes
// the output layer for hidden states of width dims under t.
func (b *Base) Prepare(d *dataset.Dataset, dims int, t *Training) error {
	seqs, err := Sequences(d)
	if err != nil {
		return err
	}
	b.N, b.Seqs = d.NumItems(), seqs
	b.Out = NewOutput(b.N, dims, seqs, t)
	return nil
}

// Trained records how training went.
func (b *Base) Trained(r Result) { b.Epochs, b.ValidMRR = r.Epochs, r.ValidMRR }

// Tasks: personal and session recommendations.
func (b *Base) Tasks() []model.Task { return []model.Task{model.TaskPersonal, model.TaskSession} }

// LearnsOrder says the model learns from the order of events
// (model.Sequential).
func (b *Base) LearnsOrder() bool { return true }

// RanksFixed reports true for personal and session queries: the scores
// depend on the sequence alone, and the best N that pass Exclude are
// taken, ties to the lower index (model.FixedRanker), so serving may
// cache one ranking per history as for the matrix models.
func (b *Base) RanksFixed(t model.Task) bool {
	return t == model.TaskPersonal || t == model.TaskSession
}

// EpochsRun returns the epochs training ran (the evaluation reports it).
func (b *Base) EpochsRun() int { return b.Epochs }

// NumItems returns the size of the catalog.
func (b *Base) NumItems() int { return b.N }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (b *Base) SetNumItems(int) {}

// Passes keeps the buffers of a model's answering passes, one P to a pass
// at a time, made once its weights are final (the end of a fit, or a
// load), so that answers allocate nothing for the network.
type Passes[P any] struct {
	pool   sync.Pool
	maxLen int
}

// NewPasses returns the passes of a model over sequences of at most
// maxLen items; newPass makes one pass's buffers.
func NewPasses[P any](maxLen int, newPass func() P) *Passes[P] {
	return &Passes[P]{pool: sync.Pool{New: func() any { return newPass() }}, maxLen: maxLen}
}

// Scores sets out to the next-item scores after seq (its last maxLen
// items) by pass over a pooled P; on nil Passes (weights not final) by
// fallback, which gives the same numbers.
func (ps *Passes[P]) Scores(seq []int32, out []float32, pass func(p P, seq []int32, out []float32), fallback func(seq []int32, out []float32)) {
	if ps == nil {
		fallback(seq, out)
		return
	}
	if len(seq) > ps.maxLen {
		seq = seq[len(seq)-ps.maxLen:]
	}
	p := ps.pool.Get().(P)
	defer ps.pool.Put(p)
	pass(p, seq, out)
}
