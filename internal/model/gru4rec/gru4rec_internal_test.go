package gru4rec

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/modeltest"
	"github.com/tailorhq/tailor/internal/model/seqtrain"
)

// TestModelGradients checks the whole network's loss gradient (cross-
// entropy through the tied output, the final norm, the recurrent layer,
// the item embeddings, with a fixed dropout mask) against finite
// differences, over the whole catalog and with a sampled softmax (the
// same negatives every time).
func TestModelGradients(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  seqtrain.Training
	}{
		{"full softmax", seqtrain.Training{}},
		{"sampled softmax", seqtrain.Training{FullSoftmaxMax: 2, Negatives: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 1))
			drop := 0.3
			tc.out.Dropout = &drop
			if err := tc.out.Check("gru4rec"); err != nil {
				t.Fatal(err)
			}
			m := &Model{cfg: Config{Dims: 4, MaxLen: 6, Training: tc.out}, Base: seqtrain.Base{N: 5}}
			m.init(r)
			for i := range m.emb {
				m.emb[i] = float32(r.NormFloat64() * 0.5)
			}
			m.gf, m.bf = []float32{1, 1.2, 0.8, 1}, []float32{0.1, 0, -0.1, 0.2}
			for i := range m.gru.B {
				m.gru.B[i] = float32(r.NormFloat64() * 0.3)
			}
			seq := []int32{1, 3, 0, 4, 2}
			m.Out = seqtrain.NewOutput(5, 4, [][]int32{seq}, &m.cfg.Training)
			if m.Out.Sampled() != (tc.out.FullSoftmaxMax == 2) {
				t.Fatalf("sampled %v", m.Out.Sampled())
			}
			buf := make([]float32, 6*5)
			grads := func() [][]float32 {
				var g [][]float32
				for _, p := range m.params() {
					g = append(g, make([]float32, len(p)))
				}
				return g
			}
			rng := func() *rand.Rand { return rand.New(rand.NewPCG(9, 9)) }
			loss := func() float64 { l, _ := m.step(seq, grads(), buf, rng()); return l }
			g := grads()
			m.step(seq, g, buf, rng())
			modeltest.CheckGradients(t, m.params(), g, loss)
		})
	}
}

// TestLearnsASequence trains on shoppers who buy items in a fixed cycle:
// it learns to predict the next one, and the saved model answers alike.
func TestLearnsASequence(t *testing.T) {
	const items = 12
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []tailor.Event
	n := 0
	for u := range 60 {
		start := u % items
		for k := range 8 {
			n++
			events = append(events, tailor.Event{ID: fmt.Sprint(n), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: tailor.ItemID(fmt.Sprintf("i%02d", (start+k)%items)),
				Type: tailor.Purchase, Timestamp: t0.Add(time.Duration(u*100+k) * time.Hour)})
		}
	}
	d := dataset.FromEvents(events, nil)
	params := json.RawMessage(`{"dims":16,"max_len":10,"epochs":200,"patience":200,"learning_rate":0.01}`)
	mm, err := Info().New(params, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := mm.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	b, err := mm.(*Model).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	loaded, _ := Info().New(params, 1)
	if err := loaded.(*Model).UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	idx := func(i int) int32 { x, _ := d.ItemIndex(fmt.Sprintf("i%02d", i%items)); return x }
	for name, m := range map[string]model.Model{"fitted": mm, "loaded": loaded} {
		right := 0
		for start := range items {
			var hist []model.Interaction
			for k := range 4 {
				hist = append(hist, model.Interaction{Item: idx(start + k), Weight: 1, Time: int64(k + 1)})
			}
			got, err := m.(*Model).Answer(&model.Query{Task: model.TaskSession, User: -1, History: hist, N: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 1 && got[0].Index == idx(start+4) {
				right++
			}
		}
		if right < 10 {
			t.Errorf("%s: the next item of the cycle came first for %d of %d sequences (validation MRR %.2f after %d epochs)", name, right, items, mm.(*Model).ValidMRR, mm.(*Model).Epochs)
		}
	}
	// Answering's pooled pass gives training's forward pass's scores, in
	// the fitted model and the loaded one.
	for _, m := range []*Model{mm.(*Model), loaded.(*Model)} {
		modeltest.CheckPooledScores(t, m.N, idx, m.scores, m.answerScores)
	}
	if err := loaded.(*Model).UnmarshalBinary(b[:len(b)-3]); err == nil {
		t.Error("a cut artifact was accepted")
	}
}

// BenchmarkAnswer is an answer after a 50-event sequence over a
// 10,000-item catalog, default configuration, random weights, from the
// pooled pass (pooled) and from training's forward pass (forward).
func BenchmarkAnswer(b *testing.B) {
	const items = 10000
	mm, err := Info().New(nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	m := mm.(*Model)
	m.N = items
	r := rand.New(rand.NewPCG(5, 6))
	m.init(r)
	seq := make([]int32, 50)
	for i := range seq {
		seq[i] = int32(r.IntN(items))
	}
	out := make([]float32, items)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			m.scores(seq, out)
		}
	})
	m.final()
	b.Run("pooled", func(b *testing.B) {
		for b.Loop() {
			m.answerScores(seq, out)
		}
	})
}
