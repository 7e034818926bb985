package recommend

import (
	"slices"
	"sync/atomic"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// DefaultRanking is the default of Options.Ranking.
const DefaultRanking = 128

// ranking is the first Options.Ranking items of a model's ranking for a
// history or an item (a model.FixedRanker's), the items the history
// excludes by default left out and no rule applied: a list under rules
// that only filter is its first items that pass them.
type ranking struct {
	of      uint64 // what ranked: the build of the model version's state or of the shop models
	entries []topk.Entry
	all     bool // every item the model can rank is in entries
	// because memoizes the explanation of each entry: the position in
	// the converted history of the item that explains it, -1 for none,
	// and 0 for not asked yet (positions are stored plus one); nil when
	// the list has no explanations to keep.
	because []atomic.Int32
}

// explained returns the explanation of the item at index ix, by why when
// not memoized yet; why returns the position in the history or -1.
func (r *ranking) explained(ix int32, why func(ix int32) int32) int32 {
	for k := range r.entries {
		if r.entries[k].Index != ix {
			continue
		}
		if b := r.because[k].Load(); b != 0 {
			return b - 1
		}
		b := why(ix)
		r.because[k].Store(b + 1)
		return b
	}
	return why(ix)
}

// rankable reports whether a cached ranking of length entries can answer
// the request: its rules only filter (no boosts) and it needs no more
// candidates than the ranking holds.
func (a *ask) rankable(length int) bool {
	return length > 0 && a.pool() <= length && len(a.rules.Boosts) == 0 && a.rules.FreshDays == 0
}

// ranked answers from the ranking cached in slot when of made it, else
// from one made by rank (asked for e.opts.Ranking entries) and stored in
// slot: the first entries that pass the request's rules, with the
// ranking; nil entries when the ranking is too short to tell, and the
// caller asks the model. ids and meta give the ranking model's items and
// their catalog entries (meta is called under catMu); memo keeps the
// entries' explanations with the ranking.
func (e *Engine) ranked(a *ask, slot *atomic.Pointer[ranking], of uint64, memo bool, rank func(n int) ([]topk.Entry, error),
	ids []tailor.ItemID, meta func(i int32) *meta) ([]topk.Entry, *ranking, error) {
	length := e.opts.Ranking
	r := slot.Load()
	hit := r != nil && r.of == of
	if !hit {
		entries, err := rank(length)
		if err != nil {
			return nil, nil, err
		}
		// A copy of exactly the entries: the model's answer may sit in
		// a larger array (similar items ask for a pool), which the cache
		// would otherwise keep alive for every item and history.
		r = &ranking{of: of, entries: slices.Clone(entries), all: len(entries) < length}
		if memo {
			r.because = make([]atomic.Int32, len(entries))
		}
		slot.Store(r)
	}
	var skip func(int32) bool
	if len(a.skip) > 0 {
		skip = func(i int32) bool { return a.skip[ids[i]] }
	}
	want := a.pool()
	out := make([]topk.Entry, 0, want)
	e.catMu.RLock()
	exclude, _ := a.keepFor(meta, nil, skip)
	for _, en := range r.entries {
		if len(out) == want {
			break
		}
		if !exclude(en.Index) {
			out = append(out, en)
		}
	}
	e.catMu.RUnlock()
	switch {
	case len(out) < want && !r.all:
		e.met.rankShort.Inc()
		return nil, nil, nil
	case hit:
		e.met.rankHit.Inc()
	default:
		e.met.rankMiss.Inc()
	}
	return out, r, nil
}

// fromRanking answers a personal list from the history's cached ranking
// under the version (with the ranking, whose explanations it memoizes)
// when the rules only filter and keep the default exclusions, and the
// model ranks histories fixed: the same items as asking the model with
// the rules, without scoring every item again. nil: the caller asks the
// model.
func (e *Engine) fromRanking(s *state, a *ask, c *converted) ([]topk.Entry, *ranking, error) {
	if a.list != ListPersonal || a.req.User == "" || a.rules.ExcludeTypes != nil || !a.rankable(e.opts.Ranking) ||
		!model.RanksFixed(s.model, model.TaskPersonal) {
		return nil, nil, nil
	}
	excluded := c.excluded
	return e.ranked(a, &a.hist.ranking, s.build, true, func(n int) ([]topk.Entry, error) {
		q := model.Query{Task: model.TaskPersonal, User: -1, History: c.history, N: n, Exclude: func(i int32) bool {
			_, ok := slices.BinarySearch(excluded, i)
			return ok
		}}
		return s.model.Answer(&q, nil)
	}, s.ids, func(i int32) *meta { return s.meta[i] })
}

// similarRanked answers a similar-items list from the item's cached
// ranking under the version (state.similarTo) when the rules only filter
// and the model ranks similar items fixed. nil: the caller asks the
// model.
func (e *Engine) similarRanked(s *state, a *ask, i int32) ([]topk.Entry, error) {
	if s.similarTo == nil || !a.rankable(e.opts.Ranking) {
		return nil, nil
	}
	entries, _, err := e.ranked(a, &s.similarTo[i], s.build, false, func(n int) ([]topk.Entry, error) {
		q := model.Query{Task: model.TaskSimilar, User: -1, Item: i, N: n}
		return s.model.Answer(&q, nil)
	}, s.ids, func(i int32) *meta { return s.meta[i] })
	return entries, err
}

// repurchaseRanked answers buy-again from the history's cached ranking of
// its past purchases under the shop models (history.rebuy), when the rules
// only filter and the repurchase model ranks fixed. q is the query without
// rules. nil: the caller asks the model.
func (e *Engine) repurchaseRanked(sh *shop, a *ask, q *model.Query) ([]topk.Entry, error) {
	if a.hist == nil || !a.rankable(e.opts.Ranking) || !model.RanksFixed(sh.repurchase, model.TaskRepurchase) {
		return nil, nil
	}
	entries, _, err := e.ranked(a, &a.hist.rebuy, sh.build, false, func(n int) ([]topk.Entry, error) {
		whole := *q
		whole.N = n
		return sh.repurchase.Answer(&whole, nil)
	}, sh.items, func(i int32) *meta { return e.catalog[sh.items[i]] })
	return entries, err
}
