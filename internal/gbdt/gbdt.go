// Package gbdt trains gradient-boosted decision trees: histogram splits
// over quantile bins of each feature, trees grown leaf by leaf (best gain
// first) with Newton leaf values, L2 on the leaves, histograms built on
// all cores, early stopping on a validation set, every choice
// deterministic. Objectives: squared error, logistic loss, and LambdaMART
// (Burges, "From RankNet to LambdaRank to LambdaMART", 2010): pairwise
// lambdas weighted by the change in NDCG of swapping two items of a
// query, for learning to rank.
package gbdt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Objective is what the trees minimize.
type Objective int

// The objectives.
const (
	Regression Objective = iota // squared error
	Logistic                    // labels 0 or 1
	LambdaRank                  // graded labels within groups (queries), NDCG
)

// Data is a training or validation set: row-major features, labels, and
// for LambdaRank the groups (group g is rows Groups[g] to Groups[g+1]).
type Data struct {
	X      [][]float32
	Y      []float32
	Groups []int
	// Margin, if not nil, is each row's starting score (a prior from
	// another model): the trees learn what to add to it, and a caller
	// adds it to Predict's score for the same row.
	Margin []float64
}

// Options configure Train. Zero fields take the defaults.
type Options struct {
	Objective Objective
	// Trees is the most trees (default 200); EarlyStop stops when the
	// validation loss has not improved for that many (default 20; it
	// needs validation data).
	Trees, EarlyStop int
	// LearningRate shrinks every tree (default 0.1).
	LearningRate float64
	// MaxLeaves (default 31) and MinLeaf, the fewest rows of a leaf
	// (default 20), bound a tree; Lambda is the L2 penalty of the leaf
	// values (default 1).
	MaxLeaves, MinLeaf int
	Lambda             float64
	// Bins is the most quantile bins per feature (default 64, at most
	// 256).
	Bins int
	// NDCGAt is the cut-off of the validation NDCG of LambdaRank
	// (default 10).
	NDCGAt int
	// Workers build histograms in parallel (default GOMAXPROCS).
	Workers int
}

func (o *Options) defaults() error {
	o.Trees = cmp.Or(o.Trees, 200)
	o.EarlyStop = cmp.Or(o.EarlyStop, 20)
	o.LearningRate = cmp.Or(o.LearningRate, 0.1)
	o.MaxLeaves = cmp.Or(o.MaxLeaves, 31)
	o.MinLeaf = cmp.Or(o.MinLeaf, 20)
	if o.Lambda == 0 {
		o.Lambda = 1
	}
	o.Bins = cmp.Or(o.Bins, 64)
	o.NDCGAt = cmp.Or(o.NDCGAt, 10)
	o.Workers = cmp.Or(o.Workers, runtime.GOMAXPROCS(0))
	switch {
	case o.Trees < 1, o.MaxLeaves < 2, o.MinLeaf < 1, o.Bins < 2 || o.Bins > 256, !(o.LearningRate > 0), o.Lambda < 0:
		return errors.New("gbdt: trees, max_leaves ≥ 2, min_leaf, bins (2–256), a positive learning rate and λ ≥ 0 are required")
	}
	return nil
}

// Model is a fitted ensemble. It is safe for concurrent use.
type Model struct {
	Base  float64 `json:"base"`
	Trees []Tree  `json:"trees"`
	// Importance is each feature's total split gain.
	Importance []float64 `json:"importance"`
	// BestTrees is the number of trees kept (early stopping), and
	// ValidLoss the validation loss there (LambdaRank: 1 − NDCG).
	BestTrees int     `json:"best_trees"`
	ValidLoss float64 `json:"valid_loss"`
}

// Tree is one tree: node k splits on Feature[k] at Threshold[k] (rows with
// a value ≤ it go Left); a negative child −(j+1) is leaf j.
type Tree struct {
	Feature   []int32   `json:"feature"`
	Threshold []float32 `json:"threshold"`
	Left      []int32   `json:"left"`
	Right     []int32   `json:"right"`
	Leaf      []float32 `json:"leaf"`
}

// Predict returns the model's score of a row.
func (m *Model) Predict(x []float32) float64 {
	s := m.Base
	for t := range m.Trees {
		s += float64(m.Trees[t].predict(x))
	}
	return s
}

func (t *Tree) predict(x []float32) float32 {
	if len(t.Feature) == 0 {
		return t.Leaf[0]
	}
	n := int32(0)
	for {
		next := t.Right[n]
		if x[t.Feature[n]] <= t.Threshold[n] {
			next = t.Left[n]
		}
		if next < 0 {
			return t.Leaf[-next-1]
		}
		n = next
	}
}

