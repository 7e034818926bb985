package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
	"github.com/tailorhq/tailor/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tailor.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(w store.Writer) error {
		return w.UpsertUsers(ctx, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, err := db.Counts(ctx); err != nil {
		t.Fatal(err)
	}
}
