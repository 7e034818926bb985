package sasrec

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/topk"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/modeltest"
	"github.com/tailorhq/tailor/internal/model/seqtrain"
	"github.com/tailorhq/tailor/internal/nn"
)

// TestModelGradients checks the whole network's loss gradient (cross-
// entropy through the tied output, the final norm, two blocks, the
// positional and item embeddings) against finite differences, over the
// whole catalog and with a sampled softmax (the same negatives every
// time), and with dropout inside the blocks (the same masks every time).
func TestModelGradients(t *testing.T) {
	for _, tc := range []struct {
		name      string
		out       seqtrain.Training
		blockDrop float64
	}{
		{"full softmax", seqtrain.Training{}, 0},
		{"sampled softmax", seqtrain.Training{FullSoftmaxMax: 2, Negatives: 3}, 0},
		{"block dropout", seqtrain.Training{}, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) { checkGradients(t, tc.out, tc.blockDrop) })
	}
}

func checkGradients(t *testing.T, tr seqtrain.Training, blockDrop float64) {
	r := rand.New(rand.NewPCG(1, 1))
	// With dropout, the same mask every time (a fresh generator of one
	// seed), so that the differences see the network the gradient saw.
	drop := 0.3
	tr.Dropout = &drop
	if err := tr.Check("sasrec"); err != nil {
		t.Fatal(err)
	}
	m := &Model{cfg: Config{Dims: 4, Heads: 2, Blocks: 2, MaxLen: 6, BlockDropout: blockDrop, Training: tr}, Base: seqtrain.Base{N: 5}}
	m.emb, m.pos = make([]float32, 5*4), make([]float32, 6*4)
	for _, p := range [][]float32{m.emb, m.pos} {
		for i := range p {
			p[i] = float32(r.NormFloat64() * 0.5)
		}
	}
	m.gf, m.bf = []float32{1, 1.2, 0.8, 1}, []float32{0.1, 0, -0.1, 0.2}
	for range 2 {
		b, _ := nn.NewBlock(4, 2, 8, r)
		m.blocks = append(m.blocks, b)
	}
	seq := []int32{1, 3, 0, 4, 2}
	m.Out = seqtrain.NewOutput(5, 4, [][]int32{seq}, &m.cfg.Training)
	buf := make([]float32, 6*5)
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(9, 9)) }
	loss := func() float64 { l, _ := m.step(seq, m.newGrads(), buf, rng()); return l }
	g := m.newGrads()
	m.step(seq, g, buf, rng())
	modeltest.CheckGradients(t, m.params(), g, loss)
}

// TestLearnsASequence trains on shoppers who buy items in a fixed cycle
// (each next item is the one after): it learns to predict the next one.
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
	for _, tc := range []struct{ name, params string }{
		{"full softmax", `{"dims":16,"heads":2,"blocks":1,"max_len":10,"epochs":200,"patience":200,"learning_rate":0.01}`},
		// 12 items over the limit of 6: 6 negatives drawn per sequence.
		{"sampled softmax", `{"dims":16,"heads":2,"blocks":1,"max_len":10,"epochs":200,"patience":200,"learning_rate":0.01,"full_softmax_max":6,"negatives":6}`},
		{"block dropout", `{"dims":16,"heads":2,"blocks":1,"max_len":10,"epochs":200,"patience":200,"learning_rate":0.01,"block_dropout":0.2}`},
	} {
		t.Run(tc.name, func(t *testing.T) { learnsASequence(t, d, items, tc.params) })
	}
}

