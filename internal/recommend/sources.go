package recommend

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/topk"
)

// List is a kind of list the engine serves.
type List string

// The lists.
const (
	ListPersonal       List = "recommendations"
	ListSimilar        List = "similar"
	ListTrending       List = "trending"
	ListSearch         List = "search"
	ListSession        List = "sessions"
	ListBoughtTogether List = "bought_together"
	ListCart           List = "cart"
	ListBuyAgain       List = "buy_again"
	ListRerank         List = "rerank"
)

// source is one way of answering lists: it returns the candidates, or nil
// when it has nothing to say and the next source in the list's precedence
// answers.
type source struct {
	name   string
	answer func(e *Engine, a *ask) (*answer, error)
}

// The sources.
var (
	// modelSource is the active model version (or the shopper's arm of an
	// A/B test): personal lists, sessions and carts from the history,
	// similar items, the order of a rerank.
	modelSource = source{"model", (*Engine).fromModel}
	// sessionSource is V-SKNN over the store's past orders, unless the
	// active model is a sequence model (model.Sequential), which answers
	// sessions as the model source.
	sessionSource = source{"sessions", (*Engine).fromSessions}
	// basketSource is the significant bought-together rules.
	basketSource = source{"baskets", (*Engine).fromBaskets}
	// repurchaseSource is the buy-again model.
	repurchaseSource = source{"repurchase", (*Engine).fromRepurchase}
	// contentSource is the items closest by their text.
	contentSource = source{"content", (*Engine).fromContent}
	// searchSource is the catalog's text index, personalized by the
	// active version.
	searchSource = source{"search", (*Engine).fromSearch}
	// trendingSource is time-decayed popularity (in the item's categories
	// for similar items); it always answers.
	trendingSource = source{"trending", (*Engine).fromTrending}
)

// precedence says, for each list, which sources answer it, first first.
var precedence = map[List][]source{
	ListPersonal:       {modelSource, trendingSource},
	ListSimilar:        {modelSource, contentSource, trendingSource},
	ListTrending:       {trendingSource},
	ListSearch:         {searchSource},
	ListSession:        {sessionSource, modelSource, trendingSource},
	ListBoughtTogether: {basketSource},
	ListCart:           {basketSource, modelSource, trendingSource},
	ListBuyAgain:       {repurchaseSource},
	ListRerank:         {modelSource, trendingSource},
}

// ask is one request on its way through the sources.
type ask struct {
	ctx   context.Context
	list  List
	req   Request
	rules Rules
	want  int // offset + n
	now   time.Time
	state *state // the model version that serves the request (nil: none)
	// hist is the shopper's (or the session's) history; skip the items
	// they must not get beyond those the history excludes.
	hist *history
	skip idSet
	// item is the item of a similar-items list, cart the items of a
	// bought-together or cart list, query the text of a search.
	item     tailor.ItemID
	itemMeta *meta
	cart     []tailor.ItemID
	query    string
	// conv is the history in the model version's indices, made on first
	// use from the engine's pool and given back by release.
	conv *converted
	// bought is the history's purchases in the shop models' indices
	// (fromRepurchase), held like conv until the answer is done.
	bought *converted
	// cands holds the candidates of fromModel, from the engine's pool
	// (candidates) and given back by release.
	cands *[]cand
	// entries holds a cached ranking's entries that pass the rules, from
	// the engine's pool (entryBuffer) and given back by release.
	entries *[]topk.Entry
}

// entryBuffer returns an empty buffer for n entries from the engine's
// pool; it is given back when the answer is done.
func (a *ask) entryBuffer(e *Engine, n int) []topk.Entry {
	if a.entries == nil {
		a.entries = e.entries.Get().(*[]topk.Entry)
	}
	if cap(*a.entries) < n {
		*a.entries = make([]topk.Entry, 0, n)
	}
	return (*a.entries)[:0]
}

// candidates returns n candidates, with room for grow more, from the
// engine's pool; they are given back when the answer is done.
func (a *ask) candidates(e *Engine, n, grow int) []cand {
	if a.cands == nil {
		a.cands = e.cands.Get().(*[]cand)
	}
	if cap(*a.cands) < n+grow {
		*a.cands = make([]cand, 0, n+grow)
	}
	return (*a.cands)[:n]
}

