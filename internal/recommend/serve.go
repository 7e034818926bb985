package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/topk"
)

// Request is one ask for recommendations.
type Request struct {
	// User is the shopper (Recommend, Rerank); unknown shoppers get the
	// cold-start answer.
	User tailor.UserID
	// Session lists an anonymous session's items, oldest first
	// (Recommend without a user).
	Session []tailor.ItemID
	// Items are the candidates Rerank orders.
	Items []tailor.ItemID
	// N is the number of items wanted (1 to MaxN) after skipping Offset.
	N, Offset int
	// Scenario names stored rules; Rules (the request's own) apply over
	// them.
	Scenario string
	Rules    Rules
	// Details adds each item's catalog record.
	Details bool
}

// Response is a list of recommended items.
type Response struct {
	// RecommendationID identifies this answer; events that carry it are
	// attributed to it (and to its model version and scenario).
	RecommendationID string `json:"recommendation_id"`
	// ModelVersion is the version that ranked the items ("" when none
	// did), and Model its kind.
	ModelVersion string `json:"model_version"`
	Model        string `json:"model,omitempty"`
	Scenario     string `json:"scenario,omitempty"`
	// Fallback says why the list is not personal: "trending" for a
	// shopper or item the model knows nothing about, "text" for a search
	// ranked by its text match alone.
	Fallback string `json:"fallback,omitempty"`
	Items    []Item `json:"items"`

	segment  string // the shopper's segment, for attribution
	rankedBy string // the version, or what else ranked the list, for attribution and impressions
}

// Item is one recommended item.
type Item struct {
	ItemID  tailor.ItemID `json:"item_id"`
	Score   float64       `json:"score"`
	Reason  string        `json:"reason,omitempty"`
	Details *tailor.Item  `json:"details,omitempty"`
}

// cand is an item on its way into a response.
type cand struct {
	id     tailor.ItemID
	score  float64
	reason string
}