// binner maps each feature's values to quantile bins.
type binner struct {
	cuts [][]float32 // per feature, ascending upper bounds of the bins but the last
}

func newBinner(x [][]float32, bins int) binner {
	nf := len(x[0])
	b := binner{cuts: make([][]float32, nf)}
	vals := make([]float32, len(x))
	for f := range nf {
		for i := range x {
			vals[i] = x[i][f]
		}
		slices.Sort(vals)
		var cuts []float32
		for q := 1; q < bins; q++ {
			v := vals[q*len(vals)/bins]
			if len(cuts) == 0 || v > cuts[len(cuts)-1] {
				cuts = append(cuts, v)
			}
		}
		// A cut at the largest value separates nothing.
		for len(cuts) > 0 && cuts[len(cuts)-1] >= vals[len(vals)-1] {
			cuts = cuts[:len(cuts)-1]
		}
		// Values equal to a cut go left: the bin of v is the first cut ≥ v.
		b.cuts[f] = cuts
	}
	return b
}

func (b binner) bin(f int, v float32) uint8 {
	k, _ := slices.BinarySearch(b.cuts[f], v)
	return uint8(k)
}

// Train fits a model on train, stopping early on valid (nil: no early
// stopping, all Trees).
func Train(ctx context.Context, train, valid *Data, o Options) (*Model, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := check(train, o.Objective); err != nil {
		return nil, fmt.Errorf("gbdt: train: %w", err)
	}
	if valid != nil {
		if err := check(valid, o.Objective); err != nil {
			return nil, fmt.Errorf("gbdt: valid: %w", err)
		}
		if len(valid.X[0]) != len(train.X[0]) {
			return nil, errors.New("gbdt: train and valid have different features")
		}
	}
	n, nf := len(train.X), len(train.X[0])
	bn := newBinner(train.X, o.Bins)
	bins := make([][]uint8, nf) // column-major
	for f := range nf {
		bins[f] = make([]uint8, n)
		for i := range n {
			bins[f][i] = bn.bin(f, train.X[i][f])
		}
	}
	m := &Model{Importance: make([]float64, nf)}
	switch o.Objective {
	case Regression:
		for i, y := range train.Y {
			m.Base += float64(y)
			if train.Margin != nil {
				m.Base -= train.Margin[i]
			}
		}
		m.Base /= float64(n)
	case Logistic:
		pos := 0.0
		for _, y := range train.Y {
			pos += float64(y)
		}
		m.Base = math.Log((pos + 0.5) / (float64(n) - pos + 0.5))
	}
	pred := make([]float64, n)
	for i := range pred {
		pred[i] = m.Base
		if train.Margin != nil {
			pred[i] += train.Margin[i]
		}
	}
	var vpred []float64
	if valid != nil {
		vpred = make([]float64, len(valid.X))
		for i := range vpred {
			vpred[i] = m.Base
			if valid.Margin != nil {
				vpred[i] += valid.Margin[i]
			}
		}
	}
	g, h := make([]float64, n), make([]float64, n)
	best, bestLoss := 0, math.Inf(1)
	for t := 0; t < o.Trees; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gradients(o.Objective, train, pred, g, h)
		tree := grow(bins, bn, g, h, o, m.Importance)
		for i := range pred {
			pred[i] += float64(tree.predict(train.X[i]))
		}
		m.Trees = append(m.Trees, tree)
		if valid == nil {
			continue
		}
		for i := range vpred {
			vpred[i] += float64(tree.predict(valid.X[i]))
		}
		loss := Loss(o.Objective, valid, vpred, o.NDCGAt)
		if loss < bestLoss-1e-12 {
			best, bestLoss = t+1, loss
		} else if t+1-best >= o.EarlyStop {
			break
		}
	}
	if valid != nil {
		m.Trees, m.BestTrees, m.ValidLoss = m.Trees[:best], best, bestLoss
	} else {
		m.BestTrees = len(m.Trees)
	}
	return m, nil
}

func check(d *Data, obj Objective) error {
	if d == nil || len(d.X) == 0 || len(d.X[0]) == 0 || len(d.Y) != len(d.X) {
		return errors.New("no rows, no features, or a label count that is not the row count")
	}
	if d.Margin != nil && len(d.Margin) != len(d.X) {
		return fmt.Errorf("%d margins for %d rows", len(d.Margin), len(d.X))
	}
	for i, v := range d.Margin {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("row %d has a margin that is not a finite number", i)
		}
	}
	for i := range d.X {
		if len(d.X[i]) != len(d.X[0]) {
			return fmt.Errorf("row %d has %d features, not %d", i, len(d.X[i]), len(d.X[0]))
		}
		for _, v := range d.X[i] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("row %d has a feature that is not a finite number", i)
			}
		}
		if obj == Logistic && d.Y[i] != 0 && d.Y[i] != 1 {
			return fmt.Errorf("row %d: a logistic label must be 0 or 1", i)
		}
	}
	if obj == LambdaRank {
		if len(d.Groups) < 2 || d.Groups[0] != 0 || d.Groups[len(d.Groups)-1] != len(d.X) || !slices.IsSorted(d.Groups) {
			return errors.New("LambdaRank needs groups from 0 to the row count, ascending")
		}
	}
	return nil
}

