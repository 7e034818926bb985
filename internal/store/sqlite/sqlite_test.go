package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tailorhq/tailor"
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

// TestAllUsersAndItems reads more than a page of shoppers and items with
// store.AllUsers and store.AllItems: every record once, in id order, and
// the first error of fn stops the listing and is returned.
func TestAllUsersAndItems(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := store.MaxPageSize + 7
	var users []tailor.User
	var items []tailor.Item
	for i := range n {
		users = append(users, tailor.User{ID: tailor.UserID(fmt.Sprintf("u%05d", n-i))})
		items = append(items, tailor.Item{ID: tailor.ItemID(fmt.Sprintf("i%05d", n-i))})
	}
	err = db.Update(ctx, func(w store.Writer) error {
		if err := w.UpsertUsers(ctx, users); err != nil {
			return err
		}
		return w.UpsertItems(ctx, items)
	})
	if err != nil {
		t.Fatal(err)
	}
	var gotUsers, gotItems []string
	if err := store.AllUsers(ctx, db, func(u *tailor.User) error { gotUsers = append(gotUsers, string(u.ID)); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := store.AllItems(ctx, db, func(it *tailor.Item) error { gotItems = append(gotItems, string(it.ID)); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, got := range [][]string{gotUsers, gotItems} {
		if len(got) != n || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != n {
			t.Errorf("read %d records (sorted %v), want %d distinct in order", len(got), slices.IsSorted(got), n)
		}
	}
	stop := errors.New("stop")
	seen := 0
	err = store.AllUsers(ctx, db, func(*tailor.User) error {
		if seen++; seen == store.MaxPageSize+2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != store.MaxPageSize+2 {
		t.Errorf("stopped after %d with %v, want %d and the stop error", seen, err, store.MaxPageSize+2)
	}
}
