package eval

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

func TestFromStore(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := FromStore(ctx, db); err == nil {
		t.Error("an empty store gave data")
	}
	d := synthetic(12, 8)
	err = db.Update(ctx, func(w store.Writer) error {
		if err := w.UpsertItems(ctx, []tailor.Item{{ID: "i1", Categories: []string{"Home"}}}); err != nil {
			return err
		}
		_, err := w.InsertEvents(ctx, d.Events)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != len(d.Events) || len(got.Items) != 8 || got.Categories("i1")[0] != "Home" {
		t.Fatalf("%d events, %d items", len(got.Events), len(got.Items))
	}
	folds, err := Split("kfold", got, Options{Seed: 1, Folds: 3})
	if err != nil || len(folds) != 3 {
		t.Fatalf("split: %v", err)
	}
}
