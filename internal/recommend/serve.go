package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/llm/explain"
	"github.com/tailorhq/tailor/internal/llm/rerank"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/store"
)

// Request is one ask for a list.
type Request struct {
	// User is the shopper (Recommend, Rerank, BuyAgain, Search); unknown
	// shoppers get the cold-start answer.
	User tailor.UserID
	// Session lists an anonymous session's items, oldest first
	// (Recommend without a user).
	Session []tailor.ItemID
	// Items are the candidates Rerank orders, or the cart CompleteCart
	// adds to.
	Items []tailor.ItemID
	// N is the number of items wanted (1 to MaxN) after skipping Offset.
	N, Offset int
	// Scenario names stored rules; Rules (the request's own) apply over
	// them.
	Scenario string
	Rules    Rules
	// Details adds each item's catalog record.
	Details bool
	// Sentences has the configured chat model turn each item's reason
	// into a sentence for the shopper (Item.Explanation); without one, or
	// on its error, the reasons alone are given.
	Sentences bool
}

// Response is a list of recommended items.
type Response struct {
	// RecommendationID identifies this answer; events that carry it are
	// attributed to it (and to its model version and scenario).
	RecommendationID string `json:"recommendation_id"`
	// ModelVersion is the version that ranked the items ("" when none
	// did), and Model its kind (or the shop model that ranked them).
	ModelVersion string `json:"model_version"`
	Model        string `json:"model,omitempty"`
	Scenario     string `json:"scenario,omitempty"`
	// Fallback says why the list is not personal: "trending" for a
	// shopper or item the model knows nothing about, "content" for an
	// item ranked by its text, "text" for a search ranked by its text
	// match alone.
	Fallback string `json:"fallback,omitempty"`
	Items    []Item `json:"items"`

	segment  string // the shopper's segment, for attribution
	rankedBy string // the version, or what else ranked the list, for attribution and impressions
	// pool, when not nil, is the engine's pool the response came from
	// and goes back to on Release; released is set while it is there.
	pool     *sync.Pool
	released bool
}

// maxPooledItems is the longest list whose response Release keeps for
// reuse.
const maxPooledItems = 256

// Release gives the response back to the engine that made it, to answer
// a later request with: the caller (the HTTP server, once the response is
// written) must not use it, or anything it holds, afterwards. Responses
// not made by an engine's list are left alone, and a second Release of
// one response does nothing.
func (r *Response) Release() {
	if r == nil || r.pool == nil || r.released {
		return
	}
	items, pool := r.Items, r.pool
	if cap(items) > maxPooledItems {
		items = nil
	}
	clear(items[:cap(items)]) // no strings or details kept alive by the pool
	*r = Response{Items: items[:0], pool: pool, released: true}
	pool.Put(r)
}

// Item is one recommended item.
type Item struct {
	ItemID tailor.ItemID `json:"item_id"`
	Score  float64       `json:"score"`
	Reason string        `json:"reason,omitempty"`
	// Due says when a past purchase is due again (buy it again only).
	Due     *DueDate     `json:"due,omitempty"`
	Details *tailor.Item `json:"details,omitempty"`
	// Explanation is the reason as a sentence by the chat model, when
	// asked for (Request.Sentences) and given.
	Explanation string `json:"explanation,omitempty"`
}

// DueDate is when a shopper is expected to buy an item again.
type DueDate struct {
	// Times is the number of days they bought it, LastBought the last.
	Times      int       `json:"times"`
	LastBought time.Time `json:"last_bought"`
	// IntervalDays is their repurchase interval (their own, the item's
	// usual one, or the shop's), Ratio the time since the last purchase
	// over it, ExpectedNext when it is due.
	IntervalDays float64   `json:"interval_days"`
	Ratio        float64   `json:"ratio"`
	ExpectedNext time.Time `json:"expected_next"`
}

// cand is an item on its way into a response.
type cand struct {
	id     tailor.ItemID
	score  float64
	reason string
	due    *DueDate
	// ix is the item's index in the model that ranked it, for a reason
	// computed late (lazy): only the items that make the final list are
	// explained, since rules such as max_per_category pool many more.
	ix   int32
	lazy bool
}

