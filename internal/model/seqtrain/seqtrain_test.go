package seqtrain_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model/seqtrain"
)

// TestSequencesKeepTheDataOrderOnTies: the lines of one order (all of one
// time) and a shopper's items of one second come in the order the data
// gives them, not by item index, so that training sequences are ordered as
// the protocols order what they hold out.
func TestSequencesKeepTheDataOrderOnTies(t *testing.T) {
	t0 := time.Date(2011, 1, 1, 9, 0, 0, 0, time.UTC)
	ev := func(n int, user, order, item string, at time.Time) tailor.Event {
		return tailor.Event{ID: fmt.Sprint("e", n), UserID: tailor.UserID(user), OrderID: order, ItemID: tailor.ItemID(item),
			Type: tailor.Purchase, Timestamp: at}
	}
	// Items are numbered in order of first sight: a, b, c, d.
	events := []tailor.Event{
		ev(1, "u1", "o1", "a", t0), ev(2, "u1", "o1", "b", t0), ev(3, "u1", "o1", "c", t0),
		ev(4, "u2", "o2", "d", t0.Add(time.Hour)), ev(5, "u2", "o2", "c", t0.Add(time.Hour)), ev(6, "u2", "o2", "a", t0.Add(time.Hour)),
		ev(7, "u2", "o3", "b", t0.Add(2*time.Hour)),
	}
	all := dataset.FromEvents(events, nil)
	names := func(d *dataset.Dataset, seqs [][]int32) [][]string {
		var out [][]string
		for _, s := range seqs {
			var row []string
			for _, i := range s {
				row = append(row, d.Items[i])
			}
			out = append(out, row)
		}
		return out
	}
	tests := []struct {
		name string
		d    *dataset.Dataset
		want [][]string
	}{
		{"rows by user", all, [][]string{{"a", "b", "c"}, {"d", "c", "a", "b"}}},
		{"rows by order", all.Select(dataset.SelectOptions{Rows: dataset.ByOrder}), [][]string{{"a", "b", "c"}, {"d", "c", "a"}, {"b"}}},
		{"rows by order, ids renumbered", all.Select(dataset.SelectOptions{Order: dataset.ByID, Rows: dataset.ByOrder}),
			[][]string{{"a", "b", "c"}, {"d", "c", "a"}, {"b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seqs, err := seqtrain.Sequences(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(tc.d, seqs); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("sequences %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTrainingParameters: every parameter out of range is refused by
// name; the defaults are filled in.
func TestTrainingParameters(t *testing.T) {
	f, neg, big := 1.5, -1.0, 2e6
	w := -1
	tests := []struct {
		in   seqtrain.Training
		want string
	}{
		{seqtrain.Training{LearningRate: 2}, "learning_rate"},
		{seqtrain.Training{Epochs: 20000}, "epochs"},
		{seqtrain.Training{Patience: -1}, "patience"},
		{seqtrain.Training{Batch: -3}, "batch"},
		{seqtrain.Training{Dropout: &f}, "dropout"},
		{seqtrain.Training{WeightDecay: -0.1}, "weight_decay"},
		{seqtrain.Training{ClipNorm: &neg}, "clip_norm"},
		{seqtrain.Training{ClipNorm: &big}, "clip_norm"},
		{seqtrain.Training{Warmup: &w}, "warmup"},
		{seqtrain.Training{FullSoftmaxMax: -5}, "full_softmax_max"},
		{seqtrain.Training{Negatives: -2}, "negatives"},
	}
	for _, tc := range tests {
		err := tc.in.Check("sasrec")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sasrec: ") {
			t.Errorf("%+v: error %v, want one naming %s", tc.in, err, tc.want)
		}
	}
	var d seqtrain.Training
	if err := d.Check("sasrec"); err != nil {
		t.Fatal(err)
	}
	if d.LearningRate != 0.001 || d.Epochs != 200 || *d.Dropout != 0.2 || *d.ClipNorm != 5 || *d.Warmup != 100 || d.FullSoftmaxMax != 50000 || d.Negatives != 1000 {
		t.Errorf("defaults %+v", d)
	}
}

// BenchmarkOutput is the output layer's forward and backward pass over
// one 50-position sequence, full softmax over ml-100k's 1,682 items and
// sampled (1,000 negatives) over 100,000: 6·t·w·d floating-point
// operations (the logits, then the gradients at the hidden states and at
// the embeddings), where w is the catalog or the negatives plus one.
func BenchmarkOutput(b *testing.B) {
	for _, bc := range []struct {
		name  string
		items int
		tr    seqtrain.Training
	}{
		{"full/items=1682", 1682, seqtrain.Training{}},
		{"sampled/items=100000", 100000, seqtrain.Training{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const t, d = 50, 64
			r := rand.New(rand.NewPCG(1, 2))
			if err := bc.tr.Check("bench"); err != nil {
				b.Fatal(err)
			}
			emb, hf, dEmb := make([]float32, bc.items*d), make([]float32, t*d), make([]float32, bc.items*d)
			for i := range emb {
				emb[i] = float32(r.NormFloat64() * 0.1)
			}
			for i := range hf {
				hf[i] = float32(r.NormFloat64())
			}
			targets := make([]int32, t)
			for i := range targets {
				targets[i] = int32(r.IntN(bc.items))
			}
			out := seqtrain.NewOutput(bc.items, d, [][]int32{targets}, &bc.tr)
			logits := make([]float32, t*out.Width())
			for b.Loop() {
				out.Loss(hf, t, emb, targets, logits, dEmb, r)
			}
			flops := 6.0 * t * float64(out.Width()) * d
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// recorder is a network that records the sequences it is trained on.
type recorder struct {
	mu   sync.Mutex
	seen [][]int32
	w    []float32
}

func (r *recorder) Params() [][]float32 { return [][]float32{r.w} }

func (r *recorder) Step(seq []int32, _ [][]float32, _ []float32, _ *rand.Rand) (float64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, slices.Clone(seq))
	return 1, len(seq) - 1
}

func (r *recorder) Scores(_ []int32, out []float32) { clear(out) }

// TestTrainWindows: a sequence longer than MaxLen+1 is trained in windows
// from its newest, each item a target once, or only in its newest window;
// the last item is held out for validation either way.
func TestTrainWindows(t *testing.T) {
	seq := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	tests := []struct {
		windows bool
		want    [][]int32
	}{
		{true, [][]int32{{5, 6, 7, 8}, {2, 3, 4, 5}, {0, 1, 2}}},
		{false, [][]int32{{5, 6, 7, 8}}},
	}
	for _, tc := range tests {
		rec := &recorder{w: make([]float32, 1)}
		_, err := seqtrain.Train(context.Background(), rec, [][]int32{seq}, rand.New(rand.NewPCG(1, 1)),
			seqtrain.Options{Name: "test", Items: 10, MaxLen: 3, LearningRate: 0.001, Epochs: 1, Patience: 1, Batch: 8, Windows: tc.windows})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(rec.seen, func(a, b []int32) int { return int(b[0] - a[0]) })
		if !slices.EqualFunc(rec.seen, tc.want, slices.Equal) {
			t.Errorf("windows %v: trained on %v, want %v", tc.windows, rec.seen, tc.want)
		}
	}
}

// exploding is a network whose loss turns to infinity from its at-th
// sequence on.
type exploding struct {
	recorder
	at, steps int
}

func (x *exploding) Step(seq []int32, g [][]float32, buf []float32, r *rand.Rand) (float64, int) {
	x.mu.Lock()
	x.steps++
	n := x.steps
	x.mu.Unlock()
	if n >= x.at {
		return math.Inf(1), len(seq) - 1
	}
	return 1, len(seq) - 1
}

// TestTrainStopsOnAnExplodingLoss: a loss that is not finite stops
// training with an error naming the epoch and the cause.
func TestTrainStopsOnAnExplodingLoss(t *testing.T) {
	var seqs [][]int32
	for u := range 20 {
		seqs = append(seqs, []int32{int32(u % 5), int32((u + 1) % 5), int32((u + 2) % 5)})
	}
	// 20 sequences an epoch in batches of 4: the 46th is the 6th of
	// epoch 3, in its second batch.
	net := &exploding{recorder: recorder{w: make([]float32, 1)}, at: 46}
	_, err := seqtrain.Train(context.Background(), net, seqs, rand.New(rand.NewPCG(1, 1)),
		seqtrain.Options{Name: "sasrec", Items: 5, MaxLen: 3, LearningRate: 0.001, Epochs: 10, Patience: 10, Batch: 4})
	if err == nil || !strings.Contains(err.Error(), "sasrec: the loss is not finite at epoch 3, batch 2") {
		t.Errorf("error %v", err)
	}
}

// bigram is a network whose hidden state is the input item's own vector
// (n×d), scored against the output embeddings (n×d) through out.
type bigram struct {
	in, emb []float32
	d       int
	out     *seqtrain.Output
}

func (b *bigram) Params() [][]float32 { return [][]float32{b.in, b.emb} }

func (b *bigram) Step(seq []int32, g [][]float32, logits []float32, r *rand.Rand) (float64, int) {
	in, targets := seq[:len(seq)-1], seq[1:]
	t, d := len(in), b.d
	hf := make([]float32, t*d)
	for i, it := range in {
		copy(hf[i*d:(i+1)*d], b.in[int(it)*d:int(it+1)*d])
	}
	loss, dh := b.out.Loss(hf, t, b.emb, targets, logits, g[1], r)
	for i, it := range in {
		for k := range d {
			g[0][int(it)*d+k] += dh[i*d+k]
		}
	}
	return loss, t
}

func (b *bigram) Scores(seq []int32, out []float32) {
	d, it := b.d, int(seq[len(seq)-1])
	for j := range out {
		var s float32
		for k := range d {
			s += b.in[it*d+k] * b.emb[j*d+k]
		}
		out[j] = s
	}
}

// TestBatchTransposeChangesNothing: training with the output layer's
// embeddings transposed once a batch (Options.Out set) ends with the
// weights of training that transposes them for every sequence.
func TestBatchTransposeChangesNothing(t *testing.T) {
	const items, d = 30, 8
	var seqs [][]int32
	for u := range 40 {
		var s []int32
		for k := range 6 {
			s = append(s, int32((u*7+k*3)%items))
		}
		seqs = append(seqs, s)
	}
	train := func(batched bool) [][]float32 {
		var tr seqtrain.Training
		if err := tr.Check("test"); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(3, 4))
		net := &bigram{in: make([]float32, items*d), emb: make([]float32, items*d), d: d}
		for i := range net.in {
			net.in[i], net.emb[i] = float32(r.NormFloat64()*0.1), float32(r.NormFloat64()*0.1)
		}
		net.out = seqtrain.NewOutput(items, d, seqs, &tr)
		opts := tr.Options("test", net.out, 10, 5)
		opts.Epochs, opts.Patience, opts.Batch = 3, 3, 8
		if !batched {
			opts.Out = nil
		}
		if _, err := seqtrain.Train(context.Background(), net, seqs, r, opts); err != nil {
			t.Fatal(err)
		}
		return net.Params()
	}
	a, b := train(true), train(false)
	for p := range a {
		if !slices.Equal(a[p], b[p]) {
			t.Fatalf("parameter %d differs between batched and per-sequence transposes", p)
		}
	}
}
