package recommend

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
	"github.com/tailorhq/tailor/internal/search"
)

// MaxQuery is the longest search query in bytes.
const MaxQuery = 200

// Personalization is the share of a search result's rank that comes from
// the shopper's model scores (the rest from the text match), when the
// shopper has a history the model knows.
const Personalization = 0.3

func (e *Engine) markSearchDirty() {
	e.searchMu.Lock()
	e.searchDirty = true
	e.searchMu.Unlock()
	e.textStale.Store(true)
}

// texts is the search index and the content vectors of one catalog.
type texts struct {
	index   *search.Index
	content *content.Model // nil for a catalog without words
	built   time.Time
}

// text returns the current search index and content vectors, rebuilding
// them when they are missing, or the catalog changed and they are five
// seconds old. The common path takes no lock.
func (e *Engine) text() *texts {
	if t := e.textIdx.Load(); t != nil && !(e.textStale.Load() && time.Since(t.built) > 5*time.Second) {
		return t
	}
	e.searchMu.Lock()
	defer e.searchMu.Unlock()
	if t := e.textIdx.Load(); t != nil && !(e.searchDirty && time.Since(t.built) > 5*time.Second) {
		return t
	}
	return e.rebuild()
}

// rebuild builds the search index and the content vectors from the
// catalog; the caller holds searchMu.
func (e *Engine) rebuild() *texts {
	e.catMu.RLock()
	items := make([]tailor.Item, 0, len(e.catalog))
	for _, m := range e.catalog {
		if m.available {
			items = append(items, tailor.Item{ID: m.id, Title: m.title, Description: m.desc, Categories: m.categories, Brand: m.brand})
		}
	}
	e.catMu.RUnlock()
	slices.SortFunc(items, func(a, b tailor.Item) int { return cmp.Compare(a.ID, b.ID) })
	t := &texts{index: search.Build(items), built: time.Now()}
	t.content, _ = content.Fit(items, content.Options{Seed: 1})
	e.textIdx.Store(t)
	e.searchDirty = false
	e.textStale.Store(false)
	return t
}

func (e *Engine) index() *search.Index { return e.text().index }

// contentModel returns the item vectors as last built.
func (e *Engine) contentModel() *content.Model { return e.text().content }

// contentFor returns the item vectors, rebuilt at once when the catalog
// changed since and item is not in them (a new item asks for its
// neighbours).
func (e *Engine) contentFor(item tailor.ItemID) *content.Model {
	t := e.text()
	if t.content != nil && t.content.Vector(item) != nil {
		return t.content
	}
	e.searchMu.Lock()
	defer e.searchMu.Unlock()
	if e.searchDirty {
		t = e.rebuild()
	}
	return t.content
}

// Search finds catalog items for the query under the rules and, for a
// shopper with a history the active model knows, re-ranks the 100 best
// text matches: (1 − Personalization) of the text score (scaled to the best
// match) plus Personalization of the model's score (scaled to [0, 1] over
// the matches).
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
	rules, err := e.resolve(ctx, &req)
	if err != nil {
		return nil, err
	}
	want := req.Offset + req.N
	hits := e.index().Search(query, max(100, want), func(id tailor.ItemID) bool {
		m := e.item(id)
		return m != nil && rules.keep(m)
	})
	resp := &Response{Scenario: req.Scenario}
	cands := make([]cand, len(hits))
	reason := fmt.Sprintf("matches %q", query)
	for i, h := range hits {
		cands[i] = cand{id: h.Item, score: h.Score, reason: reason}
	}
	if s := e.cur.Load(); s != nil && req.User != "" && len(hits) > 0 {
		h, err := e.history(ctx, req.User)
		if err != nil {
			return nil, err
		}
		if c := h.in(s); len(c.idx) > 0 {
			sp := s.scores.Get().(*[]float32)
			defer s.scores.Put(sp)
			if err := s.scorer.ScoreHistory(c.idx, c.weights, *sp); err != nil {
				return nil, err
			}
			personal := make([]float64, len(cands))
			lo, hi := math.Inf(1), math.Inf(-1)
			for i, cd := range cands {
				personal[i] = math.NaN()
				if j, ok := s.index[cd.id]; ok {
					personal[i] = float64((*sp)[j])
					lo, hi = math.Min(lo, personal[i]), math.Max(hi, personal[i])
				}
			}
			top := hits[0].Score
			for i := range cands {
				p := 0.0
				if !math.IsNaN(personal[i]) && hi > lo {
					p = (personal[i] - lo) / (hi - lo)
				}
				cands[i].score = (1-Personalization)*cands[i].score/top + Personalization*p
				if p > 0.5 {
					cands[i].reason = reason + ", and suits you"
				}
			}
			slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
			resp.ModelVersion, resp.Model = s.version.ID, s.version.Model
		}
	}
	if resp.ModelVersion == "" {
		resp.Fallback = "text"
	}
	return e.finish(ctx, resp, cands, &rules, req)
}
