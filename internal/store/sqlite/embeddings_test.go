package sqlite_test

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tailorhq/tailor/internal/llm"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// TestEmbeddingCache stores vectors of two models and reads back those
// asked for, across a reopen; a model's vectors are not another's.
func TestEmbeddingCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tailor.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var _ llm.EmbeddingStore = db
	a, b, c := llm.TextHash("red teapot"), llm.TextHash("blue mug"), llm.TextHash("never stored")
	if err := db.PutEmbeddings(ctx, "m1", map[[sha256.Size]byte][]float32{a: {1, -2.5, 3}, b: {0.25, 0, -1}}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutEmbeddings(ctx, "m2", map[[sha256.Size]byte][]float32{a: {9}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = sqlite.Open(ctx, path, sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Embeddings(ctx, "m1", [][sha256.Size]byte{a, c, b})
	if err != nil || len(got) != 2 || !slices.Equal(got[a], []float32{1, -2.5, 3}) || !slices.Equal(got[b], []float32{0.25, 0, -1}) {
		t.Errorf("m1: %v, %v", got, err)
	}
	if got, _ := db.Embeddings(ctx, "m2", [][sha256.Size]byte{a, b}); len(got) != 1 || !slices.Equal(got[a], []float32{9}) {
		t.Errorf("m2: %v", got)
	}
}