// converted returns the history in the state's indices.
func (a *ask) converted(e *Engine, s *state) *converted {
	if a.conv == nil {
		a.conv = e.convs.Get().(*converted)
		if n := a.hist.convert(a.conv, func(id tailor.ItemID) (int32, bool) { i, ok := s.index[id]; return i, ok }); n > 0 {
			e.met.unknownItems.Add(float64(n))
		}
	}
	return a.conv
}

// purchases returns the history's purchases one by one in the model
// version's indices, for a model that reads them (model.PurchaseReader;
// nil for the others). They live in the conversion, like its history.
func (a *ask) purchases(e *Engine, s *state) []model.Interaction {
	if a.hist == nil || !model.ReadsPurchases(s.model) {
		return nil
	}
	c := a.converted(e, s)
	a.hist.purchasesIn(c, func(id tailor.ItemID) (int32, bool) { i, ok := s.index[id]; return i, ok })
	return c.bought
}

// plain reports whether the request asks the usual question: no rules
// and no items skipped beyond those the history excludes.
func (a *ask) plain() bool {
	return a.skip.size() == 0 && reflect.ValueOf(&a.rules).Elem().IsZero()
}

// release gives the ask's scratch back to the engine.
func (a *ask) release(e *Engine) {
	if a.conv != nil {
		e.convs.Put(a.conv)
		a.conv = nil
	}
	if a.bought != nil {
		e.convs.Put(a.bought)
		a.bought = nil
	}
	if a.cands != nil && cap(*a.cands) <= maxPooledCands {
		c := *a.cands
		clear(c[:cap(c)]) // no strings kept alive by the pool
		e.cands.Put(a.cands)
	}
	if a.entries != nil {
		e.entries.Put(a.entries)
	}
	*a = ask{} // nothing kept alive by the pool
	e.asks.Put(a)
}

// maxPooledCands is the largest candidates' array release gives back to
// the pool (a boosted trending list holds every trending item).
const maxPooledCands = 1024

// pool is how many candidates a source gathers: want, or more when the
// rules will drop some to diversify.
func (a *ask) pool() int {
	if a.rules.MaxPerCategory > 0 || a.rules.MMRLambda > 0 {
		return a.want*4 + 20
	}
	return a.want
}

// answer is what a source found.
type answer struct {
	cands   []cand
	model   string // the model kind that ranked them
	version string // the model version, when one did
	// fallback says why the list is not personal ("trending", "content",
	// "text"); rankedBy names what ranked it for attribution: the version,
	// or the shop model's or the source's name.
	fallback string
	rankedBy string
	source   string
	// explain describes a lazy candidate (see cand.ix): its reason and due
	// date; nil when the candidates are described already.
	explain func(c *cand)
}

// skipped returns the request's skipped items in index space ids (index
// their indices): a few (a cart's, an item's) looked up once and added to
// a copy of excluded (which may be pooled), kept sorted; many as a test
// by id (nil when none).
func (a *ask) skipped(excluded []int32, ids []tailor.ItemID, index map[tailor.ItemID]int32) ([]int32, func(i int32) bool) {
	switch {
	case a.skip.size() == 0:
		return excluded, nil
	case a.skip.many == nil:
		excluded = slices.Clone(excluded)
		for _, id := range a.skip.few {
			if i, ok := index[id]; ok {
				excluded = append(excluded, i)
			}
		}
		slices.Sort(excluded)
		return excluded, nil
	default:
		return excluded, func(i int32) bool { return a.skip.many[ids[i]] }
	}
}

// keepFor returns the query filter and boost of a model over an index
// space (meta gives each index's catalog entry, or nil): the item must be
// in the catalog, available, pass the rules, and be neither excluded
// (sorted indices) nor skipped (see skipped); boosts and freshness
// multiply the score. The caller holds catMu for reading.
func (a *ask) keepFor(meta func(i int32) *meta, excluded []int32, skip func(i int32) bool) (func(int32) bool, func(int32) float64) {
	exclude := func(i int32) bool {
		if _, ok := slices.BinarySearch(excluded, i); ok {
			return true
		}
		if skip != nil && skip(i) {
			return true
		}
		m := meta(i)
		return m == nil || !a.rules.keep(m)
	}
	var boost func(int32) float64
	if len(a.rules.Boosts) > 0 || a.rules.FreshDays > 0 {
		boost = func(i int32) float64 {
			if m := meta(i); m != nil {
				return a.rules.factor(m, a.now)
			}
			return 1
		}
	}
	return exclude, boost
}