// resolve checks the paging and builds the effective rules, from the
// scenario cache.
func (e *Engine) resolve(ctx context.Context, req *Request) (Rules, error) {
	if req.N < 1 || req.N > MaxN {
		return Rules{}, &FieldError{Field: "n", Reason: fmt.Sprintf("%d must be from 1 to %d", req.N, MaxN)}
	}
	if req.Offset < 0 || req.Offset > MaxOffset {
		return Rules{}, &FieldError{Field: "offset", Reason: fmt.Sprintf("%d must be from 0 to %d", req.Offset, MaxOffset)}
	}
	rules := req.Rules
	if req.Scenario != "" {
		base, ok := e.scenario(req.Scenario)
		if !ok {
			return Rules{}, &FieldError{Field: "scenario", Reason: fmt.Sprintf("there is no scenario named %q", req.Scenario)}
		}
		if rt := base.Route; rt != nil && req.User != "" {
			attrs, err := e.userAttributes(ctx, req.User)
			if err != nil {
				return Rules{}, err
			}
			if v, ok := attrs[rt.Attribute]; ok {
				if target, ok := rt.Scenarios[fmt.Sprint(v)]; ok {
					routed, ok := e.scenario(target)
					if !ok {
						return Rules{}, fmt.Errorf("scenario %s routes %s=%v to scenario %s: %w", req.Scenario, rt.Attribute, v, target, store.ErrNotFound)
					}
					base = routed
					base.Route = nil // one hop
					req.Scenario = target
				}
			}
		}
		rules = base.Merge(req.Rules)
	}
	if err := rules.Validate(); err != nil {
		return Rules{}, err
	}
	for i, p := range rules.Pins {
		if e.item(p.Item) == nil {
			return Rules{}, &FieldError{Field: fmt.Sprintf("pins[%d].item", i), Reason: fmt.Sprintf("item %q does not exist", p.Item)}
		}
	}
	return rules, nil
}

// answer runs a list's sources in their order (see precedence) and
// finishes the first answer that has items to say, or the last one.
func (e *Engine) answer(a *ask) (*Response, error) {
	defer a.release(e)
	var got *answer
	for _, src := range precedence[a.list] {
		ans, err := src.answer(e, a)
		if err != nil {
			return nil, err
		}
		if ans != nil {
			got = ans
			got.source = src.name
			break
		}
	}
	if got == nil { // no source had anything to say: attributed to "none"
		got = &answer{cands: []cand{}, source: "none", rankedBy: "none"}
	}
	e.met.answeredBy(a.list, got.source).Inc()
	resp := e.resps.Get().(*Response)
	resp.ModelVersion, resp.Model, resp.Scenario, resp.Fallback, resp.rankedBy = got.version, got.model, a.req.Scenario, got.fallback, got.rankedBy
	resp.released = false
	return e.finish(a.ctx, resp, got.cands, &a.rules, &a.req, got.explain, a.hist)
}

