// Package seqtrain is what Tailor's neural next-item models share: the
// output layer (item embeddings tied with the input's, full softmax
// cross-entropy over the catalog at every position) and the training loop
// (mini-batches over both cores, Adam, early stopping on each shopper's
// last training item by mean reciprocal rank). A model brings its network
// between the two: sasrec a transformer, gru4rec a recurrent layer; so the
// two are compared with everything else equal.
package seqtrain

import (
	"bytes"
	"cmp"
	"context"
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

// Network is a model's network as the loop trains it.
type Network interface {
	// Params lists every parameter slice, in a fixed order.
	Params() [][]float32
	// Step adds one sequence's loss gradient to g (in the order of
	// Params) and returns its summed loss and target count: the next
	// item at every position. logits is a buffer of MaxLen×items; r draws
	// the dropout masks.
	Step(seq []int32, g [][]float32, logits []float32, r *rand.Rand) (float64, int)
	// Scores sets out (one per item) to the next-item scores after seq.
	Scores(seq []int32, out []float32)
}

// Options configure Train.
type Options struct {
	// Name prefixes errors ("sasrec").
	Name string
	// Out, if set, is the network's output layer: Train lets it keep
	// its transposed embeddings for a batch (they change between
	// batches only).
	Out *Output
	// Items is the catalog size and MaxLen the longest sequence trained
	// on: a longer one is cut into windows of MaxLen+1 items from its
	// newest (each item a target once) when Windows is set, else only its
	// newest window is trained on. Width the logits' width
	// per position (Output.Width; the catalog size when 0).
	Items, MaxLen, Width int
	// LearningRate is Adam's; Epochs the most; Patience the epochs
	// without a better validation MRR before stopping; Batch the
	// sequences per step.
	LearningRate            float64
	Epochs, Patience, Batch int
	// WeightDecay is AdamW's decoupled decay per step, times the
	// learning rate (0: plain Adam); ClipNorm, when positive, scales each
	// batch's mean gradient down to that global norm; Warmup is the
	// steps over which the learning rate rises linearly to its value.
	WeightDecay, ClipNorm float64
	Warmup                int
	Windows               bool
	// Seed seeds the validation sample and the dropout masks.
	Seed uint64
}

// Result says how training went.
type Result struct {
	// Epochs run, and the best validation mean reciprocal rank (the
	// weights kept are that epoch's).
	Epochs   int
	ValidMRR float64
}

// Train trains net on the shoppers' sequences (oldest item first): each
// shopper's last item (of those with three or more) checks the epochs, the
// rest trains. r shuffles the sequences each epoch.
func Train(ctx context.Context, net Network, seqs [][]int32, r *rand.Rand, c Options) (Result, error) {
	if c.Out != nil {
		defer c.Out.batch(false)
	}
	var res Result
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
		for len(s) > c.MaxLen+1 {
			train = append(train, s[len(s)-c.MaxLen-1:])
			if !c.Windows {
				s = nil
				break
			}
			s = s[:len(s)-c.MaxLen] // the next window's last target is this one's first input
		}
		if len(s) >= 2 {
			train = append(train, s)
		}
	}
	if len(train) == 0 {
		return res, errors.New(c.Name + ": no shopper has two items to learn from")
	}
	if len(valid) > 1000 {
		vr := rand.New(rand.NewPCG(c.Seed, 0x7a1))
		vr.Shuffle(len(valid), func(i, j int) { valid[i], valid[j] = valid[j], valid[i] })
		valid = valid[:1000]
	}
	params := net.Params()
	newGrads := func() [][]float32 {
		var g [][]float32
		for _, p := range params {
			g = append(g, make([]float32, len(p)))
		}
		return g
	}
	adamM, adamV := newGrads(), newGrads()
	workers := runtime.GOMAXPROCS(0)
	wg := make([][][]float32, workers)
	rngs := make([]*rand.Rand, workers) // each worker's dropout masks
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(c.Seed, uint64(w)+0xd0))
	}
	buf := make([][]float32, workers)
	for w := range workers {
		wg[w], buf[w] = newGrads(), make([]float32, c.MaxLen*cmp.Or(c.Width, c.Items))
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
				return res, err
			}
			batch := order[lo:min(lo+c.Batch, len(order))]
			if c.Out != nil {
				c.Out.batch(true) // the embeddings hold still until the update below
			}
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
						li, ni := net.Step(train[batch[k]], wg[w], buf[w], rngs[w])
						l, n = l+li, n+ni
					}
					mu.Lock()
					lossSum, targets = lossSum+l, targets+n
					mu.Unlock()
				}()
			}
			wgr.Wait()
			if math.IsNaN(lossSum) || math.IsInf(lossSum, 0) {
				return res, fmt.Errorf("%s: the loss is not finite at epoch %d, batch %d: training stopped, nothing kept (try a lower learning_rate)",
					c.Name, epoch, lo/c.Batch+1)
			}
			// Adam over the mean gradient of the batch's targets.
			step++
			count := 0
			for _, k := range batch {
				count += len(train[k]) - 1
			}
			// The workers' gradients summed into the first's.
			for w := 1; w < workers; w++ {
				for p := range params {
					kernels.Axpy(1, wg[w][p], wg[0][p])
				}
			}
			scale := 1 / float64(count)
			var sq float64
			for _, g := range wg[0] {
				sq += float64(kernels.Dot(g, g))
			}
			norm := math.Sqrt(sq) * scale
			if math.IsNaN(norm) || math.IsInf(norm, 0) {
				return res, fmt.Errorf("%s: the gradient is not finite at epoch %d, batch %d: training stopped, nothing kept (try a lower learning_rate)",
					c.Name, epoch, lo/c.Batch+1)
			}
			if c.ClipNorm > 0 && norm > c.ClipNorm {
				scale *= c.ClipNorm / norm
			}
			base := c.LearningRate
			if step <= c.Warmup {
				base *= float64(step) / float64(c.Warmup+1)
			}
			b1, b2 := 0.9, 0.98
			c1, c2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
			lr := float32(base * math.Sqrt(c2) / c1)
			decay := float32(1 - base*c.WeightDecay)
			sc := float32(scale)
			for p := range params {
				pm, pv, gp, pp := adamM[p], adamV[p], wg[0][p], params[p]
				for i := range pp {
					gi := gp[i] * sc
					pm[i] = float32(b1)*pm[i] + float32(1-b1)*gi
					pv[i] = float32(b2)*pv[i] + float32(1-b2)*gi*gi
					pp[i] = pp[i]*decay - lr*pm[i]/(float32(math.Sqrt(float64(pv[i])))+1e-8)
				}
			}
		}
		// Validation: the mean reciprocal rank of each checked shopper's
		// last item among the items not in their sequence (every rank
		// counts, so that a small catalog does not saturate it).
		var rr float64
		sc := make([]float32, c.Items)
		for _, v := range valid {
			net.Scores(v.seq, sc)
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
		res.Epochs = epoch
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
	res.ValidMRR = bestHit
	return res, nil
}