// gradients sets the first and second derivatives of the loss at pred.
func gradients(obj Objective, d *Data, pred, g, h []float64) {
	switch obj {
	case Regression:
		for i := range pred {
			g[i], h[i] = pred[i]-float64(d.Y[i]), 1
		}
	case Logistic:
		for i := range pred {
			p := 1 / (1 + math.Exp(-pred[i]))
			g[i], h[i] = p-float64(d.Y[i]), math.Max(p*(1-p), 1e-6)
		}
	case LambdaRank:
		clear(g)
		clear(h)
		for q := 0; q+1 < len(d.Groups); q++ {
			lambdas(d.Y[d.Groups[q]:d.Groups[q+1]], pred[d.Groups[q]:d.Groups[q+1]], g[d.Groups[q]:d.Groups[q+1]], h[d.Groups[q]:d.Groups[q+1]])
		}
	}
}

// lambdas adds one query's LambdaMART gradients: for each pair with
// different labels, ρ = 1/(1+e^(s_i − s_j)) weighted by |ΔNDCG| of
// swapping them.
func lambdas(y []float32, s, g, h []float64) {
	n := len(y)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(s[b], s[a]) })
	rank := make([]int, n)
	for r, i := range order {
		rank[i] = r
	}
	ideal := slices.Clone(y)
	slices.SortFunc(ideal, func(a, b float32) int { return cmp.Compare(b, a) })
	idcg := 0.0
	for r, v := range ideal {
		idcg += (math.Exp2(float64(v)) - 1) / math.Log2(float64(r+2))
	}
	if idcg == 0 {
		return
	}
	for i := range n {
		for j := range n {
			if y[i] <= y[j] {
				continue
			}
			delta := math.Abs((math.Exp2(float64(y[i]))-math.Exp2(float64(y[j])))*
				(1/math.Log2(float64(rank[i]+2))-1/math.Log2(float64(rank[j]+2)))) / idcg
			rho := 1 / (1 + math.Exp(s[i]-s[j]))
			g[i] -= rho * delta
			g[j] += rho * delta
			w := math.Max(rho*(1-rho)*delta, 1e-9)
			h[i] += w
			h[j] += w
		}
	}
}

// Loss is the validation loss: mean squared error, log loss, or 1 − mean
// NDCG@k over the groups.
func Loss(obj Objective, d *Data, pred []float64, k int) float64 {
	switch obj {
	case Regression:
		s := 0.0
		for i := range pred {
			e := pred[i] - float64(d.Y[i])
			s += e * e
		}
		return s / float64(len(pred))
	case Logistic:
		s := 0.0
		for i := range pred {
			p := math.Min(math.Max(1/(1+math.Exp(-pred[i])), 1e-12), 1-1e-12)
			if d.Y[i] == 1 {
				s -= math.Log(p)
			} else {
				s -= math.Log(1 - p)
			}
		}
		return s / float64(len(pred))
	}
	sum, groups := 0.0, 0
	for q := 0; q+1 < len(d.Groups); q++ {
		y, s := d.Y[d.Groups[q]:d.Groups[q+1]], pred[d.Groups[q]:d.Groups[q+1]]
		if v, ok := NDCG(y, s, k); ok {
			sum += v
			groups++
		}
	}
	if groups == 0 {
		return 1
	}
	return 1 - sum/float64(groups)
}

// NDCG is the NDCG@k of the items' labels ranked by their scores (ties to
// the earlier item); false for a group without a relevant item.
func NDCG(y []float32, s []float64, k int) (float64, bool) {
	order := make([]int, len(y))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(s[b], s[a]) })
	ideal := slices.Clone(y)
	slices.SortFunc(ideal, func(a, b float32) int { return cmp.Compare(b, a) })
	dcg, idcg := 0.0, 0.0
	for r := 0; r < min(k, len(y)); r++ {
		dcg += (math.Exp2(float64(y[order[r]])) - 1) / math.Log2(float64(r+2))
		idcg += (math.Exp2(float64(ideal[r])) - 1) / math.Log2(float64(r+2))
	}
	if idcg == 0 {
		return 0, false
	}
	return dcg / idcg, true
}

// leaf is a leaf being grown: its rows and their gradient sums.
type leaf struct {
	rows  []int32
	g, h  float64
	split *split // its best split, found once
}