// finish diversifies, pins, has the chat model order (LLMRerank), pages and
// describes the candidates. explain, when not nil, describes a lazy
// candidate: its reason (and due date), from its model index; hist is the
// shopper's history (nil: none).
func (e *Engine) finish(ctx context.Context, resp *Response, cands []cand, rules *Rules, req *Request, explain func(c *cand), hist *history) (*Response, error) {
	want := req.Offset + req.N
	cands = e.diversify(cands, rules, want)
	if len(rules.Pins) > 0 {
		pinned := map[tailor.ItemID]bool{}
		for _, p := range rules.Pins {
			pinned[p.Item] = true
		}
		cands = slices.DeleteFunc(cands, func(c cand) bool { return pinned[c.id] })
		pins := slices.Clone(rules.Pins)
		slices.SortFunc(pins, func(a, b Pin) int { return a.Position - b.Position })
		for _, p := range pins {
			at := min(p.Position-1, len(cands))
			score := 0.0
			if at < len(cands) {
				score = cands[at].score
			}
			cands = slices.Insert(cands, at, cand{id: p.Item, score: score, reason: "pinned"})
		}
	}
	if len(cands) > want {
		cands = cands[:want]
	}
	if rules.LLMRerank && e.opts.LLMRanker != nil && req.Offset == 0 && len(cands) > 1 {
		cands = e.llmOrder(ctx, cands, hist)
	}
	if req.Offset >= len(cands) {
		cands = nil
	} else {
		cands = cands[req.Offset:]
	}
	if req.User != "" {
		resp.segment = e.segmentOf(ctx, req.User)
	}
	if resp.rankedBy == "" {
		resp.rankedBy = resp.ModelVersion
	}
	resp.RecommendationID = newID(resp.rankedBy, resp.Scenario, resp.segment)
	if cap(resp.Items) < len(cands) || resp.Items == nil {
		resp.Items = make([]Item, len(cands), max(len(cands), 10))
	}
	resp.Items = resp.Items[:len(cands)]
	defer e.count(resp)
	for i := range cands {
		c := &cands[i]
		if c.lazy && explain != nil {
			explain(c)
		}
		resp.Items[i] = Item{ItemID: c.id, Score: c.score, Reason: c.reason, Due: c.due}
		if req.Details {
			it, err := e.src.Item(ctx, c.id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			if err == nil {
				resp.Items[i].Details = &it
			}
		}
	}
	if req.Sentences && e.opts.Sentencer != nil && len(resp.Items) > 0 {
		e.sentences(ctx, resp)
	}
	return resp, nil
}

// Sentencer turns reasons into sentences with a language model (package
// llm/explain).
type Sentencer interface {
	Sentences(ctx context.Context, items []explain.Evidence) (map[tailor.ItemID]string, error)
}

// sentences asks the chat model for the items' sentences; on its error
// the reasons stand alone (counted in /metrics).
func (e *Engine) sentences(ctx context.Context, resp *Response) {
	ev := make([]explain.Evidence, len(resp.Items))
	for i, it := range resp.Items {
		ev[i] = explain.Evidence{ID: it.ItemID, Title: e.title(it.ItemID), Reason: it.Reason}
	}
	got, err := e.opts.Sentencer.Sentences(ctx, ev)
	if err != nil {
		e.met.llmSentences.WithLabelValues("kept").Inc()
		e.log.Debug("the chat model's sentences were not used", "err", err)
		return
	}
	e.met.llmSentences.WithLabelValues("written").Inc()
	for i := range resp.Items {
		resp.Items[i].Explanation = got[resp.Items[i].ItemID]
	}
}

// diversify applies max_per_category and MMR; it works in cands's array
// (the request's own).
func (e *Engine) diversify(cands []cand, rules *Rules, want int) []cand {
	if rules.MaxPerCategory == 0 && rules.MMRLambda == 0 {
		return cands
	}
	if rules.MaxPerCategory > 0 {
		// Alone, as many as the list and its pins can take (a pinned item
		// is taken out of the list before it is pinned); before MMR, all
		// it keeps, for MMR to choose from.
		keep := len(cands)
		if rules.MMRLambda == 0 {
			keep = want + len(rules.Pins)
		}
		cands = e.perCategory(cands, rules.MaxPerCategory, keep)
		if rules.MMRLambda == 0 {
			return cands
		}
	}
	cats := make([][]string, len(cands))
	e.catMu.RLock()
	for i, c := range cands {
		if m := e.catalog[c.id]; m != nil {
			cats[i] = m.categories
		}
	}
	e.catMu.RUnlock()
	if len(cands) > 1 { // MMR
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, c := range cands {
			lo, hi = math.Min(lo, c.score), math.Max(hi, c.score)
		}
		rel := func(c cand) float64 {
			if hi == lo {
				return 1
			}
			return (c.score - lo) / (hi - lo)
		}
		l := rules.MMRLambda
		used := make([]bool, len(cands))
		var out []cand
		var chosen []int
		for len(out) < min(want, len(cands)) {
			best, bv := -1, math.Inf(-1)
			for i, c := range cands {
				if used[i] {
					continue
				}
				var sim float64
				for _, j := range chosen {
					sim = math.Max(sim, jaccard(cats[i], cats[j]))
				}
				if v := l*rel(c) - (1-l)*sim; v > bv {
					best, bv = i, v
				}
			}
			used[best] = true
			chosen = append(chosen, best)
			out = append(out, cands[best])
		}
		cands = out
	}
	return cands
}

// perCategory returns the first candidates, in order and at most keep of
// them, with at most limit of each (first) category; items without a
// category are not limited. It keeps them in cands's array.
func (e *Engine) perCategory(cands []cand, limit, keep int) []cand {
	type seen struct {
		cat string
		n   int
	}
	var counts []seen // a few categories: a slice beats a map
	out := cands[:0]  // in place: an item is kept at or before where it was
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	for _, c := range cands {
		if len(out) == keep {
			break
		}
		if m := e.catalog[c.id]; m != nil && len(m.categories) > 0 {
			key := m.categories[0]
			k := slices.IndexFunc(counts, func(s seen) bool { return s.cat == key })
			if k < 0 {
				counts = append(counts, seen{cat: key})
				k = len(counts) - 1
			}
			if counts[k].n >= limit {
				continue
			}
			counts[k].n++
		}
		out = append(out, c)
	}
	return out
}

func jaccard(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	inter := 0
	for _, x := range a {
		if slices.Contains(b, x) {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// title names an item for a reason: its title, or its id.
func (e *Engine) title(id tailor.ItemID) string {
	if m := e.item(id); m != nil && m.title != "" {
		return m.title
	}
	return string(id)
}

// newAsk resolves a request into an ask for a list.
func (e *Engine) newAsk(ctx context.Context, list List, req *Request) (*ask, error) {
	rules, err := e.resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	a := e.asks.Get().(*ask) // given back by release when answered
	*a = ask{ctx: ctx, list: list, req: *req, rules: rules, want: req.Offset + req.N, now: e.opts.Now()}
	a.state = e.stateFor(ctx, &a.rules, req.Scenario, req.User)
	return a, nil
}

// withHistory reads the shopper's history (or makes the session's) and
// the items they must not get again beyond the bought and returned: the
// session's own, and those seen within the rules' window.
func (e *Engine) withHistory(a *ask) error {
	req := &a.req
	if req.User != "" {
		h, err := e.history(a.ctx, req.User)
		if err != nil {
			return err
		}
		a.hist = h
	} else {
		a.hist = e.sessionHistory(req.Session)
	}
	if req.User != "" && a.rules.ExcludeSeen == nil {
		return nil
	}
	for k, it := range a.hist.items {
		if req.User == "" ||
			a.hist.seen(k, a.rules.ExcludeSeen.Types, a.now.Add(-time.Duration(a.rules.ExcludeSeen.Within))) {
			a.skip.add(it.id)
		}
	}
	return nil
}

// Recommend answers for a shopper (req.User) or an anonymous session
// (req.Session): see the precedence table for the sources of each.
func (e *Engine) Recommend(ctx context.Context, req Request) (*Response, error) {
	list := ListPersonal
	if req.User == "" {
		list = ListSession
		for i, id := range req.Session {
			if e.item(id) == nil {
				return nil, fmt.Errorf("session item %d: item %q: %w", i, id, store.ErrNotFound)
			}
		}
	}
	a, err := e.newAsk(ctx, list, &req)
	if err != nil {
		return nil, err
	}
	if err := e.withHistory(a); err != nil {
		return nil, err
	}
	return e.answer(a)
}

// Similar answers with the items most like item: the model's item
// similarity, the items closest by content, or trending items of the
// item's categories.
func (e *Engine) Similar(ctx context.Context, item tailor.ItemID, req Request) (*Response, error) {
	m := e.item(item)
	if m == nil {
		return nil, fmt.Errorf("item %q: %w", item, store.ErrNotFound)
	}
	a, err := e.newAsk(ctx, ListSimilar, &req)
	if err != nil {
		return nil, err
	}
	a.item, a.itemMeta = item, m
	a.skip = idsOf([]tailor.ItemID{item})
	return e.answer(a)
}

// Trending answers with the trending items that pass the rules (a
// category filter makes it "trending in the category").
func (e *Engine) Trending(ctx context.Context, req Request) (*Response, error) {
	a, err := e.newAsk(ctx, ListTrending, &req)
	if err != nil {
		return nil, err
	}
	return e.answer(a)
}

// BoughtTogether answers with the items bought with item in significantly
// many orders.
func (e *Engine) BoughtTogether(ctx context.Context, item tailor.ItemID, req Request) (*Response, error) {
	if e.item(item) == nil {
		return nil, fmt.Errorf("item %q: %w", item, store.ErrNotFound)
	}
	req.Items = []tailor.ItemID{item}
	a, err := e.newAsk(ctx, ListBoughtTogether, &req)
	if err != nil {
		return nil, err
	}
	a.cart = req.Items
	return e.answer(a)
}

// MaxCart is the most items a cart may hold.
const MaxCart = 500

// CompleteCart answers with additions to the cart in req.Items.
func (e *Engine) CompleteCart(ctx context.Context, req Request) (*Response, error) {
	if len(req.Items) == 0 || len(req.Items) > MaxCart {
		return nil, &FieldError{Field: "items", Reason: fmt.Sprintf("%d items in the cart; send 1 to %d", len(req.Items), MaxCart)}
	}
	for i, id := range req.Items {
		if e.item(id) == nil {
			return nil, fmt.Errorf("items[%d]: item %q: %w", i, id, store.ErrNotFound)
		}
	}
	a, err := e.newAsk(ctx, ListCart, &req)
	if err != nil {
		return nil, err
	}
	a.cart = req.Items
	a.skip = idsOf(a.req.Items)
	if req.User != "" {
		if a.hist, err = e.history(ctx, req.User); err != nil {
			return nil, err
		}
	}
	return e.answer(a)
}

// BuyAgain answers with the shopper's past purchases to buy again, with
// their due dates.
func (e *Engine) BuyAgain(ctx context.Context, req Request) (*Response, error) {
	if req.User == "" {
		return nil, &FieldError{Field: "user", Reason: "is required"}
	}
	a, err := e.newAsk(ctx, ListBuyAgain, &req)
	if err != nil {
		return nil, err
	}
	if err := e.withHistory(a); err != nil {
		return nil, err
	}
	return e.answer(a)
}

// Search finds catalog items for the query under the rules and, for a
// shopper with a history the active model knows, re-ranks the 100 best
// text matches (see search.Personalize, with weight Personalization).
func (e *Engine) Search(ctx context.Context, query string, req Request) (*Response, error) {
	if len(query) > MaxQuery || !utf8.ValidString(query) {
		return nil, &FieldError{Field: "q", Reason: fmt.Sprintf("must be valid UTF-8 of at most %d bytes", MaxQuery)}
	}
	if len(search.Tokens(query)) == 0 {
		if len(query) == 0 {
			return nil, &FieldError{Field: "q", Reason: "is empty"}
		}
		return &Response{Items: []Item{}}, nil // only stop words: an empty, well-formed answer
	}
	a, err := e.newAsk(ctx, ListSearch, &req)
	if err != nil {
		return nil, err
	}
	a.query = query
	if req.User != "" {
		if a.hist, err = e.history(ctx, req.User); err != nil {
			return nil, err
		}
	}
	return e.answer(a)
}

// Rerank orders req.Items for the shopper: by the model's scores of their
// history (items the model does not know go last, in the given order), or
// by trending for a shopper it knows nothing about. The rules' filters
// drop items; N defaults to all of them.
func (e *Engine) Rerank(ctx context.Context, req Request) (*Response, error) {
	if len(req.Items) == 0 {
		return nil, &FieldError{Field: "items", Reason: "lists no items to order"}
	}
	if len(req.Items) > MaxRerank {
		return nil, &FieldError{Field: "items", Reason: fmt.Sprintf("lists %d items; at most %d can be ordered at once", len(req.Items), MaxRerank)}
	}
	for i, id := range req.Items {
		if e.item(id) == nil {
			return nil, fmt.Errorf("items[%d]: item %q: %w", i, id, store.ErrNotFound)
		}
	}
	if req.N == 0 {
		req.N = min(len(req.Items), MaxN)
	}
	a, err := e.newAsk(ctx, ListRerank, &req)
	if err != nil {
		return nil, err
	}
	if a.hist, err = e.history(ctx, req.User); err != nil {
		return nil, err
	}
	return e.answer(a)
}

// MaxRerank is the most items one rerank request may order.
const MaxRerank = 1000

// byScore sorts candidates best first, stably.
func byScore(cands []cand) {
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
}

// LLMRanker orders candidates with a language model (package
// llm/rerank): the shopper's items (strongest interest first) and the
// candidates in, their ids in the model's order out.
type LLMRanker interface {
	Order(ctx context.Context, recent, candidates []rerank.Product) ([]tailor.ItemID, error)
}

// llmOrder has the chat model order the candidates; on any error it keeps
// theirs (counted in /metrics). Pinned items keep their places.
func (e *Engine) llmOrder(ctx context.Context, cands []cand, hist *history) []cand {
	title := func(id tailor.ItemID) string {
		e.catMu.RLock()
		defer e.catMu.RUnlock()
		if m := e.catalog[id]; m != nil {
			return m.title
		}
		return ""
	}
	var recent []rerank.Product
	if hist != nil {
		for _, it := range hist.items[:min(10, len(hist.items))] {
			recent = append(recent, rerank.Product{ID: it.id, Title: title(it.id)})
		}
	}
	var free []rerank.Product
	for _, c := range cands {
		if c.reason != "pinned" {
			free = append(free, rerank.Product{ID: c.id, Title: title(c.id)})
		}
	}
	order, err := e.opts.LLMRanker.Order(ctx, recent, free)
	if err != nil {
		e.met.llmRerank.WithLabelValues("kept").Inc()
		e.log.Debug("the chat model's order was not used", "err", err)
		return cands
	}
	e.met.llmRerank.WithLabelValues("ordered").Inc()
	byID := make(map[tailor.ItemID]cand, len(cands))
	for _, c := range cands {
		byID[c.id] = c
	}
	out := make([]cand, 0, len(cands))
	k := 0
	for _, c := range cands {
		if c.reason == "pinned" {
			out = append(out, c)
			continue
		}
		out = append(out, byID[order[k]])
		k++
	}
	return out
}