// fromModel answers from the request's model version.
func (e *Engine) fromModel(a *ask) (*answer, error) {
	s := a.state
	if s == nil {
		return nil, nil
	}
	ans := &answer{model: s.version.Model, version: s.version.ID}
	switch a.list {
	case ListSimilar:
		i, ok := s.index[a.item]
		if !ok || !s.similar {
			return nil, nil
		}
		reason := "similar to " + e.title(a.item)
		entries, err := e.similarRanked(s, a, i)
		if err == nil && entries == nil {
			q := model.Query{Task: model.TaskSimilar, User: -1, Item: i, N: a.pool()}
			entries, err = e.askState(s, a, &q, nil)
		}
		if err != nil || len(entries) == 0 {
			return nil, err
		}
		ans.cands = a.candidates(e, len(entries), 0)
		for k, en := range entries {
			ans.cands[k] = cand{id: s.ids[en.Index], score: float64(en.Score), reason: reason}
		}
		return ans, nil
	case ListRerank:
		return e.rerankByModel(s, a)
	case ListCart:
		idx := make([]model.Interaction, 0, len(a.cart))
		for _, id := range a.cart {
			if i, ok := s.index[id]; ok {
				idx = append(idx, model.Interaction{Item: i, Type: tailor.AddToCart, Weight: 1})
			}
		}
		if len(idx) == 0 || !model.Answers(s.model, model.TaskBasket) {
			return nil, nil
		}
		q := model.Query{Task: model.TaskBasket, User: -1, History: idx, N: a.pool()}
		entries, err := e.askState(s, a, &q, nil)
		if err != nil || len(entries) == 0 {
			return nil, err
		}
		ans.cands = a.candidates(e, len(entries), 0)
		for k, en := range entries {
			ans.cands[k] = cand{id: s.ids[en.Index], score: float64(en.Score), ix: en.Index, lazy: s.explain != nil}
		}
		if s.explain != nil {
			items := make([]int32, len(idx))
			for k := range idx {
				items[k] = idx[k].Item
			}
			ans.explain = func(c *cand) {
				if j, ok := s.explain.Because(items, c.ix); ok {
					c.reason = e.because("goes with ", s.ids[j], func(s *said) *atomic.Pointer[string] { return &s.goesWith })
				}
			}
		}
		return ans, nil
	}
	// Personal lists and sessions. A cached ranking of the history under
	// the version answers without the history in the model's indices; it
	// is converted (a map lookup per item) only when the model is asked
	// or an explanation is not memoized yet.
	entries, r, err := e.fromRanking(s, a)
	if err != nil {
		return nil, err
	}
	if entries == nil {
		c := a.converted(e, s)
		if len(c.history) == 0 {
			return nil, nil // the model knows none of the history: a cold start
		}
		q := model.Query{Task: model.TaskPersonal, User: -1, History: c.history, Purchases: a.purchases(e, s), N: a.pool()}
		if a.list == ListSession && model.LearnsOrder(s.model) {
			q.Task = model.TaskSession // every item of the session, in its order
		}
		excluded := c.excluded
		if a.rules.ExcludeTypes != nil {
			excluded = nil // the scenario's types, not the configured ones
			for k, it := range a.hist.items {
				if i, ok := s.index[it.id]; ok && a.hist.excludedBy(k, *a.rules.ExcludeTypes) {
					excluded = append(excluded, i)
				}
			}
			slices.Sort(excluded)
		}
		if entries, err = e.fromFiltered(s, a, func() ([]topk.Entry, error) { return e.askState(s, a, &q, excluded) }); err != nil {
			return nil, err
		}
	}
	// Empty when the rules leave nothing: not a cold start. Room for the
	// new items withNewItems inserts (one in five), so that it inserts in
	// place.
	ans.cands = a.candidates(e, len(entries), max(1, len(entries)/5))
	for k, en := range entries {
		ans.cands[k] = cand{id: s.ids[en.Index], score: float64(en.Score), ix: en.Index, lazy: s.explain != nil}
	}
	if s.explain != nil {
		// Explained in finish, while the conversion is still held (it
		// goes back to its pool when the answer is done).
		var items []int32             // the converted history's items, on first use
		why := func(ix int32) int32 { // the position in a.hist.items of the item that explains ix, or −1
			c := a.converted(e, s)
			if items == nil {
				items = make([]int32, len(c.history))
				for k := range c.history {
					items[k] = c.history[k].Item
				}
			}
			j, ok := s.explain.Because(items, ix)
			if !ok {
				return -1
			}
			return int32(c.pos[slices.Index(items, j)])
		}
		ans.explain = func(cd *cand) {
			var k int32
			if r != nil { // the explanations of a cached ranking are kept with it
				k = r.explained(cd.ix, why)
			} else {
				k = why(cd.ix)
			}
			if k >= 0 {
				src := &a.hist.items[k]
				k := verbOf(src.strong)
				cd.reason = e.because(becauseYou[k], src.id, func(s *said) *atomic.Pointer[string] { return &s.because[k] })
			}
		}
	}
	if a.list == ListPersonal && len(ans.cands) > 0 {
		ans.cands = e.withNewItems(s, a, ans.cands)
	}
	return ans, nil
}

