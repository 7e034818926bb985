package recommend

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
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
	// the history's items of the item that explains it, -1 for none,
	// and 0 for not asked yet (positions are stored plus one); nil when
	// the list has no explanations to keep.
	because []atomic.Int32
	// dues memoizes the due dates of the first entries of a repurchase
	// ranking (nil: not asked yet; lists under rules that drop many
	// items compute the later ones each time); nil for other lists.
	dues []atomic.Pointer[dueMemo]
}

// dueMemo is an entry's due date and the reason that tells it (nil due:
// none).
type dueMemo struct {
	due    *DueDate
	reason string
}

// memoDues is how many entries of a repurchase ranking have their due
// dates memoized: a list of 10 under filters rarely reaches further.
const memoDues = 32

// memo says what a ranking memoizes for its entries.
type memo int

const (
	memoNothing memo = iota
	memoBecause      // explanations (ranking.because)
	memoDue          // due dates (ranking.dues)
)

// due returns the due date of the item at index ix, by due when not
// memoized yet.
func (r *ranking) due(ix int32, due func(ix int32) *dueMemo) *dueMemo {
	k := slices.IndexFunc(r.entries, func(en topk.Entry) bool { return en.Index == ix })
	if k < 0 || k >= len(r.dues) {
		return due(ix)
	}
	if m := r.dues[k].Load(); m != nil {
		return m
	}
	m := due(ix)
	r.dues[k].Store(m)
	return m
}

