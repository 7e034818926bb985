package model

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/topk"
)

// Matrix is the fast path of a collaborative model: it fits on the
// dataset's training matrix and ranks items for a training user by dense
// index, without building a query. Recommend is safe for concurrent use
// after Fit returns. A Matrix becomes a Model through MatrixInfo.
type Matrix interface {
	// Fit trains the model. It may use every core, and stops early with
	// ctx's error when ctx is done.
	Fit(ctx context.Context, d *feature.Dataset) error
	// Recommend appends to dst the n best items for user u, best first,
	// leaving out those for which exclude returns true (exclude may be
	// nil).
	Recommend(u int32, n int, exclude func(int32) bool, dst []topk.Entry) []topk.Entry
}

// Scorer is a matrix model that can score every item for a user, which
// blending and re-ranking need. Score sets scores[i] (len(scores) is the
// number of items) to user u's score for item i; higher is better.
type Scorer interface {
	Score(u int32, scores []float32)
}

// HistoryScorer is a matrix model that can score the whole catalog for a
// shopper given by their interactions (item indices and weights, as in a
// training row) instead of a training user index: a shopper's latest
// events change their answers at once, without retraining, and shoppers
// the model never saw (and anonymous sessions) get personal answers.
// ScoreHistory sets scores (one per item) and fails only on indices
// outside the catalog. Without it, the model answers personal queries for
// training users only, and no basket or session queries.
type HistoryScorer interface {
	ScoreHistory(items []int32, weights []float32, scores []float32) error
}

// Similar is implemented by matrix models that know which items are alike.
// Without it, the model answers no similar-item queries.
type Similar interface {
	// SimilarItems appends to dst the n items most similar to item i,
	// best first.
	SimilarItems(i int32, n int, dst []topk.Entry) []topk.Entry
}

// Unwrapper is implemented by the Model that MatrixInfo makes: Matrix
// returns the matrix model inside.
type Unwrapper interface {
	Matrix() Matrix
}

// AsMatrix returns the matrix model of a Model made by MatrixInfo.
func AsMatrix(m Model) (Matrix, bool) {
	if u, ok := m.(Unwrapper); ok {
		return u.Matrix(), true
	}
	return nil, false
}

// MatrixKind describes a matrix model kind, as Info does a Model kind.
type MatrixKind struct {
	Name string
	// New decodes the parameters and returns an unfitted model.
	New  func(params json.RawMessage, seed uint64) (Matrix, error)
	Grid []json.RawMessage
}

// MatrixInfo describes a matrix model kind as a Model kind: its models fit
// on the dataset's training matrix and answer personal queries (by training
// user, or by history with HistoryScorer), repurchase queries the same way,
// basket and session queries by history (with HistoryScorer), and
// similar-item queries (with Similar).
func MatrixInfo(k MatrixKind) Info {
	return Info{Name: k.Name, Grid: k.Grid, New: func(params json.RawMessage, seed uint64) (Model, error) {
		m, err := k.New(params, seed)
		if err != nil {
			return nil, err
		}
		return WrapMatrix(k.Name, m), nil
	}}
}

// WrapMatrix makes a Model of a matrix model.
func WrapMatrix(name string, m Matrix) Model {
	a := &matrixModel{name: name, m: m}
	a.hs, _ = m.(HistoryScorer)
	a.sim, _ = m.(Similar)
	a.tasks = []Task{TaskPersonal, TaskRepurchase}
	if a.hs != nil {
		a.tasks = append(a.tasks, TaskBasket, TaskSession)
	}
	if a.sim != nil {
		a.tasks = append(a.tasks, TaskSimilar)
	}
	return a
}

// matrixModel is a Matrix behind the Model contract.
type matrixModel struct {
	name  string
	m     Matrix
	hs    HistoryScorer
	sim   Similar
	tasks []Task

	mu      sync.Mutex   // guards the setting of n and scratch
	n       atomic.Int64 // items; 0 until known
	scratch sync.Pool
}

// scratch is one history answer's working memory.
type scratch struct {
	scores  []float32
	mark    []uint32 // by item: the stamp of the query that saw it
	stamp   uint32
	items   []int32
	weights []float32
	heap    topk.Heap
}