// askState asks the version's model under the request's rules (and the
// excluded indices).
func (e *Engine) askState(s *state, a *ask, q *model.Query, excluded []int32) ([]topk.Entry, error) {
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	excluded, skip := a.skipped(excluded, s.ids, s.index)
	q.Exclude, q.Boost = a.keepFor(func(i int32) *meta { return s.meta[i] }, excluded, skip)
	return s.model.Answer(q, a.entryBuffer(e, q.N)) // read by the caller, not kept
}

// rerankByModel orders the request's items by the model's scores of the
// shopper's history.
func (e *Engine) rerankByModel(s *state, a *ask) (*answer, error) {
	c := a.converted(e, s)
	if len(c.history) == 0 {
		return nil, nil
	}
	var cands []int32
	for _, id := range a.req.Items {
		if i, ok := s.index[id]; ok {
			cands = append(cands, i)
		}
	}
	score := map[tailor.ItemID]float64{}
	if len(cands) > 0 {
		q := model.Query{Task: model.TaskPersonal, User: -1, History: c.history, N: len(cands), Candidates: protocolSorted(cands)}
		entries, err := s.model.Answer(&q, nil)
		if err != nil {
			return nil, err
		}
		for _, en := range entries {
			score[s.ids[en.Index]] = float64(en.Score)
		}
	}
	ans := &answer{model: s.version.Model, version: s.version.ID, cands: e.ordered(a, score)}
	return ans, nil
}

func protocolSorted(xs []int32) []int32 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return slices.Compact(s)
}

// ordered puts the request's items (those the rules keep) in order of
// score, boosted; items without a score go last, in the given order.
func (e *Engine) ordered(a *ask, score map[tailor.ItemID]float64) []cand {
	var cands []cand
	e.catMu.RLock()
	for _, id := range a.req.Items {
		m := e.catalog[id]
		if m == nil || !a.rules.keep(m) {
			continue
		}
		sc, ok := score[id]
		if !ok {
			sc = math.Inf(-1)
		}
		cands = append(cands, cand{id: id, score: float64(boosted(float32(sc), a.rules.factor(m, a.now)))})
	}
	e.catMu.RUnlock()
	byScore(cands)
	for i := range cands {
		if math.IsInf(cands[i].score, -1) {
			cands[i].score = 0 // JSON has no infinities; they stay last
		}
	}
	return cands
}

// NewItemCosine is the least content similarity a new item (one the model
// does not know) needs with a shopper's items to enter their list.
const NewItemCosine = 0.3