// Output is the output layer and loss both models share: the logit of an
// item at a position is the hidden state dotted with the item's embedding
// (tied with the input's), trained against the next item at every
// position. Over a catalog of at most Training.FullSoftmaxMax items the
// loss is the full softmax cross-entropy; over a larger one it is a
// sampled softmax: per sequence, Negatives items are drawn (with
// replacement) in proportion to their training count plus one, every
// candidate's logit is corrected by −log(K·Q(item)) (the logQ correction,
// which makes the sampled loss's expected gradient that of the full one),
// and a drawn item that is the position's target is left out.
type Output struct {
	n, d int
	k    int       // negatives; 0 for the full softmax
	cdf  []float64 // cumulative sampling probabilities
	logQ []float32 // log(K·Q(item))

	// While Train runs a batch (batched), the full softmax's transposed
	// embeddings are made once (tt, fresh) for every sequence of the
	// batch, not once a sequence: the catalog's n×d, transposed for each
	// sequence, cost more than the sequence's products on short ones.
	mu      sync.Mutex
	batched bool
	fresh   bool
	tt      []float32

	scratch sync.Pool // of *lossScratch: Loss's buffers, reused
}

// lossScratch holds the buffers one Loss uses and returns to the pool:
// the logits' gradient, its transpose and the embeddings' gradient, whose
// n×d is most of a short sequence's allocations over a full catalog.
type lossScratch struct{ dl, dpt, dtable []float32 }

