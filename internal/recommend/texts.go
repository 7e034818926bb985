package recommend

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/semantic"
)

// MaxQuery is the longest search query in bytes.
const MaxQuery = 200

// Personalization is the share of a search result's rank that comes from
// the shopper's model scores (the rest from the text match), when the
// shopper has a history the model knows.
const Personalization = 0.3

// texts is the search index and the content vectors of one catalog; it
// never changes once published.
type texts struct {
	build   uint64 // see Engine.builds
	index   *search.Index
	content *content.Model // nil for a catalog without words
	// meaning searches by words and meaning (nil without word vectors).
	meaning *semantic.Index
	built   time.Time
}

// search finds the catalog items for a query: by words and meaning with
// an embedder, else by words. A query that cannot be embedded is answered
// by its words, and the error returned beside the hits.
func (t *texts) search(ctx context.Context, query string, n int, keep func(tailor.ItemID) bool) ([]search.Hit, error) {
	if t.meaning != nil {
		return t.meaning.Search(ctx, query, n, keep)
	}
	return t.index.Search(query, n, keep), nil
}

// rebuildTexts builds the search index and the content vectors from the
// catalog and publishes them.
func (e *Engine) rebuildTexts(ctx context.Context) error {
	e.catalogChanged.Store(false)
	e.catMu.RLock()
	items := make([]tailor.Item, 0, len(e.catalog))
	for _, m := range e.catalog {
		if m.available {
			items = append(items, tailor.Item{ID: m.id, Title: m.title, Description: m.desc, Categories: m.categories, Brand: m.brand})
		}
	}
	e.catMu.RUnlock()
	slices.SortFunc(items, func(a, b tailor.Item) int { return cmp.Compare(a.ID, b.ID) })
	t := &texts{build: e.builds.Add(1), index: search.Build(items), built: e.opts.Now()}
	t.content, _ = content.Fit(items, content.Options{Seed: 1}) // a catalog without words has no vectors
	var err error
	if e.opts.Embedder != nil && len(items) > 0 {
		// Without the embeddings (a provider's error), search by words
		// is published all the same, and the failure counted.
		t.meaning, err = semantic.Build(ctx, items, semantic.Options{Embedder: e.opts.Embedder, Queries: e.opts.QueryEmbedder, Text: semantic.DefaultText, Seed: 1, BM25: t.index})
		if err != nil {
			e.catalogChanged.Store(true) // try again at the next check
		}
	}
	e.texts.Store(t)
	return err
}

// contentModel returns the item vectors as last built (nil before the
// first build, or for a catalog without words) and the build of the texts
// they belong to.
func (e *Engine) contentModel() (*content.Model, uint64) {
	if t := e.texts.Load(); t != nil {
		return t.content, t.build
	}
	return nil, 0
}