// withNewItems gives new items a place in a shopper's list: the catalog
// items the model does not know, ranked by the cosine of their content
// vector with the mean of the shopper's items', take every fifth position
// from the third on when their cosine reaches NewItemCosine.
func (e *Engine) withNewItems(s *state, a *ask, cands []cand) []cand {
	if a.req.User == "" {
		return cands
	}
	cm, tb := e.contentModel()
	if cm == nil {
		return cands
	}
	profile := a.hist.contentProfile(cm, tb)
	if profile == nil {
		return cands
	}
	slots := max(1, len(cands)/5)
	// The closest new items the shopper has not had, computed once per
	// history, item vectors and state of the fresh items: enough for the
	// longest list.
	near := a.hist.nearest.Load()
	gen := s.freshGen.Load()
	if near == nil || near.texts != tb || near.state != s.build || near.gen != gen {
		e.catMu.RLock() // s.fresh follows the catalog under catMu
		near = &nearestNew{texts: tb, state: s.build, gen: gen}
		if len(s.fresh) > 0 {
			// Not the items the shopper had (histories are replaced,
			// never changed, so this holds for the history's life).
			had := make(map[tailor.ItemID]struct{}, len(a.hist.items))
			for k := range a.hist.items {
				had[a.hist.items[k].id] = struct{}{}
			}
			fresh := s.fresh
			if slices.ContainsFunc(fresh, func(id tailor.ItemID) bool { _, ok := had[id]; return ok }) {
				fresh = slices.DeleteFunc(slices.Clone(fresh), func(id tailor.ItemID) bool { _, ok := had[id]; return ok })
			}
			near.items = cm.NearestAmong(profile, fresh, 2*MaxN/5+8)
		}
		e.catMu.RUnlock()
		a.hist.nearest.Store(near)
	}
	var fresh []content.Scored
	e.catMu.RLock()
	for _, f := range near.items { // room for the rules to drop some
		if len(fresh) == slots || f.Score < NewItemCosine {
			break
		}
		c := e.catalog[f.Item]
		if c == nil || !a.rules.keep(c) || a.skip.has(f.Item) {
			continue
		}
		fresh = append(fresh, f)
	}
	e.catMu.RUnlock()
	for k, f := range fresh {
		at := 2 + 5*k
		if at > len(cands) {
			break
		}
		score := cands[min(at, len(cands)-1)].score
		cands = slices.Insert(cands, at, cand{id: f.Item, score: score, reason: "new, and like items you had"})
	}
	return cands
}

// askShop asks a shop model under the request's rules, with the history
// or cart in the shop's indices.
func (e *Engine) askShop(sh *shop, m model.Model, a *ask, q *model.Query) ([]topk.Entry, error) {
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	excluded, skip := a.skipped(nil, sh.items, sh.index)
	q.Exclude, q.Boost = a.keepFor(func(i int32) *meta { return sh.meta[i] }, excluded, skip)
	return m.Answer(q, a.entryBuffer(e, q.N)) // read by the caller, not kept
}

// cartIn returns the cart's items in the shop's indices.
func cartIn(sh *shop, cart []tailor.ItemID) []model.Interaction {
	var out []model.Interaction
	for _, id := range cart {
		if i, ok := sh.indexOf(id); ok {
			out = append(out, model.Interaction{Item: i, Type: tailor.AddToCart, Weight: 1})
		}
	}
	return out
}

// fromSessions answers an anonymous session from past sessions like it
// (V-SKNN); nil when no past session shares an item with it.
func (e *Engine) fromSessions(a *ask) (*answer, error) {
	if a.state != nil && model.LearnsOrder(a.state.model) {
		return nil, nil // a sequence model answers sessions itself
	}
	sh := e.shop.Load()
	if sh == nil || sh.sessions == nil {
		return nil, nil
	}
	history := cartIn(sh, a.req.Session)
	if len(history) == 0 {
		return nil, nil
	}
	q := model.Query{Task: model.TaskSession, User: -1, History: history, N: a.pool()}
	entries, err := e.askShop(sh, sh.sessions, a, &q)
	if err != nil {
		return nil, err
	}
	var cands []cand
	for _, en := range entries {
		if en.Score <= 0 {
			break // the popular items filling the list: not from sessions like this
		}
		cands = append(cands, cand{id: sh.items[en.Index], score: float64(en.Score), reason: "bought in sessions like this"})
	}
	if len(cands) == 0 {
		return nil, nil
	}
	return &answer{cands: cands, model: sessionModel, rankedBy: sessionModel}, nil
}