// batch says whether the embeddings stay as they are until the next call
// (Train: between its updates); false, every Loss transposes them again.
func (o *Output) batch(fixed bool) {
	o.mu.Lock()
	o.batched, o.fresh = fixed, false
	o.mu.Unlock()
}

// transposed returns table (cols×d) transposed: within a batch the one
// made for the batch's first sequence, else a new one.
func (o *Output) transposed(table []float32, cols int) []float32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.batched {
		tt := make([]float32, cols*o.d)
		kernels.Transpose(tt, table, cols, o.d)
		return tt
	}
	if !o.fresh {
		if len(o.tt) != cols*o.d {
			o.tt = make([]float32, cols*o.d)
		}
		kernels.Transpose(o.tt, table, cols, o.d)
		o.fresh = true
	}
	return o.tt
}

// NewOutput returns the output layer for a catalog of n items and hidden
// states of d, sampled by the training sequences' item counts when the
// catalog is over t's full-softmax limit.
func NewOutput(n, d int, seqs [][]int32, t *Training) *Output {
	o := &Output{n: n, d: d}
	if n <= t.FullSoftmaxMax {
		return o
	}
	o.k = t.Negatives
	counts := make([]float64, n)
	for i := range counts {
		counts[i] = 1
	}
	total := float64(n)
	for _, s := range seqs {
		for _, it := range s {
			counts[it]++
			total++
		}
	}
	o.cdf, o.logQ = make([]float64, n), make([]float32, n)
	var acc float64
	for i, c := range counts {
		acc += c / total
		o.cdf[i] = acc
		o.logQ[i] = float32(math.Log(float64(o.k) * c / total))
	}
	return o
}

// Sampled reports whether the loss is a sampled softmax.
func (o *Output) Sampled() bool { return o.k > 0 }

// Width is the logits buffer's width per position: the catalog, or the
// target and the negatives.
func (o *Output) Width() int {
	if o.k > 0 {
		return o.k + 1
	}
	return o.n
}

// draw returns K items drawn by the sampling distribution.
func (o *Output) draw(r *rand.Rand) []int32 {
	out := make([]int32, o.k)
	for i := range out {
		j, _ := slices.BinarySearch(o.cdf, r.Float64())
		out[i] = int32(min(j, o.n-1))
	}
	return out
}