// resolve checks the paging and builds the effective rules.
func (e *Engine) resolve(ctx context.Context, req *Request) (Rules, error) {
	if req.N < 1 || req.N > MaxN {
		return Rules{}, &FieldError{Field: "n", Reason: fmt.Sprintf("%d must be from 1 to %d", req.N, MaxN)}
	}
	if req.Offset < 0 || req.Offset > MaxOffset {
		return Rules{}, &FieldError{Field: "offset", Reason: fmt.Sprintf("%d must be from 0 to %d", req.Offset, MaxOffset)}
	}
	rules := req.Rules
	if req.Scenario != "" {
		raw, err := e.src.Scenario(ctx, req.Scenario)
		if errors.Is(err, store.ErrNotFound) {
			return Rules{}, &FieldError{Field: "scenario", Reason: fmt.Sprintf("there is no scenario named %q", req.Scenario)}
		}
		if err != nil {
			return Rules{}, err
		}
		base, err := ParseRules(raw)
		if err != nil {
			return Rules{}, fmt.Errorf("scenario %s: %w", req.Scenario, err)
		}
		if rt := base.Route; rt != nil && req.User != "" {
			attrs, err := e.userAttributes(ctx, req.User)
			if err != nil {
				return Rules{}, err
			}
			if v, ok := attrs[rt.Attribute]; ok {
				if target, ok := rt.Scenarios[fmt.Sprint(v)]; ok {
					raw, err := e.src.Scenario(ctx, target)
					if err != nil {
						return Rules{}, fmt.Errorf("scenario %s routes %s=%v to scenario %s: %w", req.Scenario, rt.Attribute, v, target, err)
					}
					if base, err = ParseRules(raw); err != nil {
						return Rules{}, fmt.Errorf("scenario %s: %w", target, err)
					}
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

// Recommend answers for a shopper (req.User) or an anonymous session
// (req.Session): the active model scores the shopper's live history; with
// no model, or nothing in the history the model knows, trending items in
// the request's context answer instead.
func (e *Engine) Recommend(ctx context.Context, req Request) (*Response, error) {
	rules, err := e.resolve(ctx, &req)
	if err != nil {
		return nil, err
	}
	var h *history
	if req.User != "" {
		if h, err = e.history(ctx, req.User); err != nil {
			return nil, err
		}
	} else {
		for i, id := range req.Session {
			if e.item(id) == nil {
				return nil, fmt.Errorf("session item %d: item %q: %w", i, id, store.ErrNotFound)
			}
		}
		h = e.sessionHistory(req.Session)
	}
	now := e.opts.Now()
	// Items the shopper must not get again: bought or returned, the
	// session's own, and those seen within the rules' window.
	// (Bought and returned items are also in the history's conversion, for
	// the model path; skip repeats them for the trending path.)
	var skip map[tailor.ItemID]bool // beyond the bought and returned
	for _, it := range h.items {
		if req.User == "" ||
			(rules.ExcludeSeen != nil && it.seen(rules.ExcludeSeen.Types, now.Add(-time.Duration(rules.ExcludeSeen.Within)))) {
			if skip == nil {
				skip = map[tailor.ItemID]bool{}
			}
			skip[it.id] = true
		}
	}
	want := req.Offset + req.N
	s := e.stateFor(ctx, &rules, req.Scenario, req.User)
	resp := &Response{ModelVersion: versionID(s), Scenario: req.Scenario}
	var cands []cand
	if req.User == "" {
		// An anonymous session: past sessions like it (V-SKNN), when
		// there are any.
		if cands, err = e.sessionCands(ctx, req.Session, &rules, want, now); err != nil {
			return nil, err
		}
		if cands != nil {
			resp.Model, resp.ModelVersion = "vsknn", ""
		}
	}
	if s != nil && cands == nil {
		resp.Model = s.version.Model
		cands, err = e.personal(s, h, &rules, skip, want, now)
		if err != nil {
			return nil, err
		}
		if len(cands) > 0 && req.User != "" {
			cands = e.withNewItems(s, h, cands, &rules, skip)
		}
	}
	if cands == nil {
		resp.Fallback = "trending"
		for _, it := range h.items {
			if it.excluded {
				if skip == nil {
					skip = map[tailor.ItemID]bool{}
				}
				skip[it.id] = true
			}
		}
		cands = e.trendingCands(&rules, skip, want, now)
	}
	return e.finish(ctx, resp, cands, &rules, req)
}

func versionID(s *state) string {
	if s == nil {
		return ""
	}
	return s.version.ID
}

// personal scores the history with the model; nil when the model knows
// none of the history's items.
func (e *Engine) personal(s *state, h *history, rules *Rules, skip map[tailor.ItemID]bool, want int, now time.Time) ([]cand, error) {
	c := h.in(s)
	if len(c.idx) == 0 {
		return nil, nil
	}
	sp := s.scores.Get().(*[]float32)
	defer s.scores.Put(sp)
	scores := *sp
	if err := s.scorer.ScoreHistory(c.idx, c.weights, scores); err != nil {
		return nil, err
	}
	isSkipped := func(i int32) bool {
		if _, ok := slices.BinarySearch(c.excluded, i); ok {
			return true
		}
		return len(skip) > 0 && skip[s.ids[i]]
	}
	entries := e.selectScores(s, scores, rules, isSkipped, want, now)
	if len(entries) == 0 {
		return []cand{}, nil // the rules leave nothing; not a cold start
	}
	cands := make([]cand, len(entries))
	for k, en := range entries {
		cd := cand{id: s.ids[en.Index], score: float64(en.Score)}
		if s.explain != nil {
			if j, ok := s.explain.Because(c.idx, en.Index); ok {
				src := &h.items[c.pos[slices.Index(c.idx, j)]]
				cd.reason = "because you " + verb(src.strong) + " " + e.title(src.id)
			}
		}
		cands[k] = cd
	}
	return cands, nil
}

// selectScores picks the best items by score (boosted by the rules) that
// pass the rules and skip, with room for diversification.
func (e *Engine) selectScores(s *state, scores []float32, rules *Rules, skip func(int32) bool, want int, now time.Time) []topk.Entry {
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	if len(rules.Boosts) > 0 || rules.FreshDays > 0 {
		for i := range scores {
			if m := s.meta[i]; m != nil {
				scores[i] = boosted(scores[i], rules.factor(m, now))
			}
		}
	}
	pool := want
	if rules.MaxPerCategory > 0 || rules.MMRLambda > 0 {
		pool = want*4 + 20
	}
	return topk.Select(scores, pool, func(i int32) bool {
		if skip(i) {
			return true
		}
		m := s.meta[i]
		return m == nil || !rules.keep(m)
	})
}

// trendingCands picks trending items that pass the rules.
func (e *Engine) trendingCands(rules *Rules, skip map[tailor.ItemID]bool, want int, now time.Time) []cand {
	t := e.trend.Load()
	if t == nil {
		return []cand{}
	}
	pool := want
	if rules.MaxPerCategory > 0 || rules.MMRLambda > 0 {
		pool = want*4 + 20
	}
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	boost := len(rules.Boosts) > 0 || rules.FreshDays > 0
	cands := []cand{}
	for _, it := range t.items {
		if !boost && len(cands) >= pool {
			break
		}
		m := e.catalog[it.id]
		if skip[it.id] || m == nil || !rules.keep(m) {
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

// finish diversifies, pins, pages and describes the candidates.
func (e *Engine) finish(ctx context.Context, resp *Response, cands []cand, rules *Rules, req Request) (*Response, error) {
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
	if req.Offset >= len(cands) {
		cands = nil
	} else {
		cands = cands[req.Offset:]
	}
	// A list that the model did not rank is attributed to "trending".
	if resp.Fallback != "" {
		resp.ModelVersion = ""
	}
	if req.User != "" {
		resp.segment = e.segmentOf(ctx, req.User)
	}
	resp.rankedBy = resp.ModelVersion
	if resp.ModelVersion == "" {
		// What ranked the list when no model version did: the session
		// model (named by its kind), text search, or trending.
		switch {
		case resp.Fallback == "text":
			resp.rankedBy = "search"
		case resp.Fallback == "" && resp.Model != "":
			resp.rankedBy = resp.Model
		default:
			resp.rankedBy = "trending"
		}
	}
	resp.RecommendationID = newID(resp.rankedBy, resp.Scenario, resp.segment)
	resp.Items = make([]Item, len(cands))
	defer e.count(resp)
	for i, c := range cands {
		resp.Items[i] = Item{ItemID: c.id, Score: c.score, Reason: c.reason}
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
	return resp, nil
}

// diversify applies max_per_category and MMR.
func (e *Engine) diversify(cands []cand, rules *Rules, want int) []cand {
	if rules.MaxPerCategory == 0 && rules.MMRLambda == 0 {
		return cands
	}
	cats := make([][]string, len(cands))
	e.catMu.RLock()
	for i, c := range cands {
		if m := e.catalog[c.id]; m != nil {
			cats[i] = m.categories
		}
	}
	e.catMu.RUnlock()
	if rules.MaxPerCategory > 0 {
		count := map[string]int{}
		var out []cand
		var outCats [][]string
		for i, c := range cands {
			key := ""
			if len(cats[i]) > 0 {
				key = cats[i][0]
			}
			if key != "" && count[key] >= rules.MaxPerCategory {
				continue
			}
			count[key]++
			out, outCats = append(out, c), append(outCats, cats[i])
		}
		cands, cats = out, outCats
	}
	if rules.MMRLambda > 0 && len(cands) > 1 {
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

// Similar answers with the items most like item: the model's item
// similarity, or, when it has none for the item, trending items of the
// item's categories.
func (e *Engine) Similar(ctx context.Context, item tailor.ItemID, req Request) (*Response, error) {
	m := e.item(item)
	if m == nil {
		return nil, fmt.Errorf("item %q: %w", item, store.ErrNotFound)
	}
	rules, err := e.resolve(ctx, &req)
	if err != nil {
		return nil, err
	}
	want := req.Offset + req.N
	now := e.opts.Now()
	s := e.cur.Load()
	resp := &Response{ModelVersion: versionID(s), Scenario: req.Scenario}
	var cands []cand
	if s != nil {
		resp.Model = s.version.Model
		if i, ok := s.index[item]; ok && s.similar != nil {
			pool := want*4 + 50
			reason := "similar to " + e.title(item)
			e.catMu.RLock()
			for _, en := range s.similar.SimilarItems(i, pool, nil) {
				id := s.ids[en.Index]
				c := e.catalog[id]
				if id == item || c == nil || !rules.keep(c) {
					continue
				}
				cands = append(cands, cand{id: id, score: float64(boosted(en.Score, rules.factor(c, now))), reason: reason})
			}
			e.catMu.RUnlock()
			slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
		}
	}
	if len(cands) == 0 {
		// An item the model does not know (new, or without interactions):
		// its neighbours by content.
		if cm := e.contentFor(item); cm != nil && cm.Vector(item) != nil {
			resp.Fallback = "content"
			reason := "similar in description to " + e.title(item)
			e.catMu.RLock()
			for _, s := range cm.Nearest(cm.Vector(item), want*4+50, func(id tailor.ItemID) bool {
				c := e.catalog[id]
				return id != item && c != nil && rules.keep(c)
			}) {
				cands = append(cands, cand{id: s.Item, score: float64(boosted(float32(s.Score), rules.factor(e.catalog[s.Item], now))), reason: reason})
			}
			e.catMu.RUnlock()
		}
	}
	if len(cands) == 0 {
		resp.Fallback = "trending"
		r := rules
		if len(r.Categories) == 0 && len(m.categories) > 0 {
			r.Categories = m.categories
		}
		cands = e.trendingCands(&r, map[tailor.ItemID]bool{item: true}, want, now)
	}
	return e.finish(ctx, resp, cands, &rules, req)
}

// Trending answers with the trending items that pass the rules (a
// category filter makes it "trending in the category").
func (e *Engine) Trending(ctx context.Context, req Request) (*Response, error) {
	rules, err := e.resolve(ctx, &req)
	if err != nil {
		return nil, err
	}
	resp := &Response{Scenario: req.Scenario, Fallback: "trending"}
	cands := e.trendingCands(&rules, nil, req.Offset+req.N, e.opts.Now())
	return e.finish(ctx, resp, cands, &rules, req)
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
	rules, err := e.resolve(ctx, &req)
	if err != nil {
		return nil, err
	}
	h, err := e.history(ctx, req.User)
	if err != nil {
		return nil, err
	}
	now := e.opts.Now()
	s := e.stateFor(ctx, &rules, req.Scenario, req.User)
	resp := &Response{ModelVersion: versionID(s), Scenario: req.Scenario}
	score := map[tailor.ItemID]float64{}
	if s != nil {
		resp.Model = s.version.Model
		var idx []int32
		var w []float32
		for _, it := range h.items {
			if i, ok := s.index[it.id]; ok && it.weight > 0 {
				idx, w = append(idx, i), append(w, float32(it.weight))
			}
		}
		if len(idx) > 0 {
			sp := s.scores.Get().(*[]float32)
			if err := s.scorer.ScoreHistory(idx, w, *sp); err != nil {
				s.scores.Put(sp)
				return nil, err
			}
			for _, id := range req.Items {
				if i, ok := s.index[id]; ok {
					score[id] = float64((*sp)[i])
				}
			}
			s.scores.Put(sp)
		}
	}
	if len(score) == 0 {
		resp.Fallback = "trending"
		if t := e.trend.Load(); t != nil {
			for _, it := range t.items {
				if slices.Contains(req.Items, it.id) {
					score[it.id] = it.score
				}
			}
		}
	}
	var cands []cand
	e.catMu.RLock()
	for _, id := range req.Items {
		m := e.catalog[id]
		if m == nil || !rules.keep(m) {
			continue
		}
		sc, ok := score[id]
		if !ok {
			sc = math.Inf(-1)
		}
		cands = append(cands, cand{id: id, score: float64(boosted(float32(sc), rules.factor(m, now)))})
	}
	e.catMu.RUnlock()
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
	for i := range cands {
		if math.IsInf(cands[i].score, -1) {
			cands[i].score = 0 // JSON has no infinities; they stay last
		}
	}
	return e.finish(ctx, resp, cands, &rules, req)
}

// MaxRerank is the most items one rerank request may order.
const MaxRerank = 1000

// NewItemCosine is the least content similarity a new item (one the model
// does not know) needs with a shopper's items to enter their list.
const NewItemCosine = 0.3

// withNewItems gives new items a place in a shopper's list: the catalog
// items the model does not know, ranked by the cosine of their content
// vector with the mean of the shopper's items', take every fifth position
// from the third on when their cosine reaches NewItemCosine.
func (e *Engine) withNewItems(s *state, h *history, cands []cand, rules *Rules, skip map[tailor.ItemID]bool) []cand {
	e.catMu.RLock()
	candidates := slices.Clone(s.fresh)
	e.catMu.RUnlock()
	if len(candidates) == 0 {
		return cands // every catalog item is in the model
	}
	cm := e.contentModel()
	if cm == nil {
		return cands
	}
	profile := h.contentProfile(cm)
	if profile == nil {
		return cands
	}
	slots := max(1, len(cands)/5)
	var fresh []content.Scored
	e.catMu.RLock()
	for _, f := range cm.NearestAmong(profile, candidates, 4*slots+8) { // room for the rules to drop some
		if len(fresh) == slots || f.Score < NewItemCosine {
			break
		}
		c := e.catalog[f.Item]
		if c == nil || !rules.keep(c) || skip[f.Item] || slices.ContainsFunc(h.items, func(it histItem) bool { return it.id == f.Item }) {
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
