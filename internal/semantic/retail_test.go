package semantic_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/llm/glove"
	"github.com/tailorhq/tailor/internal/search"
	"github.com/tailorhq/tailor/internal/semantic"
	"github.com/tailorhq/tailor/internal/shareddata"
)

// TestOnlineRetailByMeaning asks the Online Retail catalog questions in
// words its titles do not use: BM25 finds nothing or the wrong things,
// the hybrid index finds items of the question's meaning. It needs the
// shared data and the installed word vectors ('tailor vectors install').
func TestOnlineRetailByMeaning(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	path := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	if _, err := os.Stat(glove.DefaultPath()); err != nil {
		t.Skipf("no word vectors at %s ('tailor vectors install')", glove.DefaultPath())
	}
	v, err := glove.Load(glove.DefaultPath())
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.Load(context.Background(), "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	x, err := semantic.Build(context.Background(), d.Catalog, semantic.Options{Embedder: v, Text: 0.9, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	bm25 := search.Build(d.Catalog)
	titles := map[tailor.ItemID]string{}
	for _, it := range d.Catalog {
		titles[it.ID] = it.Title
	}
	for _, c := range []struct {
		query string
		want  []string // a title word of the right products
		words bool     // BM25 finds the right products too
	}{
		{"present for someone who loves tea", []string{"TEA"}, true},
		{"illumination", []string{"LAMP", "LIGHT"}, false},
		{"infant", []string{"BABY", "CHILD"}, false},
	} {
		var got []string
		for _, h := range search_(t, x, c.query, 5, nil) {
			got = append(got, titles[h.Item])
		}
		var text []string
		for _, h := range bm25.Search(c.query, 5, nil) {
			text = append(text, titles[h.Item])
		}
		t.Logf("%q\n  hybrid: %q\n  bm25:   %q", c.query, got, text)
		has := func(titles []string) bool {
			for _, w := range c.want {
				if strings.Contains(strings.Join(titles, "|"), w) {
					return true
				}
			}
			return false
		}
		if !has(got) {
			t.Errorf("%q: none of %q among %q", c.query, c.want, got)
		}
		if has(text) != c.words {
			t.Errorf("%q: BM25 finds the right products: %v, want %v (%q)", c.query, has(text), c.words, text)
		}
	}
}
