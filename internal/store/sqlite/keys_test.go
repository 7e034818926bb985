package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// TestKeysNeverReused deletes the newest shopper or item (the one whose key
// a plain INTEGER PRIMARY KEY hands out again) and creates another, before
// and after reopening the store: the new one always gets a key never used
// before.
func TestKeysNeverReused(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, kind := range []string{"user", "item"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "tailor.db")
			db, err := Open(ctx, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { db.Close() }()
			n := 0
			add := func(id string) int64 {
				t.Helper()
				n++
				e := tailor.Event{ID: fmt.Sprint("e", n), UserID: "u0", ItemID: "i0", Type: tailor.View, Timestamp: t0.Add(time.Duration(n) * time.Minute)}
				if kind == "user" {
					e.UserID = tailor.UserID(id)
				} else {
					e.ItemID = tailor.ItemID(id)
				}
				if err := db.Update(ctx, func(w store.Writer) error {
					_, err := w.InsertEvents(ctx, []tailor.Event{e})
					return err
				}); err != nil {
					t.Fatal(err)
				}
				var ix int64
				if err := db.r.QueryRowContext(ctx, "SELECT ix FROM "+kind+"s WHERE id = ?", id).Scan(&ix); err != nil {
					t.Fatal(err)
				}
				return ix
			}
			del := func(id string) {
				t.Helper()
				var err error
				if kind == "user" {
					_, err = db.DeleteUser(ctx, tailor.UserID(id))
				} else {
					_, err = db.DeleteItem(ctx, tailor.ItemID(id))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			var used []int64
			check := func(id string) {
				t.Helper()
				ix := add(id)
				if slices.Contains(used, ix) {
					t.Errorf("%s %s got key %d, already used by one of %v", kind, id, ix, used)
				}
				used = append(used, ix)
			}
			check("a")
			check("b")
			del("b")
			check("c")
			del("c")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = Open(ctx, path, Options{}); err != nil {
				t.Fatal(err)
			}
			check("d")
		})
	}
}

// TestAutoincrementMigration opens a store made before keys were never
// reused: every shopper and item keeps its key, their events stay theirs,
// and a key freed before the migration's largest is not handed out again.
func TestAutoincrementMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tailor.db")
	raw := storeBefore(t, path, "AUTOINCREMENT")
	for _, q := range []string{
		`INSERT INTO users (ix, id, attributes, created_at) VALUES (1, 'u1', '{"segment":"x"}', 5), (7, 'u7', NULL, 6)`,
		`INSERT INTO items (ix, id, title, price, created_at, updated_at) VALUES (3, 'i3', 'Teapot', 9.5, 1, 2)`,
		`INSERT INTO events (id, user_ix, item_ix, type, ts) VALUES ('e1', 7, 3, 'purchase', 1000)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open the old store: %v", err)
	}
	defer db.Close()
	it, err := db.Item(ctx, "i3")
	if err != nil || it.Title != "Teapot" || it.Price == nil || *it.Price != 9.5 {
		t.Errorf("item i3 after the migration: %+v, %v", it, err)
	}
	page, err := db.Events(ctx, store.EventQuery{UserID: "u7"}, store.PageRequest{})
	if err != nil || len(page.Data) != 1 || page.Data[0].ItemID != "i3" {
		t.Errorf("u7's events after the migration: %+v, %v", page.Data, err)
	}
	if _, err := db.DeleteUser(ctx, "u7"); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, []tailor.Event{{ID: "e2", UserID: "new", ItemID: "i3", Type: tailor.View, Timestamp: time.Unix(2, 0)}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var ix int64
	if err := db.r.QueryRowContext(ctx, "SELECT ix FROM users WHERE id = 'new'").Scan(&ix); err != nil {
		t.Fatal(err)
	}
	if ix <= 7 {
		t.Errorf("the first shopper after the migration got key %d, want above 7", ix)
	}
}