// Loss is the loss of one sequence: hf (t×d) the final hidden states,
// emb (n×d) the item embeddings, targets the next items. It returns the
// summed cross-entropy and the gradient at hf, and adds the embeddings'
// gradient to dEmb. logits is a buffer of at least t×Width(); r draws the
// negatives of a sampled softmax. The products run as matrix products
// (kernels.MatMul) over the catalog, or over the drawn items gathered.
func (o *Output) Loss(hf []float32, t int, emb []float32, targets []int32, logits, dEmb []float32, r *rand.Rand) (float64, []float32) {
	d, w := o.d, o.Width()
	if len(logits) < t*w {
		logits = make([]float32, t*w)
	}
	logits, hf = logits[:t*w], hf[:t*d]
	// table holds the embeddings the hidden states are multiplied with:
	// the catalog's, or the drawn negatives' gathered (each position's
	// target apart, in the logits' column 0).
	table := emb[:o.n*d]
	var neg []int32
	if o.k > 0 {
		neg = o.draw(r)
		table = make([]float32, o.k*d)
		for j, it := range neg {
			copy(table[j*d:(j+1)*d], emb[int(it)*d:int(it+1)*d])
		}
	}
	cols := len(table) / d
	var tt []float32
	if o.k == 0 {
		tt = o.transposed(table, cols)
	} else { // the drawn negatives: new for every sequence
		tt = make([]float32, cols*d)
		kernels.Transpose(tt, table, cols, d)
	}
	prod := logits
	if o.k > 0 {
		prod = make([]float32, t*cols)
	}
	kernels.MatMul(prod, hf, tt, t, d, cols)
	tg := make([]int32, t)
	if o.k == 0 {
		copy(tg, targets)
	} else {
		for i := range t {
			row := logits[i*w : (i+1)*w]
			it := targets[i]
			row[0] = kernels.Dot(hf[i*d:(i+1)*d], emb[int(it)*d:int(it+1)*d]) - o.logQ[it]
			for j, x := range neg {
				if x == it {
					row[j+1] = -1e30 // an accidental hit
				} else {
					row[j+1] = prod[i*cols+j] - o.logQ[x]
				}
			}
		}
	}
	sc, _ := o.scratch.Get().(*lossScratch)
	if sc == nil {
		sc = new(lossScratch)
	}
	defer o.scratch.Put(sc)
	sc.dl = slices.Grow(sc.dl[:0], t*w)[:t*w]
	dl := sc.dl
	loss := nn.CrossEntropy(logits, t, w, tg, dl) * float64(t)
	for i := range dl {
		dl[i] *= float32(t) // summed over positions; the batch divides
	}
	// The gradients through the columns' products: dh = dP·table and
	// dtable = dPᵀ·hf, where dP is dl without the sampled softmax's
	// target column.
	dp := dl
	if o.k > 0 {
		dp = make([]float32, t*cols)
		for i := range t {
			copy(dp[i*cols:(i+1)*cols], dl[i*w+1:(i+1)*w])
		}
	}
	dh := make([]float32, t*d)
	kernels.MatMul(dh, dp, table, t, cols, d)
	sc.dpt, sc.dtable = slices.Grow(sc.dpt[:0], cols*t)[:cols*t], slices.Grow(sc.dtable[:0], cols*d)[:cols*d]
	dpt, dtable := sc.dpt, sc.dtable
	kernels.Transpose(dpt, dp, t, cols)
	kernels.MatMul(dtable, dpt, hf, cols, t, d) // sets every entry
	if o.k == 0 {
		kernels.Axpy(1, dtable, dEmb[:o.n*d])
	} else {
		for j, it := range neg {
			kernels.Axpy(1, dtable[j*d:(j+1)*d], dEmb[int(it)*d:int(it+1)*d])
		}
		for i := range t {
			if g := dl[i*w]; g != 0 {
				it := int(targets[i])
				kernels.Axpy(g, emb[it*d:(it+1)*d], dh[i*d:(i+1)*d])
				kernels.Axpy(g, hf[i*d:(i+1)*d], dEmb[it*d:(it+1)*d])
			}
		}
	}
	return loss, dh
}

// Sequences are the rows of the dataset's training matrix (positive
// weights only) as item sequences in time order. Items of the same time
// keep the order the data gives them: an order's lines in their order
// (rows by order), a shopper's items in the order of their first event
// (rows by user, when the dataset holds its events, as the protocols
// order ties), else by item index.
func Sequences(d *dataset.Dataset) ([][]int32, error) {
	mx, err := d.Matrix()
	if err != nil {
		return nil, err
	}
	rank := tieRanks(d, mx)
	out := make([][]int32, mx.NumUsers())
	for u := range out {
		lo, hi := mx.RowPtr[u], mx.RowPtr[u+1]
		idx := make([]int64, 0, hi-lo)
		for k := lo; k < hi; k++ {
			if mx.Weights[k] > 0 {
				idx = append(idx, k)
			}
		}
		slices.SortStableFunc(idx, func(a, b int64) int {
			return cmp.Or(cmp.Compare(mx.Times[a], mx.Times[b]), cmp.Compare(rank(u, a), rank(u, b)))
		})
		for _, k := range idx {
			out[u] = append(out[u], mx.Cols[k])
		}
	}
	return out, nil
}

// tieRanks returns the order of entry k (of row u) of the training matrix
// among entries of the same time.
func tieRanks(d *dataset.Dataset, mx *feature.Dataset) func(u int, k int64) int64 {
	byItem := func(_ int, k int64) int64 { return int64(mx.Cols[k]) }
	switch {
	case d.RowKind() == dataset.ByOrder:
		o := d.Orders()
		if o.Len() != mx.NumUsers() {
			return byItem // a matrix not made of the orders
		}
		return func(u int, k int64) int64 {
			if i := slices.Index(o.Items(u), mx.Cols[k]); i >= 0 {
				return int64(i)
			}
			return math.MaxInt32 + int64(mx.Cols[k])
		}
	case len(d.Events) > 0:
		first := make(map[[2]int32]int64, len(mx.Cols))
		for k := range d.Events {
			e := &d.Events[k]
			key := [2]int32{e.User, e.Item}
			if _, ok := first[key]; !ok && e.User >= 0 {
				first[key] = int64(k)
			}
		}
		return func(u int, k int64) int64 {
			if at, ok := first[[2]int32{int32(u), mx.Cols[k]}]; ok {
				return at
			}
			return math.MaxInt64 - int64(len(mx.Items)) + int64(mx.Cols[k])
		}
	}
	return byItem
}