// fromBaskets answers with the items bought with the cart's (or the
// item's) in significantly many orders; nil when no rule applies.
func (e *Engine) fromBaskets(a *ask) (*answer, error) {
	sh := e.shop.Load()
	if sh == nil || sh.baskets == nil {
		return nil, nil
	}
	history := cartIn(sh, a.cart)
	if len(history) == 0 {
		return nil, nil
	}
	q := model.Query{Task: model.TaskBasket, User: -1, History: history, N: a.pool()}
	entries, err := e.askShop(sh, sh.baskets, a, &q)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	ex, _ := sh.baskets.(model.Explainer)
	cands := a.candidates(e, len(entries), 0)
	for k, en := range entries {
		cands[k] = cand{id: sh.items[en.Index], score: float64(en.Score), reason: "often bought together", ix: en.Index, lazy: ex != nil}
	}
	ans := &answer{cands: cands, model: basketModel, rankedBy: basketModel}
	if ex != nil {
		items := make([]int32, len(history))
		for k := range history {
			items[k] = history[k].Item
		}
		ans.explain = func(c *cand) {
			if j, ok := ex.Because(items, c.ix); ok {
				c.reason = e.because("often bought with ", sh.items[j], func(s *said) *atomic.Pointer[string] { return &s.boughtWith })
			}
		}
	}
	return ans, nil
}

// fromRepurchase answers with the shopper's past purchases to buy again,
// with their due dates; nil when they bought nothing the model knows.
func (e *Engine) fromRepurchase(a *ask) (*answer, error) {
	sh := e.shop.Load()
	if sh == nil || sh.repurchase == nil {
		return &answer{cands: []cand{}, model: repurchaseModel, rankedBy: repurchaseModel}, nil
	}
	// The query's history, the shopper's purchases in the shop models'
	// indices, is made only when the model is asked or a due date is not
	// memoized yet: a cached ranking answers without it.
	q := model.Query{Task: model.TaskRepurchase, User: -1, N: a.pool()}
	query := func() *model.Query {
		if a.bought == nil {
			a.bought = e.convs.Get().(*converted) // back to the pool when the answer is done (release)
			a.hist.purchasesIn(a.bought, sh.indexOf)
			q.History = a.bought.bought
		}
		return &q
	}
	// A ranking under this build was made from this history (histories
	// are replaced, never changed), which had purchases the models know.
	if r := a.hist.rebuy.Load(); r == nil || r.of != sh.build {
		if len(query().History) == 0 {
			return &answer{cands: []cand{}, model: repurchaseModel, rankedBy: repurchaseModel}, nil
		}
	}
	entries, r, err := e.repurchaseRanked(sh, a, query)
	if err == nil && entries == nil {
		entries, err = e.askShop(sh, sh.repurchase, a, query())
	}
	if err != nil {
		return nil, err
	}
	dd, _ := sh.repurchase.(model.DueDater)
	cands := a.candidates(e, len(entries), 0)
	for k, en := range entries {
		cands[k] = cand{id: sh.items[en.Index], score: float64(en.Score), reason: "you bought it before", ix: en.Index, lazy: dd != nil}
	}
	ans := &answer{cands: cands, model: repurchaseModel, rankedBy: repurchaseModel}
	if dd != nil {
		// Due dates for the items that make the list only, memoized with
		// a cached ranking; the query's history is a.bought, held until
		// the answer is done.
		due := func(ix int32) *dueMemo {
			d, ok := dd.Due(query(), ix)
			if !ok {
				return &dueMemo{}
			}
			m := &dueMemo{due: &DueDate{Times: d.Times, LastBought: time.Unix(0, d.Last).UTC(), IntervalDays: d.IntervalDays, Ratio: d.Ratio,
				ExpectedNext: time.Unix(0, d.Next).UTC()}}
			times := "once"
			if d.Times > 1 {
				times = fmt.Sprintf("on %d days", d.Times)
			}
			m.reason = fmt.Sprintf("you bought it %s; due %s", times, m.due.ExpectedNext.Format(time.DateOnly))
			return m
		}
		ans.explain = func(cd *cand) {
			var m *dueMemo
			if r != nil { // a cached ranking keeps them (responses share them: never changed)
				m = r.due(cd.ix, due)
			} else {
				m = due(cd.ix)
			}
			if m.due != nil {
				cd.due, cd.reason = m.due, m.reason
			}
		}
	}
	return ans, nil
}

