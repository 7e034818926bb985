package semantic_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/llm/glove"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/semantic"
)

// Word vectors the test makes: a tea cluster, a gift cluster, a candle
// cluster, and frequent function words (most frequent first).
const wink = `{"dimensions":4,
"words":["the","for","who","someone","loves",FILLER"red","present","gift","tea","cup","teapot","infusion","candle","wax","glass"],
"vectors":{FILLERVEC
"the":[0.2,0.2,0.2,1,0,0],"for":[0.1,0.3,0.1,1,0,0],"who":[0.2,0.1,0.3,1,0,0],"someone":[0.1,0.2,0.1,0.9,0,0],"loves":[0.3,0.3,0.1,0.8,0,0],
"red":[0.1,0.1,0.6,0.3,0,0],"present":[0.1,1,0,0.1,0,0],"gift":[0.1,0.95,0.05,0,0,0],
"tea":[1,0.1,0,0.1,0,0],"cup":[0.8,0.1,0.1,0.1,0,0],"teapot":[0.9,0.15,0,0,0,0],"infusion":[0.95,0,0.1,0,0,0],
"candle":[0,0.1,1,0,0,0],"wax":[0,0.1,0.9,0.1,0,0],"glass":[0.2,0.2,0.3,0.2,0,0]}}`

// fillers stand for the many words ranked between the function words and
// the shop's words, so that the Zipf weights are those of a real
// vocabulary.
func vectorsJSON() string {
	var words, vecs strings.Builder
	for i := range 300 {
		fmt.Fprintf(&words, `"filler%d",`, i)
		fmt.Fprintf(&vecs, `"filler%d":[0,0,0,1,0,0],`, i)
	}
	return strings.NewReplacer("FILLERVEC", vecs.String(), "FILLER", words.String()).Replace(wink)
}

var items = []tailor.Item{
	{ID: "i1", Title: "CHAMOMILE INFUSION TEAPOT"},
	{ID: "i2", Title: "RED WAX CANDLE"},
	{ID: "i3", Title: "GLASS BOWL"},
	{ID: "i4", Title: "HEART CANDLE HOLDER", Categories: []string{"Home/Candles & Lights"}},
	{ID: "i5", Title: "BONE CHINA CUP", Hidden: true},
}

// TestSearchByMeaning: a query that shares no word with any item finds the
// items of its meaning, by embeddings alone and in a hybrid index; where
// words match, the hybrid index ranks by them; filters and hidden items
// are respected.
func TestSearchByMeaning(t *testing.T) {
	v, err := glove.Convert(strings.NewReader(vectorsJSON()), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, text := range []float64{0, 0.9} {
		x, err := semantic.Build(ctx, items, semantic.Options{Embedder: v, Text: text, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(x.Embedder(), "glove-sif:") || x.Len() != 4 {
			t.Fatalf("embedder %s, %d items", x.Embedder(), x.Len())
		}
		hits := search_(t, x, "present for someone who loves tea", 2, nil)
		if len(hits) == 0 || hits[0].Item != "i1" {
			t.Errorf("text share %v: a present for a tea lover: %+v, want the teapot first", text, hits)
		}
		hits = search_(t, x, "red candle", 2, nil)
		if len(hits) < 2 || hits[0].Item != "i2" || hits[1].Item != "i4" {
			t.Errorf("text share %v: red candle: %+v, want the red candle, then the holder", text, hits)
		}
		if hits := search_(t, x, "red candle", 3, func(id tailor.ItemID) bool { return id != "i2" }); len(hits) == 0 || hits[0].Item == "i2" {
			t.Errorf("text share %v: the filter was ignored: %+v", text, hits)
		}
		for _, h := range search_(t, x, "bone china cup", 4, nil) {
			if h.Item == "i5" {
				t.Errorf("text share %v: a hidden item was found", text)
			}
		}
		if hits := search_(t, x, "zzz qqq", 3, nil); len(hits) != 0 {
			t.Errorf("text share %v: a query without known words found %+v", text, hits)
		}
	}
	// Without word vectors: LSA of the catalog's own words.
	x, err := semantic.Build(ctx, items, semantic.Options{Dims: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if hits := search_(t, x, "chamomile teapot", 1, nil); x.Embedder() != "lsa" || len(hits) != 1 || hits[0].Item != "i1" {
		t.Errorf("LSA: %s, %+v", x.Embedder(), hits)
	}
	if _, err := semantic.Build(ctx, items, semantic.Options{Text: 1}); err == nil {
		t.Error("a BM25 share of 1 was accepted")
	}
}

// search_ is Search without an error expected.
func search_(t *testing.T, x *semantic.Index, query string, n int, keep func(tailor.ItemID) bool) []search.Hit {
	t.Helper()
	hits, err := x.Search(context.Background(), query, n, keep)
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// flaky embeds the catalog, then fails every query (a provider that went
// down).
type flaky struct {
	*glove.Vectors
	calls int
}

func (f *flaky) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	f.calls++
	if f.calls > 1 {
		return nil, errors.New("provider down")
	}
	return f.Vectors.Embed(ctx, texts)
}

// TestEmbedderDown: a hybrid index answers by its words when the query
// cannot be embedded, and says why; a semantic-only one answers nothing
// and says why.
func TestEmbedderDown(t *testing.T) {
	v, err := glove.Convert(strings.NewReader(vectorsJSON()), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	x, err := semantic.Build(ctx, items, semantic.Options{Embedder: &flaky{Vectors: v}, Text: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := x.Search(ctx, "red candle", 2, nil)
	if err == nil || len(hits) == 0 || hits[0].Item != "i2" {
		t.Errorf("hybrid with the embedder down: %+v, %v", hits, err)
	}
	y, err := semantic.Build(ctx, items, semantic.Options{Embedder: &flaky{Vectors: v}})
	if err != nil {
		t.Fatal(err)
	}
	if hits, err := y.Search(ctx, "red candle", 2, nil); err == nil || len(hits) != 0 {
		t.Errorf("semantic with the embedder down: %+v, %v", hits, err)
	}
}