func learnsASequence(t *testing.T, d *dataset.Dataset, items int, params string) {
	mm, err := Info().New(json.RawMessage(params), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := mm.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if sampled := strings.Contains(params, "negatives"); mm.(*Model).Out.Sampled() != sampled {
		t.Fatalf("sampled softmax %v, want %v", mm.(*Model).Out.Sampled(), sampled)
	}
	idx := func(i int) int32 { x, _ := d.ItemIndex(fmt.Sprintf("i%02d", i%items)); return x }
	right := 0
	for start := range items {
		var hist []model.Interaction
		for k := range 4 {
			hist = append(hist, model.Interaction{Item: idx(start + k), Weight: 1, Time: int64(k + 1)})
		}
		got, err := mm.Answer(&model.Query{Task: model.TaskPersonal, User: -1, History: hist, N: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].Index == idx(start+4) {
			right++
		}
	}
	if right < 10 {
		t.Errorf("the next item of the cycle came first for %d of %d sequences (validation MRR %.2f after %d epochs)", right, items, mm.(*Model).ValidMRR, mm.(*Model).Epochs)
	}
	// Answering's pooled pass gives training's forward pass's scores.
	m := mm.(*Model)
	modeltest.CheckPooledScores(t, m.N, idx, m.scores, m.answerScores)
}

// BenchmarkAnswer is the inference the issue bounds: the top 10 after a
// 50-event sequence over a 10,000-item catalog, default configuration
// (64 dimensions, 2 blocks of 2 heads), random weights. It reports the
// 99th percentile of the single answers' times beside the mean.
func BenchmarkAnswer(b *testing.B) {
	const items = 10000
	m, r := randomModel(b, items)
	hist := make([]model.Interaction, 50)
	for i := range hist {
		hist[i] = model.Interaction{Item: int32(r.IntN(items)), Weight: 1, Time: int64(i)}
	}
	q := &model.Query{Task: model.TaskSession, User: -1, History: hist, N: 10}
	var times []time.Duration
	var dst []topk.Entry
	var err error
	for b.Loop() {
		start := time.Now()
		dst, err = m.Answer(q, dst[:0])
		times = append(times, time.Since(start))
		if err != nil || len(dst) != 10 {
			b.Fatal(err, len(dst))
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}

// randomModel is a default sasrec over items with random weights, as a
// fitted or loaded one answers, and the generator that drew them.
func randomModel(b *testing.B, items int) (*Model, *rand.Rand) {
	mm, err := Info().New(nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	m := mm.(*Model)
	r := rand.New(rand.NewPCG(5, 6))
	d := m.cfg.Dims
	m.N, m.emb, m.pos = items, make([]float32, items*d), make([]float32, m.cfg.MaxLen*d)
	for _, p := range [][]float32{m.emb, m.pos} {
		for i := range p {
			p[i] = float32(r.NormFloat64() * 0.05)
		}
	}
	m.gf, m.bf = make([]float32, d), make([]float32, d)
	for i := range m.gf {
		m.gf[i] = 1
	}
	for range m.cfg.Blocks {
		blk, err := nn.NewBlock(d, m.cfg.Heads, 4*d, r)
		if err != nil {
			b.Fatal(err)
		}
		m.blocks = append(m.blocks, blk)
	}
	m.final()
	return m, r
}

// BenchmarkStep is one training step of a 21-item sequence (an Online
// Retail order's length, about) over a 3,600-item catalog (its), default
// configuration: forward, full softmax and backward.
func BenchmarkStep(b *testing.B) {
	const items = 3600
	m, r := randomModel(b, items)
	m.Out = seqtrain.NewOutput(items, m.cfg.Dims, nil, &m.cfg.Training)
	seq := make([]int32, 21)
	for i := range seq {
		seq[i] = int32(r.IntN(items))
	}
	var g grads
	for _, p := range m.params() {
		g = append(g, make([]float32, len(p)))
	}
	logits := make([]float32, m.cfg.MaxLen*items)
	for b.Loop() {
		m.step(seq, g, logits, r)
	}
}

// TestBadParameters checks that each parameter out of range is refused
// with an error that names it.
func TestBadParameters(t *testing.T) {
	for _, tc := range []struct{ params, want string }{
		{`{"dims":6,"heads":4}`, "dims 6"},
		{`{"blocks":13}`, "blocks 13"},
		{`{"max_len":1}`, "max_len 1"},
		{`{"block_dropout":1}`, "block_dropout 1"},
		{`{"block_dropout":-0.1}`, "block_dropout -0.1"},
		{`{"dropout":1.5}`, "dropout"},
	} {
		_, err := Info().New(json.RawMessage(tc.params), 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.params, err, tc.want)
		}
	}
	if _, err := Info().New(json.RawMessage(`{"block_dropout":0.3}`), 1); err != nil {
		t.Errorf("block_dropout 0.3 refused: %v", err)
	}
}
