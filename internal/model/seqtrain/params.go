package seqtrain

import (
	"cmp"
	"fmt"
)

// Training holds the training parameters every sequence model takes; a
// model's configuration embeds it, so they are named alike in each.
type Training struct {
	// LearningRate is the peak learning rate (default 0.001); Epochs the
	// most (default 200: early stopping, not the cap, ends a run, as in
	// the SASRec paper); Patience the epochs without a better validation
	// mean reciprocal rank before stopping (default 3); Batch the
	// sequences per step (default 32).
	LearningRate float64 `json:"learning_rate,omitempty"`
	Epochs       int     `json:"epochs,omitempty"`
	Patience     int     `json:"patience,omitempty"`
	Batch        int     `json:"batch,omitempty"`
	// Dropout is the share of the input embeddings' entries zeroed in
	// training (default 0.2; the kept ones are scaled up to match).
	Dropout *float64 `json:"dropout,omitempty"`
	// WeightDecay is AdamW's decoupled weight decay (default 0: Adam);
	// ClipNorm the global norm each step's gradient is clipped to
	// (default 5; 0 turns clipping off); Warmup the steps over which the
	// learning rate rises to its peak (default 100; 0 for none).
	WeightDecay float64  `json:"weight_decay,omitempty"`
	ClipNorm    *float64 `json:"clip_norm,omitempty"`
	Warmup      *int     `json:"warmup,omitempty"`
	// Windows, when true (the default), trains on every window of
	// max_len+1 items of a longer sequence; false trains on its newest
	// window alone.
	Windows *bool `json:"windows,omitempty"`
	// FullSoftmaxMax is the largest catalog trained with a full softmax
	// over every item (default 50,000); a larger one is trained with a
	// sampled softmax over Negatives items (default 1,000) drawn by
	// popularity, corrected by their log-probability (logQ).
	FullSoftmaxMax int `json:"full_softmax_max,omitempty"`
	Negatives      int `json:"negatives,omitempty"`
}

// Check fills in the defaults and returns an error naming the first
// parameter out of range; name prefixes it ("sasrec").
func (t *Training) Check(name string) error {
	t.LearningRate, t.Epochs, t.Patience, t.Batch = cmp.Or(t.LearningRate, 0.001), cmp.Or(t.Epochs, 200), cmp.Or(t.Patience, 3), cmp.Or(t.Batch, 32)
	t.FullSoftmaxMax, t.Negatives = cmp.Or(t.FullSoftmaxMax, 50000), cmp.Or(t.Negatives, 1000)
	if t.Dropout == nil {
		v := 0.2
		t.Dropout = &v
	}
	if t.ClipNorm == nil {
		v := 5.0
		t.ClipNorm = &v
	}
	if t.Windows == nil {
		v := true
		t.Windows = &v
	}
	if t.Warmup == nil {
		v := 100
		t.Warmup = &v
	}
	switch {
	case !(t.LearningRate > 0 && t.LearningRate < 1):
		return fmt.Errorf("%s: learning_rate %v must be in (0, 1)", name, t.LearningRate)
	case t.Epochs < 1 || t.Epochs > 10000:
		return fmt.Errorf("%s: epochs %d must be from 1 to 10000", name, t.Epochs)
	case t.Patience < 1:
		return fmt.Errorf("%s: patience %d must be at least 1", name, t.Patience)
	case t.Batch < 1 || t.Batch > 100000:
		return fmt.Errorf("%s: batch %d must be from 1 to 100000", name, t.Batch)
	case !(*t.Dropout >= 0 && *t.Dropout < 1):
		return fmt.Errorf("%s: dropout %v must be in [0, 1)", name, *t.Dropout)
	case !(t.WeightDecay >= 0 && t.WeightDecay < 1):
		return fmt.Errorf("%s: weight_decay %v must be in [0, 1)", name, t.WeightDecay)
	case !(*t.ClipNorm >= 0 && *t.ClipNorm < 1e6):
		return fmt.Errorf("%s: clip_norm %v must be from 0 (off) to 1e6", name, *t.ClipNorm)
	case *t.Warmup < 0 || *t.Warmup > 1000000:
		return fmt.Errorf("%s: warmup %d must be from 0 to 1000000 steps", name, *t.Warmup)
	case t.FullSoftmaxMax < 1:
		return fmt.Errorf("%s: full_softmax_max %d must be at least 1", name, t.FullSoftmaxMax)
	case t.Negatives < 1 || t.Negatives > 1000000:
		return fmt.Errorf("%s: negatives %d must be from 1 to 1000000", name, t.Negatives)
	}
	return nil
}

// Options are the loop's options for a model named name with the output
// layer out, sequences of at most maxLen, seeded by seed.
func (t *Training) Options(name string, out *Output, maxLen int, seed uint64) Options {
	return Options{Name: name, Out: out, Items: out.n, Width: out.Width(), MaxLen: maxLen, LearningRate: t.LearningRate, Epochs: t.Epochs, Patience: t.Patience,
		Batch: t.Batch, Seed: seed, WeightDecay: t.WeightDecay, ClipNorm: *t.ClipNorm, Warmup: *t.Warmup, Windows: *t.Windows}
}