// Answer is a sequence model's answer: the items ranked after the
// shopper's sequence, theirs from training (seqs, by User) for a
// personal query about a training shopper, else the query's history in
// time order (positive weights only, unless it is a session); scores sets
// the next-item scores after a sequence. name prefixes errors; n is the
// catalog size.
func Answer(name string, q *model.Query, dst []topk.Entry, n int, seqs [][]int32, scores func(seq []int32, out []float32)) ([]topk.Entry, error) {
	if q.Task != model.TaskPersonal && q.Task != model.TaskSession {
		return dst, &model.TaskError{Model: name, Task: q.Task}
	}
	if n == 0 {
		return dst, errors.New(name + ": not fitted")
	}
	if err := model.CheckQuery(name, q, n); err != nil {
		return dst, err
	}
	var seq []int32
	if q.Task == model.TaskPersonal && q.User >= 0 && int(q.User) < len(seqs) {
		seq = seqs[q.User]
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
	sc := make([]float32, n)
	scores(seq, sc)
	h := topk.New(q.N)
	for i, s := range sc {
		if q.Allowed(int32(i)) {
			h.Push(int32(i), q.Boosted(int32(i), s))
		}
	}
	return h.Sorted(dst), nil
}

// encodeSequences writes the training shoppers' sequences (item indices)
// into an artifact.
func encodeSequences(e *feature.Encoder, seqs [][]int32) {
	ptr := []int64{0}
	var items []int32
	for _, s := range seqs {
		items = append(items, s...)
		ptr = append(ptr, int64(len(items)))
	}
	e.Int64s(ptr)
	e.Int32s(items)
}

// decodeSequences reads what encodeSequences wrote, checking every item
// against the catalog size n.
func decodeSequences(d *feature.Decoder, n int) ([][]int32, error) {
	ptr, items := d.Int64s(), d.Int32s()
	if err := d.Err(); err != nil {
		return nil, err
	}
	if len(ptr) == 0 || ptr[0] != 0 || ptr[len(ptr)-1] != int64(len(items)) {
		return nil, feature.ErrCorrupt
	}
	seqs := make([][]int32, len(ptr)-1)
	for u := range seqs {
		if ptr[u] > ptr[u+1] {
			return nil, feature.ErrCorrupt
		}
		seqs[u] = items[ptr[u]:ptr[u+1]:ptr[u+1]]
		for _, it := range seqs[u] {
			if it < 0 || int(it) >= n {
				return nil, feature.ErrCorrupt
			}
		}
	}
	return seqs, nil
}

// Marshal encodes a sequence model's artifact: the catalog size n, every
// parameter (in the order of Params) and the training shoppers'
// sequences (by index, without ids).
func Marshal(n int, params [][]float32, seqs [][]int32) ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(n))
	for _, p := range params {
		e.Float32s(p)
	}
	encodeSequences(e, seqs)
	return b.Bytes(), e.Err()
}

// Unmarshal decodes what Marshal wrote. alloc makes the model's
// parameters for a catalog of n items (their sizes are checked against
// the artifact's) and returns them to be filled.
func Unmarshal(data []byte, alloc func(n int) ([][]float32, error)) (n int, seqs [][]int32, err error) {
	d := feature.NewDecoder(data)
	n = int(d.Uint64())
	if err := d.Err(); err != nil {
		return 0, nil, err
	}
	if n < 0 || n > 1<<28 {
		return 0, nil, fmt.Errorf("%w: %d items", feature.ErrCorrupt, n)
	}
	params, err := alloc(n)
	if err != nil {
		return 0, nil, err
	}
	for _, p := range params {
		v := d.Float32s()
		if d.Err() == nil && len(v) != len(p) {
			return 0, nil, fmt.Errorf("%w: a parameter of %d values where the configuration has %d", feature.ErrCorrupt, len(v), len(p))
		}
		copy(p, v)
	}
	seqs, err = decodeSequences(d, n)
	return n, seqs, err
}