// fromContent answers a similar-items list by the items closest in
// content; nil when the item has no vector (yet: a new item has one once
// the texts are rebuilt, within TextEvery).
func (e *Engine) fromContent(a *ask) (*answer, error) {
	cm, _ := e.contentModel()
	if cm == nil || cm.Vector(a.item) == nil {
		return nil, nil
	}
	reason := "similar in description to " + e.title(a.item)
	var cands []cand
	e.catMu.RLock()
	for _, s := range cm.Nearest(cm.Vector(a.item), a.pool()*4+50, func(id tailor.ItemID) bool {
		c := e.catalog[id]
		return id != a.item && c != nil && a.rules.keep(c)
	}) {
		cands = append(cands, cand{id: s.Item, score: float64(boosted(float32(s.Score), a.rules.factor(e.catalog[s.Item], a.now))), reason: reason})
	}
	e.catMu.RUnlock()
	if len(cands) == 0 {
		return nil, nil
	}
	byScore(cands)
	return &answer{cands: cands, fallback: "content", rankedBy: "content"}, nil
}

// fromTrending answers with trending items under the rules: in a similar
// item's categories, without the history's excluded items. It always
// answers (an empty list when nothing passes).
func (e *Engine) fromTrending(a *ask) (*answer, error) {
	rules := &a.rules
	skip := &a.skip
	if a.list == ListSimilar && len(rules.Categories) == 0 && a.itemMeta != nil && len(a.itemMeta.categories) > 0 {
		r := a.rules
		r.Categories = a.itemMeta.categories
		rules = &r
	}
	if a.hist != nil {
		for k, it := range a.hist.items {
			if it.excluded && a.rules.ExcludeTypes == nil || a.rules.ExcludeTypes != nil && a.hist.excludedBy(k, *a.rules.ExcludeTypes) {
				if skip == &a.skip {
					c := a.skip.clone()
					skip = &c
				}
				skip.add(it.id)
			}
		}
	}
	if a.list == ListRerank {
		score := map[tailor.ItemID]float64{}
		if t := e.trend.Load(); t != nil {
			for _, it := range t.items {
				if slices.Contains(a.req.Items, it.id) {
					score[it.id] = it.score
				}
			}
		}
		return &answer{cands: e.ordered(a, score), fallback: "trending", rankedBy: "trending"}, nil
	}
	return &answer{cands: e.trendingCands(rules, skip, a.pool(), a.now, a.candidates(e, 0, a.pool())), fallback: "trending", rankedBy: "trending"}, nil
}

// trendingCands picks trending items that pass the rules, appended to
// cands (empty; not nil).
func (e *Engine) trendingCands(rules *Rules, skip *idSet, pool int, now time.Time, cands []cand) []cand {
	t := e.trend.Load()
	if t == nil {
		return cands
	}
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	boost := len(rules.Boosts) > 0 || rules.FreshDays > 0
	for _, it := range t.items {
		if !boost && len(cands) >= pool {
			break
		}
		m := e.catalog[it.id]
		if skip.has(it.id) || m == nil || !rules.keep(m) {
			continue
		}
		reason := "trending"
		if len(rules.Categories) > 0 {
			reason = "trending in " + firstShared(m.categories, rules.Categories)
		}
		cands = append(cands, cand{id: it.id, score: float64(boosted(float32(it.score), rules.factor(m, now))), reason: reason})
	}
	if boost {
		slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
		cands = cands[:min(len(cands), pool)]
	}
	return cands
}

func firstShared(a, b []string) string {
	for _, x := range a {
		if slices.Contains(b, x) {
			return x
		}
	}
	return b[0]
}