type split struct {
	gain       float64
	feature    int
	threshold  float32
	left, rght []int32
	gl, hl     float64
}

// grow builds one tree leaf by leaf, best gain first.
func grow(bins [][]uint8, bn binner, g, h []float64, o Options, importance []float64) Tree {
	rows := make([]int32, len(g))
	root := &leaf{rows: rows}
	for i := range rows {
		rows[i] = int32(i)
		root.g += g[i]
		root.h += h[i]
	}
	leaves := []*leaf{root}
	type link struct {
		node int
		left bool
	}
	var t Tree
	// where[k] says how leaf k is linked: the node and side that point at
	// it (−1: the root).
	where := []link{{-1, false}}
	for len(leaves) < o.MaxLeaves {
		bestK, bestGain := -1, 0.0
		for k, lf := range leaves {
			if lf.split == nil {
				lf.split = bestSplit(bins, bn, g, h, lf, o)
			}
			if lf.split != nil && lf.split.gain > bestGain {
				bestK, bestGain = k, lf.split.gain
			}
		}
		if bestK < 0 {
			break
		}
		lf := leaves[bestK]
		sp := lf.split
		importance[sp.feature] += sp.gain
		n := int32(len(t.Feature))
		t.Feature = append(t.Feature, int32(sp.feature))
		t.Threshold = append(t.Threshold, sp.threshold)
		t.Left = append(t.Left, 0)
		t.Right = append(t.Right, 0)
		if w := where[bestK]; w.node >= 0 {
			if w.left {
				t.Left[w.node] = n
			} else {
				t.Right[w.node] = n
			}
		}
		left := &leaf{rows: sp.left, g: sp.gl, h: sp.hl}
		right := &leaf{rows: sp.rght, g: lf.g - sp.gl, h: lf.h - sp.hl}
		leaves[bestK] = left
		where[bestK] = link{int(n), true}
		leaves = append(leaves, right)
		where = append(where, link{int(n), false})
	}
	t.Leaf = make([]float32, len(leaves))
	for k, lf := range leaves {
		t.Leaf[k] = float32(-lf.g / (lf.h + o.Lambda) * o.LearningRate)
		if w := where[k]; w.node >= 0 {
			if w.left {
				t.Left[w.node] = int32(-k - 1)
			} else {
				t.Right[w.node] = int32(-k - 1)
			}
		}
	}
	return t
}

// bestSplit finds a leaf's best split over all features (histograms built
// on o.Workers goroutines), or nil.
func bestSplit(bins [][]uint8, bn binner, g, h []float64, lf *leaf, o Options) *split {
	if len(lf.rows) < 2*o.MinLeaf {
		return nil
	}
	nf := len(bins)
	type cand struct {
		gain   float64
		bin    uint8
		gl, hl float64
	}
	found := make([]cand, nf)
	parent := lf.g * lf.g / (lf.h + o.Lambda)
	var wg sync.WaitGroup
	next := make(chan int, nf)
	for f := range nf {
		next <- f
	}
	close(next)
	for range min(o.Workers, nf) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hg, hh [256]float64
			var hc [256]int
			for f := range next {
				clear(hg[:])
				clear(hh[:])
				clear(hc[:])
				col := bins[f]
				for _, r := range lf.rows {
					b := col[r]
					hg[b] += g[r]
					hh[b] += h[r]
					hc[b]++
				}
				best := cand{}
				gl, hl, cl := 0.0, 0.0, 0
				for b := 0; b < len(bn.cuts[f]); b++ {
					gl, hl, cl = gl+hg[b], hl+hh[b], cl+hc[b]
					cr := len(lf.rows) - cl
					if cl < o.MinLeaf || cr < o.MinLeaf {
						continue
					}
					gr, hr := lf.g-gl, lf.h-hl
					gain := gl*gl/(hl+o.Lambda) + gr*gr/(hr+o.Lambda) - parent
					if gain > best.gain+1e-12 {
						best = cand{gain: gain, bin: uint8(b), gl: gl, hl: hl}
					}
				}
				found[f] = best
			}
		}()
	}
	wg.Wait()
	bf := -1
	for f := range nf {
		if found[f].gain > 1e-12 && (bf < 0 || found[f].gain > found[bf].gain) {
			bf = f
		}
	}
	if bf < 0 {
		return nil
	}
	c := found[bf]
	sp := &split{gain: c.gain, feature: bf, threshold: bn.cuts[bf][c.bin], gl: c.gl, hl: c.hl}
	for _, r := range lf.rows {
		if bins[bf][r] <= c.bin {
			sp.left = append(sp.left, r)
		} else {
			sp.rght = append(sp.rght, r)
		}
	}
	return sp
}
