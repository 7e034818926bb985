package llm_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/tailorhq/tailor/internal/llm"
)

type mapStore map[string]map[[sha256.Size]byte][]float32

func (m mapStore) Embeddings(_ context.Context, model string, hashes [][sha256.Size]byte) (map[[sha256.Size]byte][]float32, error) {
	out := map[[sha256.Size]byte][]float32{}
	for _, h := range hashes {
		if v, ok := m[model][h]; ok {
			out[h] = v
		}
	}
	return out, nil
}

func (m mapStore) PutEmbeddings(_ context.Context, model string, vs map[[sha256.Size]byte][]float32) error {
	if m[model] == nil {
		m[model] = map[[sha256.Size]byte][]float32{}
	}
	for h, v := range vs {
		m[model][h] = v
	}
	return nil
}

// lengths embeds a text as its length, and records what it was asked.
type lengths struct{ asked []string }

func (l *lengths) Name() string { return "lengths" }

func (l *lengths) Embed(_ context.Context, texts []string) ([][]float32, error) {
	l.asked = append(l.asked, texts...)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = []float32{float32(len(t))}
	}
	return out, nil
}

// TestCached asks the model only for the texts the store lacks, keeps the
// order, and counts hits and misses.
func TestCached(t *testing.T) {
	inner := &lengths{}
	var hits, misses int
	c := &llm.Cached{Embedder: inner, Store: mapStore{}, Hits: func(n int) { hits += n }, Misses: func(n int) { misses += n }}
	ctx := context.Background()
	if _, err := c.Embed(ctx, []string{"a", "bb"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Embed(ctx, []string{"ccc", "a", "bb", "dddd"})
	if err != nil {
		t.Fatal(err)
	}
	var flat []float32
	for _, v := range got {
		flat = append(flat, v...)
	}
	if !slices.Equal(flat, []float32{3, 1, 2, 4}) {
		t.Errorf("vectors %v", flat)
	}
	if !slices.Equal(inner.asked, []string{"a", "bb", "ccc", "dddd"}) || hits != 2 || misses != 4 {
		t.Errorf("asked %q, %d hits, %d misses", inner.asked, hits, misses)
	}
}
