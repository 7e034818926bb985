package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// A deleted shopper's or item's data is overwritten in the store's files,
// not left readable in free pages: after the deletion and a clean close,
// none of their ids, order ids or attribute values is in tailor.db (or a
// log beside it).
func TestDeletedDataIsOverwritten(t *testing.T) {
	for _, durability := range []sqlite.Durability{sqlite.DurabilityFull, sqlite.DurabilityProcess} {
		t.Run(fmt.Sprint("durability ", int(durability)), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "tailor.db")
			db, err := sqlite.Open(ctx, path, sqlite.Options{Durability: durability})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
			price := 2.5
			var events []tailor.Event
			// Enough of the shopper's events to fill whole pages, among
			// others' so that pages are shared too.
			for i := range 400 {
				events = append(events,
					tailor.Event{ID: fmt.Sprintf("gone-ev-%04d", i), UserID: "shopper-to-forget", ItemID: tailor.ItemID(fmt.Sprintf("kept-item-%d", i%20)),
						Type: tailor.Purchase, UnitPrice: &price, OrderID: fmt.Sprintf("secret-order-%04d", i/4), Timestamp: t0.Add(time.Duration(i) * time.Minute)},
					tailor.Event{ID: fmt.Sprintf("kept-ev-%04d", i), UserID: "kept-shopper", ItemID: "item-to-forget",
						Type: tailor.View, Timestamp: t0.Add(time.Duration(i) * time.Minute)})
			}
			err = db.Update(ctx, func(w store.Writer) error {
				if err := w.UpsertUsers(ctx, []tailor.User{{ID: "shopper-to-forget", Attributes: map[string]any{"email": "forget.me@example.org"}}}); err != nil {
					return err
				}
				if err := w.UpsertItems(ctx, []tailor.Item{{ID: "item-to-forget", Title: "A very private title"}}); err != nil {
					return err
				}
				_, err := w.InsertEvents(ctx, events)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			// A model version holding the shopper, over several chunks, is
			// rewritten without them (as train.Scrub does).
			artifact := func(who string) []byte {
				var b bytes.Buffer
				for b.Len() < 3<<20 {
					fmt.Fprintf(&b, "%s:%08d;", who, b.Len())
				}
				return b.Bytes()
			}
			if err := db.SaveModel(ctx, store.ModelVersion{ID: "v1", Slot: "default", Model: "ease", DataUntil: t0}, artifact("shopper-to-forget")); err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteUser(ctx, "shopper-to-forget"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteItem(ctx, "item-to-forget"); err != nil {
				t.Fatal(err)
			}
			if err := db.ScrubModel(ctx, "v1", artifact("kept-shopper"), time.Now()); err != nil {
				t.Fatal(err)
			}
			check(t, path, "while open")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			check(t, path, "after close")
		})
	}
}

func check(t *testing.T, path, when string) {
	t.Helper()
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"shopper-to-forget", "secret-order-", "gone-ev-", "forget.me@example.org", "item-to-forget", "A very private title"} {
			if n := bytes.Count(b, []byte(secret)); n > 0 {
				t.Errorf("%s, %s: holds %q %d times after the deletion", when, filepath.Base(f), secret, n)
			}
		}
		// What was kept is still there.
		if filepath.Base(f) == "tailor.db" && !bytes.Contains(b, []byte("kept-shopper")) {
			t.Errorf("%s: tailor.db lost the shopper that was kept", when)
		}
	}
}

// Tombstones last the retention window: once purged, the same events are
// stored again.
func TestPurgeTombstones(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	batch := []tailor.Event{{ID: "p1", UserID: "u1", ItemID: "i1", Type: tailor.View, Timestamp: t0}}
	insert := func() store.InsertResult {
		var res store.InsertResult
		if err := db.Update(ctx, func(w store.Writer) (err error) { res, err = w.InsertEvents(ctx, batch); return err }); err != nil {
			t.Fatal(err)
		}
		return res
	}
	insert()
	if _, err := db.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PurgeTombstones(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("purging tombstones older than an hour: %d, %v", n, err)
	}
	if res := insert(); res.Inserted != 0 {
		t.Errorf("a retry within the window: %+v", res)
	}
	// The event's tombstone and the shopper's.
	if n, err := db.PurgeTombstones(ctx, time.Now().Add(time.Second)); err != nil || n != 2 {
		t.Errorf("purging all tombstones: %d, %v", n, err)
	}
	if tombs, err := db.DeletedUsers(ctx, time.Time{}); err != nil || len(tombs) != 0 {
		t.Errorf("shoppers' tombstones after the purge: %v, %v", tombs, err)
	}
	if res := insert(); res.Inserted != 1 {
		t.Errorf("the batch after the window: %+v", res)
	}
}