// fromSearch answers a search from the text index, re-ranked for a
// shopper whose history the active model knows.
func (e *Engine) fromSearch(a *ask) (*answer, error) {
	t := e.texts.Load()
	if t == nil {
		return &answer{cands: []cand{}, fallback: "text", rankedBy: "search"}, nil
	}
	hits, err := t.search(a.ctx, a.query, max(100, a.want), func(id tailor.ItemID) bool {
		m := e.item(id)
		return m != nil && a.rules.keep(m)
	})
	if err != nil {
		// Answered by the words alone; the embedder's failure is counted.
		e.met.embedFailures.Inc()
	}
	reason := fmt.Sprintf("matches %q", strings.TrimSpace(a.query))
	ans := &answer{fallback: "text", rankedBy: "search"}
	var suits []bool
	if s := a.state; s != nil && a.hist != nil && len(hits) > 0 {
		c := a.converted(e, s)
		if len(c.history) > 0 {
			scores, err := e.scoreHits(s, c, hits)
			if err != nil {
				return nil, err
			}
			suits = search.Personalize(hits, func(k int) (float64, bool) {
				sc, ok := scores[hits[k].Item]
				return sc, ok
			}, Personalization)
			ans.fallback, ans.rankedBy, ans.version, ans.model = "", "", s.version.ID, s.version.Model
		}
	}
	ans.cands = make([]cand, len(hits))
	for k, h := range hits {
		ans.cands[k] = cand{id: h.Item, score: h.Score, reason: reason}
		if suits != nil && suits[k] {
			ans.cands[k].reason = reason + ", and suits you"
		}
	}
	return ans, nil
}

// scoreHits returns the model's scores of the hits it knows for the
// history.
func (e *Engine) scoreHits(s *state, c *converted, hits []search.Hit) (map[tailor.ItemID]float64, error) {
	var cands []int32
	for _, h := range hits {
		if i, ok := s.index[h.Item]; ok {
			cands = append(cands, i)
		}
	}
	out := map[tailor.ItemID]float64{}
	if len(cands) == 0 {
		return out, nil
	}
	q := model.Query{Task: model.TaskPersonal, User: -1, History: c.history, N: len(cands), Candidates: protocolSorted(cands)}
	entries, err := s.model.Answer(&q, nil)
	if err != nil {
		return nil, err
	}
	for _, en := range entries {
		out[s.ids[en.Index]] = float64(en.Score)
	}
	return out, nil
}

// idSet is a request's skipped items: a few (a cart's, an item's, at
// most fewIDs) as a list searched in place, more as a map. The zero value
// is empty.
type idSet struct {
	few  []tailor.ItemID
	many map[tailor.ItemID]bool
}

// fewIDs is the most items an idSet holds as a list.
const fewIDs = 16

// has reports whether id is in the set.
func (s *idSet) has(id tailor.ItemID) bool {
	if s.many != nil {
		return s.many[id]
	}
	return slices.Contains(s.few, id)
}

// size returns how many items the set holds (a list's duplicates count
// once each time they are listed).
func (s *idSet) size() int {
	if s.many != nil {
		return len(s.many)
	}
	return len(s.few)
}

// add puts id in the set.
func (s *idSet) add(id tailor.ItemID) {
	if s.many == nil {
		if len(s.few) < fewIDs {
			s.few = append(s.few, id)
			return
		}
		s.many = make(map[tailor.ItemID]bool, 2*fewIDs)
		for _, x := range s.few {
			s.many[x] = true
		}
		s.few = nil
	}
	s.many[id] = true
}

// idsOf returns the set of ids; a short ids is used in place (it must not
// change while the set is in use).
func idsOf(ids []tailor.ItemID) idSet {
	if len(ids) <= fewIDs {
		return idSet{few: slices.Clip(ids)}
	}
	var s idSet
	for _, id := range ids {
		s.add(id)
	}
	return s
}

// clone returns a copy that add does not share with s.
func (s *idSet) clone() idSet {
	if s.many != nil {
		return idSet{many: maps.Clone(s.many)}
	}
	return idSet{few: slices.Clip(s.few)}
}
