// Package semantic is search by meaning over the catalog: items and the
// query are embedded (SIF-weighted GloVe word vectors, package llm/glove,
// with the catalog's common component removed; or Tailor's own LSA text
// vectors, package content), and the items closest to the query by cosine
// are found by an exact scan of a dense float32 matrix (package kernels),
// which stays exact up to a million items. A hybrid index blends the
// cosine with package search's BM25 score: (1 − text)·cosine + text·BM25 /
// the query's best BM25 score.
package semantic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/llm"
	"github.com/tailorhq/tailor/internal/llm/glove"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/topk"
)

// DefaultText is the BM25 share of a hybrid index when nothing else is
// chosen: the share 'tailor eval --tune' chose for the hybrid model on
// search-replay's validation window (Online Retail, cutoff 2011-09-01;
// BENCHMARKS.md).
const DefaultText = 0.9

// MinCommon is the least number of items whose common component is
// removed from the GloVe embeddings.
const MinCommon = 50

// Options configure Build.
type Options struct {
	// Embedder embeds the items and the queries: word vectors (package
	// llm/glove, whose common component Build removes) or a provider's
	// model; nil embeds with LSA vectors of the catalog's own text (Dims
	// dimensions, default 64).
	Embedder llm.Embedder
	Dims     int
	// Queries, when set, embeds the queries instead of Embedder: the
	// same model without the store's cache, which would keep every query
	// ever asked.
	Queries llm.Embedder
	// Text is the BM25 share of a hybrid score, in [0, 1) (0: meaning
	// alone, no BM25 index).
	Text float64
	// Seed seeds the LSA projection and the power iteration.
	Seed uint64
	// BM25, when set, is the text index of the same items for a hybrid
	// index, instead of building another.
	BM25 *search.Index
}

// Index is an immutable semantic (or hybrid) index. It is safe for
// concurrent use.
type Index struct {
	ids    []tailor.ItemID
	dims   int
	vecs   []float32 // len(ids)×dims, unit rows (zero: no words)
	has    []bool
	embed  func(ctx context.Context, text string) ([]float32, error)
	common []float32 // GloVe: the catalog's first principal direction
	bm25   *search.Index
	pos    map[tailor.ItemID]int32
	text   float64
	name   string // the embedder's
}

// Text returns the text an item is embedded by: its title, brand,
// category words and description.
func Text(it *tailor.Item) string {
	cats := make([]string, len(it.Categories))
	for i, c := range it.Categories {
		cats[i] = strings.NewReplacer("/", " ", "&", " ").Replace(c)
	}
	return strings.Join([]string{it.Title, it.Brand, strings.Join(cats, " "), it.Description}, " ")
}

// Build embeds the offerable items (in id order) and, for a hybrid index,
// indexes their text.
func Build(ctx context.Context, items []tailor.Item, opts Options) (*Index, error) {
	if !(opts.Text >= 0 && opts.Text < 1) {
		return nil, errors.New("semantic: the BM25 share must be in [0, 1)")
	}
	items = slices.DeleteFunc(slices.Clone(items), func(it tailor.Item) bool { return it.Hidden || it.NonProduct })
	slices.SortFunc(items, func(a, b tailor.Item) int { return cmp.Compare(a.ID, b.ID) })
	if len(items) == 0 {
		return nil, errors.New("semantic: the catalog has no offerable items")
	}
	x := &Index{text: opts.Text, pos: make(map[tailor.ItemID]int32, len(items))}
	for k := range items {
		x.ids = append(x.ids, items[k].ID)
		x.pos[items[k].ID] = int32(k)
	}
	var rows [][]float32
	if em := opts.Embedder; em != nil {
		texts := make([]string, len(items))
		for k := range items {
			texts[k] = Text(&items[k])
		}
		var err error
		if rows, err = em.Embed(ctx, texts); err != nil {
			return nil, fmt.Errorf("semantic: embed the catalog: %w", err)
		}
		if t, ok := em.(interface{ Trim() }); ok {
			t.Trim() // the catalog's words need not stay resident
		}
		if len(rows) != len(items) || len(rows[0]) == 0 {
			return nil, fmt.Errorf("semantic: %s gave %d vectors for %d items", em.Name(), len(rows), len(items))
		}
		x.dims, x.name = len(rows[0]), em.Name()
		// SIF's common component: the direction every text of word
		// vectors shares (frequent words, the shop's register). Only a
		// catalog of some size estimates it; in a handful of items it is
		// one of them.
		_, words := em.(*glove.Vectors)
		if words && len(rows) >= MinCommon {
			x.common = firstComponent(rows, x.dims, opts.Seed)
		}
		queries := cmp.Or(opts.Queries, em)
		x.embed = func(ctx context.Context, text string) ([]float32, error) {
			out, err := queries.Embed(ctx, []string{text})
			if err != nil {
				return nil, err
			}
			if len(out) != 1 || len(out[0]) != x.dims {
				return nil, fmt.Errorf("%s: a query vector of the wrong length: %w", em.Name(), llm.ErrMalformed)
			}
			return x.finish(out[0]), nil
		}
		for k := range rows {
			if len(rows[k]) != x.dims {
				return nil, fmt.Errorf("semantic: %s gave vectors of %d and %d dimensions", em.Name(), x.dims, len(rows[k]))
			}
			rows[k] = x.finish(rows[k])
		}
	} else {
		lsa, err := content.Fit(items, content.Options{Dims: cmp.Or(opts.Dims, 64), Seed: opts.Seed})
		if err != nil {
			return nil, err
		}
		x.dims, x.name = lsa.Dims(), "lsa"
		x.embed = func(_ context.Context, text string) ([]float32, error) { return lsa.EmbedText(text), nil }
		for k := range items {
			rows = append(rows, lsa.Vector(items[k].ID))
		}
	}
	x.vecs, x.has = make([]float32, len(items)*x.dims), make([]bool, len(items))
	for k, r := range rows {
		if r != nil {
			copy(x.vecs[k*x.dims:], r)
			x.has[k] = true
		}
	}
	if opts.Text > 0 {
		x.bm25 = opts.BM25
		if x.bm25 == nil {
			x.bm25 = search.Build(items)
		}
	}
	return x, ctx.Err()
}