func (a *matrixModel) Matrix() Matrix { return a.m }

func (a *matrixModel) Tasks() []Task { return a.tasks }

// AnswersHistories reports whether the matrix model scores histories.
func (a *matrixModel) AnswersHistories() bool { return a.hs != nil }

// NumItems returns the size of the catalog the model was fitted on (0 when
// it is not known).
func (a *matrixModel) NumItems() int { return int(a.n.Load()) }

// SetNumItems tells a loaded model the size of its catalog.
func (a *matrixModel) SetNumItems(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if int(a.n.Load()) != n {
		a.scratch = sync.Pool{New: func() any {
			return &scratch{scores: make([]float32, n), mark: make([]uint32, n)}
		}}
		a.n.Store(int64(n))
	}
}

func (a *matrixModel) Fit(ctx context.Context, d *dataset.Dataset) error {
	mx, err := d.Matrix()
	if err != nil {
		return err
	}
	if err := a.m.Fit(ctx, mx); err != nil {
		return err
	}
	a.SetNumItems(mx.NumItems())
	return nil
}

// answerUser scores every item for a training user with Score and selects
// under the query's boost.
func (a *matrixModel) answerUser(sc Scorer, q *Query, dst []topk.Entry) ([]topk.Entry, error) {
	n := int(a.n.Load())
	if n == 0 {
		return dst, fmt.Errorf("%s: the model's catalog size is unknown (not fitted or loaded)", a.name)
	}
	s := a.scratch.Get().(*scratch)
	defer a.scratch.Put(s)
	sc.Score(q.User, s.scores)
	return SelectScores(q, s.scores, &s.heap, dst), nil
}

func (a *matrixModel) Answer(q *Query, dst []topk.Entry) ([]topk.Entry, error) {
	if n := int(a.n.Load()); n > 0 {
		if err := CheckQuery(a.name, q, n); err != nil {
			return dst, err
		}
	}
	switch q.Task {
	case TaskPersonal, TaskRepurchase:
		if q.User >= 0 {
			// A training shopper: the fast path by index (a boost needs
			// every score, from Score when the model has it).
			if sc, ok := a.m.(Scorer); ok && q.Boost != nil {
				return a.answerUser(sc, q, dst)
			}
			return a.m.Recommend(q.User, q.N, q.skip(), dst), nil
		}
		if a.hs == nil {
			return dst, &TaskError{Model: a.name, Task: q.Task, Reason: "it scores training shoppers only, not histories"}
		}
		return a.answerHistory(q, dst)
	case TaskBasket, TaskSession:
		if a.hs == nil {
			return dst, &TaskError{Model: a.name, Task: q.Task}
		}
		return a.answerHistory(q, dst)
	case TaskSimilar:
		if a.sim == nil {
			return dst, &TaskError{Model: a.name, Task: q.Task}
		}
		return a.answerSimilar(q, dst)
	}
	return dst, &TaskError{Model: a.name, Task: q.Task}
}

// RanksFixed reports true for personal queries when the model scores
// histories (it scores every item from the history and selects the best
// N that pass Exclude, ties to the lower index: SelectScores), and for
// similar-item queries when it has item similarities (the first N of
// SimilarItems that pass Exclude).
func (a *matrixModel) RanksFixed(t Task) bool {
	switch t {
	case TaskPersonal:
		return a.hs != nil
	case TaskSimilar:
		return a.sim != nil
	}
	return false
}

// skip is the exclusion function of a query (nil when it has none).
func (q *Query) skip() func(int32) bool {
	if q.Exclude == nil && q.Candidates == nil {
		return nil
	}
	return func(i int32) bool { return !q.Allowed(i) }
}