// explained returns the explanation of the item at index ix, by why when
// not memoized yet; why returns the position in the history's items or
// -1.
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
// caller asks the model. ids, index and meta give the ranking model's
// items, their indices and their catalog entries (meta is called under
// catMu); keep says what the ranking memoizes for its entries (their
// explanations or due dates).
//
// shared, when not empty, names the ranking in the rankings the replicas
// share (Options.Shared): a ranking this replica has not cached is read
// from there before it is computed, and kept there once computed.
func (e *Engine) ranked(a *ask, slot *atomic.Pointer[ranking], of uint64, keep memo, shared func() string, rank func(n int) ([]topk.Entry, error),
	ids []tailor.ItemID, index map[tailor.ItemID]int32, meta func(i int32) *meta) ([]topk.Entry, *ranking, error) {
	length := e.opts.Ranking
	r := slot.Load()
	hit := r != nil && r.of == of
	if !hit {
		var key string
		if e.opts.Shared != nil && shared != nil {
			key = shared()
		}
		var (
			entries []topk.Entry
			all     bool
			found   bool
		)
		if key != "" {
			if b, ok := e.opts.Shared.Ranking(a.ctx, key); ok {
				entries, all, found = decodeRanking(b, len(ids))
			}
		}
		if !found {
			got, err := rank(length)
			if err != nil {
				return nil, nil, err
			}
			// A copy of exactly the entries: the model's answer may sit
			// in a larger array (similar items ask for a pool), which
			// the cache would otherwise keep alive for every item and
			// history.
			entries, all = slices.Clone(got), len(got) < length
			if key != "" {
				e.opts.Shared.KeepRanking(a.ctx, key, encodeRanking(entries, all))
			}
		}
		r = &ranking{of: of, entries: entries, all: all}
		switch keep {
		case memoBecause:
			r.because = make([]atomic.Int32, len(entries))
		case memoDue:
			r.dues = make([]atomic.Pointer[dueMemo], min(len(entries), memoDues))
		}
		slot.Store(r)
	}
	want := a.pool()
	out := a.entryBuffer(e, want)
	e.catMu.RLock()
	excluded, skip := a.skipped(nil, ids, index)
	exclude, _ := a.keepFor(meta, excluded, skip)
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
// the rules, without scoring every item again. A model whose answers the
// history determines without ranking fixed (model.Deterministic: a
// two-stage model, whose candidates a filter changes) is answered so only
// under no rules and no skipped items, the question every plain request
// asks. nil: the caller asks the model.
func (e *Engine) fromRanking(s *state, a *ask) ([]topk.Entry, *ranking, error) {
	if a.list != ListPersonal || a.req.User == "" || a.rules.ExcludeTypes != nil || !a.rankable(e.opts.Ranking) {
		return nil, nil, nil
	}
	fixed := model.RanksFixed(s.model, model.TaskPersonal)
	if !fixed && !(model.DeterminedByHistory(s.model, model.TaskPersonal) && a.plain()) {
		return nil, nil, nil
	}
	// A ranking under this build was made from this history (histories
	// are replaced, never changed), which the model knew some of; without
	// one, a history the model knows nothing of is a cold start.
	if r := a.hist.ranking.Load(); r == nil || r.of != s.build {
		if c := a.converted(e, s); len(c.history) == 0 {
			return nil, nil, nil
		}
	}
	// The rankings replicas share are named by the history's items
	// (historyKey), which say neither the purchases one by one nor the
	// filter a two-stage model ranked under: those are not shared.
	var shared func() string
	if fixed && !model.ReadsPurchases(s.model) {
		shared = func() string { return historyKey(s.version.ID, a.converted(e, s), e.opts.Ranking) }
	}
	return e.ranked(a, &a.hist.ranking, s.build, memoBecause, shared, func(n int) ([]topk.Entry, error) {
		c := a.converted(e, s)
		q := model.Query{Task: model.TaskPersonal, User: -1, History: c.history, Purchases: a.purchases(e, s), N: n, Exclude: func(i int32) bool {
			_, ok := slices.BinarySearch(c.excluded, i)
			return ok
		}}
		return s.model.Answer(&q, nil)
	}, s.ids, s.index, func(i int32) *meta { return s.meta[i] })
}

// filtered is a model's answer to a history's question under rules, for
// a model whose answers the history determines but which does not rank
// fixed (model.Deterministic): the same rules get it again while neither
// the model version's build nor the catalog (which the rules filter by)
// has changed.
type filtered struct {
	of      uint64 // the build of the model version's state
	catalog uint64 // Engine.catGen when it was asked
	rules   string // the rules and the skipped items (rulesKey)
	n       int    // how many items were asked for
	entries []topk.Entry
}

// rulesKey names what a filtered answer depends on beyond the history:
// the request's rules and the items it skips.
func (a *ask) rulesKey() (string, error) {
	b, err := json.Marshal(&a.rules) // map keys sorted: the same rules, the same bytes
	if err != nil {
		return "", fmt.Errorf("name the rules: %w", err)
	}
	skip := slices.Clone(a.skip.few)
	for id := range a.skip.many {
		skip = append(skip, id)
	}
	slices.Sort(skip)
	for _, id := range skip {
		b = append(append(b, 0), id...)
	}
	return string(b), nil
}

// fromFiltered answers a personal list under rules from the history's
// last answer under the same rules, build and catalog, when the model's
// answers the history determines without ranking fixed; else it asks
// (ask, for a.pool() items) and keeps the answer. The rules must not
// depend on the time (freshness). Not such a case, or rankings not cached
// (Options.Ranking): ask alone.
func (e *Engine) fromFiltered(s *state, a *ask, ask func() ([]topk.Entry, error)) ([]topk.Entry, error) {
	if e.opts.Ranking <= 0 || a.list != ListPersonal || a.req.User == "" || a.hist == nil || a.rules.FreshDays > 0 ||
		model.RanksFixed(s.model, model.TaskPersonal) || !model.DeterminedByHistory(s.model, model.TaskPersonal) {
		return ask()
	}
	key, err := a.rulesKey()
	if err != nil {
		return nil, err
	}
	gen, want := e.catGen.Load(), a.pool()
	if f := a.hist.filtered.Load(); f != nil && f.of == s.build && f.catalog == gen && f.rules == key && (f.n >= want || len(f.entries) < f.n) {
		e.met.filteredHit.Inc()
		return f.entries[:min(want, len(f.entries))], nil // read by the caller, not changed
	}
	entries, err := ask()
	if err != nil {
		return nil, err
	}
	e.met.filteredMiss.Inc()
	a.hist.filtered.Store(&filtered{of: s.build, catalog: gen, rules: key, n: want, entries: slices.Clone(entries)})
	return entries, nil
}

// similarRanked answers a similar-items list from the item's cached
// ranking under the version (state.similarTo) when the rules only filter
// and the model ranks similar items fixed. nil: the caller asks the
// model.
func (e *Engine) similarRanked(s *state, a *ask, i int32) ([]topk.Entry, error) {
	if s.similarTo == nil || !a.rankable(e.opts.Ranking) {
		return nil, nil
	}
	shared := func() string { return fmt.Sprintf("%s/s/%d/%d", s.version.ID, e.opts.Ranking, i) }
	entries, _, err := e.ranked(a, &s.similarTo[i], s.build, memoNothing, shared, func(n int) ([]topk.Entry, error) {
		q := model.Query{Task: model.TaskSimilar, User: -1, Item: i, N: n}
		return s.model.Answer(&q, nil)
	}, s.ids, s.index, func(i int32) *meta { return s.meta[i] })
	return entries, err
}

// repurchaseRanked answers buy-again from the history's cached ranking of
// its past purchases under the shop models (history.rebuy), when the rules
// only filter and the repurchase model ranks fixed (with the ranking,
// whose due dates it memoizes). query returns the query without rules,
// made on first use. nil: the caller asks the model.
func (e *Engine) repurchaseRanked(sh *shop, a *ask, query func() *model.Query) ([]topk.Entry, *ranking, error) {
	if a.hist == nil || !a.rankable(e.opts.Ranking) || !model.RanksFixed(sh.repurchase, model.TaskRepurchase) {
		return nil, nil, nil
	}
	// The shop models are built by each replica from the store: their
	// rankings are not shared.
	return e.ranked(a, &a.hist.rebuy, sh.build, memoDue, nil, func(n int) ([]topk.Entry, error) {
		whole := *query()
		whole.N = n
		return sh.repurchase.Answer(&whole, nil)
	}, sh.items, sh.index, func(i int32) *meta { return sh.meta[i] })
}

// SharedRankings keeps rankings where every replica finds them (package
// hotcache, on Redis). A ranking is what one model version answers to one
// question, so it is kept under a key naming both and is never stale; the
// store bounds their number (time to live, eviction).
type SharedRankings interface {
	// Ranking returns the ranking kept under key; false when there is
	// none (or the store cannot say).
	Ranking(ctx context.Context, key string) ([]byte, bool)
	// KeepRanking keeps a ranking under key, or drops it.
	KeepRanking(ctx context.Context, key string, ranking []byte)
}

// historyKey names the ranking of a converted history under a model
// version (and a ranking length): the version and a hash of everything
// the model's answer depends on, the history's items, types, weights and
// times and the items it excludes.
func historyKey(version string, c *converted, length int) string {
	h := sha256.New()
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(length))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.history)))
	for _, in := range c.history {
		b = binary.LittleEndian.AppendUint32(b, uint32(in.Item))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(in.Weight))
		b = binary.LittleEndian.AppendUint64(b, uint64(in.Time))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(in.Type)))
		b = append(b, in.Type...)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.excluded)))
	for _, i := range c.excluded {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
	}
	h.Write(b)
	return version + "/p/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// encodeRanking writes a ranking for SharedRankings: a byte saying
// whether it holds every item the model ranks, then each entry's index
// and score (little endian).
func encodeRanking(entries []topk.Entry, all bool) []byte {
	b := make([]byte, 1, 1+8*len(entries))
	if all {
		b[0] = 1
	}
	for _, en := range entries {
		b = binary.LittleEndian.AppendUint32(b, uint32(en.Index))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(en.Score))
	}
	return b
}

// decodeRanking reads what encodeRanking wrote, for a catalog of n items;
// false when it is not such a ranking.
func decodeRanking(b []byte, n int) ([]topk.Entry, bool, bool) {
	if len(b) == 0 || (len(b)-1)%8 != 0 || b[0] > 1 {
		return nil, false, false
	}
	entries := make([]topk.Entry, (len(b)-1)/8)
	for k := range entries {
		ix := int32(binary.LittleEndian.Uint32(b[1+8*k:]))
		score := math.Float32frombits(binary.LittleEndian.Uint32(b[5+8*k:]))
		if ix < 0 || int(ix) >= n || math.IsNaN(float64(score)) || math.IsInf(float64(score), 0) {
			return nil, false, false
		}
		entries[k] = topk.Entry{Index: ix, Score: score}
	}
	return entries, b[0] == 1, true
}