// Embedder names what the index embeds with: the embedder's Name, or
// "lsa".
func (x *Index) Embedder() string { return x.name }

// Vector returns an item's unit vector (nil for an item without words or
// not indexed); it aliases the index.
func (x *Index) Vector(id tailor.ItemID) []float32 {
	k, ok := x.pos[id]
	if !ok || !x.has[k] {
		return nil
	}
	return x.vecs[int(k)*x.dims : int(k+1)*x.dims : int(k+1)*x.dims]
}

// Len is the number of items.
func (x *Index) Len() int { return len(x.ids) }

// finish removes the common component from a GloVe embedding and makes it
// unit length; nil for a zero vector.
func (x *Index) finish(v []float32) []float32 {
	if x.common != nil {
		kernels.Axpy(-kernels.Dot(v, x.common), x.common, v)
	}
	norm := math.Sqrt(float64(kernels.Dot(v, v)))
	if norm < 1e-9 {
		return nil
	}
	for j := range v {
		v[j] /= float32(norm)
	}
	return v
}

// firstComponent is the unit first right singular vector of the rows (the
// direction they share most), by power iteration from a seeded start.
func firstComponent(rows [][]float32, dims int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x5146))
	u := make([]float32, dims)
	for j := range u {
		u[j] = float32(r.NormFloat64())
	}
	next := make([]float32, dims)
	for range 50 {
		clear(next)
		for _, row := range rows {
			kernels.Axpy(kernels.Dot(row, u), row, next)
		}
		norm := math.Sqrt(float64(kernels.Dot(next, next)))
		if norm == 0 {
			return nil
		}
		for j := range next {
			u[j] = next[j] / float32(norm)
		}
	}
	return u
}

// Search returns the n best items for the query among those keep accepts
// (nil: all), best first, ties to the smaller id. An item with neither a
// vector nor a text match is never returned. When the query cannot be
// embedded (a provider's error), a hybrid index answers by its words
// alone and Search returns the error beside the answer.
func (x *Index) Search(ctx context.Context, query string, n int, keep func(tailor.ItemID) bool) ([]search.Hit, error) {
	if n <= 0 {
		return nil, nil
	}
	scores := make([]float32, len(x.ids))
	matched := make([]bool, len(x.ids))
	qv, err := x.embed(ctx, query)
	if err != nil {
		qv = nil
	}
	if qv != nil {
		kernels.MatVec(x.vecs, qv, scores)
		if x.text > 0 {
			for i := range scores {
				scores[i] *= float32(1 - x.text)
			}
		}
	}
	if x.bm25 != nil {
		hits := x.bm25.Search(query, 1000, keep)
		if len(hits) > 0 {
			best := hits[0].Score
			for _, h := range hits {
				k := x.pos[h.Item]
				scores[k] += float32(x.text * h.Score / best)
				matched[k] = true
			}
		}
	}
	if qv == nil && x.bm25 == nil {
		return nil, err
	}
	h := topk.New(n)
	for k := range scores {
		if (matched[k] || (qv != nil && x.has[k])) && (keep == nil || matched[k] || keep(x.ids[k])) {
			h.Push(int32(k), scores[k])
		}
	}
	best := h.Sorted(nil)
	out := make([]search.Hit, len(best))
	for i, e := range best {
		out[i] = search.Hit{Item: x.ids[e.Index], Score: float64(e.Score)}
	}
	return out, err
}