func (a *matrixModel) answerHistory(q *Query, dst []topk.Entry) ([]topk.Entry, error) {
	n := int(a.n.Load())
	if n == 0 {
		return dst, fmt.Errorf("%s: the model's catalog size is unknown (not fitted or loaded)", a.name)
	}
	if err := CheckQuery(a.name, q, n); err != nil {
		return dst, err
	}
	sc := a.scratch.Get().(*scratch)
	defer a.scratch.Put(sc)
	// The history's items once each, with their weights summed.
	sc.stamp++
	if sc.stamp == 0 {
		clear(sc.mark)
		sc.stamp = 1
	}
	sc.items, sc.weights = sc.items[:0], sc.weights[:0]
	for _, h := range q.History {
		if sc.mark[h.Item] == sc.stamp {
			k := indexOf(sc.items, h.Item)
			sc.weights[k] += h.Weight
			continue
		}
		sc.mark[h.Item] = sc.stamp
		sc.items, sc.weights = append(sc.items, h.Item), append(sc.weights, h.Weight)
	}
	if err := a.hs.ScoreHistory(sc.items, sc.weights, sc.scores); err != nil {
		return dst, err
	}
	return SelectScores(q, sc.scores, &sc.heap, dst), nil
}

func indexOf(xs []int32, x int32) int {
	for k, v := range xs {
		if v == x {
			return k
		}
	}
	return -1
}

// SelectScores appends to dst the q.N best items of a full score vector
// (boosted by q.Boost), best first, that q allows; h is scratch space.
// Candidates, when q has them, are the only items looked at.
func SelectScores(q *Query, scores []float32, h *topk.Heap, dst []topk.Entry) []topk.Entry {
	h.Reset(max(0, min(q.N, len(scores))))
	if q.Boost == nil && q.Candidates == nil {
		// The common case, in one loop: most scores fall below the
		// heap's threshold and cost a comparison.
		th, full := h.Threshold()
		for i, s := range scores {
			if full && s < th {
				continue
			}
			if q.Exclude != nil && q.Exclude(int32(i)) {
				continue
			}
			h.Push(int32(i), s)
			th, full = h.Threshold()
		}
		return h.Sorted(dst)
	}
	push := func(i int32) {
		s := q.Boosted(i, scores[i])
		if th, full := h.Threshold(); full && s < th {
			return
		}
		if q.Exclude != nil && q.Exclude(i) {
			return
		}
		h.Push(i, s)
	}
	if q.Candidates != nil {
		for _, i := range q.Candidates {
			if int(i) < len(scores) {
				push(i)
			}
		}
	} else {
		for i := range scores {
			push(int32(i))
		}
	}
	return h.Sorted(dst)
}

func (a *matrixModel) answerSimilar(q *Query, dst []topk.Entry) ([]topk.Entry, error) {
	start := len(dst)
	pool := q.N*4 + 50
	var buf []topk.Entry
	for {
		buf = a.sim.SimilarItems(q.Item, pool, buf[:0])
		dst = dst[:start]
		for _, e := range buf {
			if e.Index != q.Item && q.Allowed(e.Index) {
				dst = append(dst, topk.Entry{Index: e.Index, Score: q.Boosted(e.Index, e.Score)})
			}
		}
		// Enough survived the filter, or the model has no more to give.
		if len(dst)-start >= q.N || len(buf) < pool {
			break
		}
		pool *= 4
	}
	if q.Boost != nil {
		topk.SortEntries(dst[start:])
	}
	if len(dst)-start > q.N {
		dst = dst[:start+q.N]
	}
	return dst, nil
}

// MarshalBinary encodes the matrix model, when it can be saved.
func (a *matrixModel) MarshalBinary() ([]byte, error) {
	p, ok := a.m.(PersistentMatrix)
	if !ok {
		return nil, fmt.Errorf("%s: %w", a.name, ErrNotPersistent)
	}
	return p.MarshalBinary()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (a *matrixModel) UnmarshalBinary(b []byte) error {
	p, ok := a.m.(PersistentMatrix)
	if !ok {
		return fmt.Errorf("%s: %w", a.name, ErrNotPersistent)
	}
	return p.UnmarshalBinary(b)
}

// ForgetUsers removes shoppers from the matrix model inside, when it keeps
// any (Forgetter).
func (a *matrixModel) ForgetUsers(gone func(id string) bool) int {
	if f, ok := a.m.(Forgetter); ok {
		return f.ForgetUsers(gone)
	}
	return 0
}

// persistent reports whether the matrix model inside can be saved.
func (a *matrixModel) persistent() bool {
	_, ok := a.m.(PersistentMatrix)
	return ok
}
