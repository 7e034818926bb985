package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/postgres/pgtest"
)

// TestTombstonesOfTheSameTransaction: a transaction that found no
// tombstones when it began writing events still honours those it makes
// itself (a deletion in the same transaction).
func TestTombstonesOfTheSameTransaction(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := Open(ctx, url, Options{Schema: pgtest.Schema(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	batch := []tailor.Event{{ID: "a1", UserID: "u", ItemID: "i", Type: tailor.View, Timestamp: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}}
	err = db.Update(ctx, func(sw store.Writer) error {
		w := sw.(*writer)
		if res, err := w.InsertEvents(ctx, batch); err != nil || res.Inserted != 1 {
			t.Fatalf("first insert: %+v, %v", res, err)
		}
		if !w.noTombstones {
			t.Error("a store without tombstones: the transaction looks them up")
		}
		if _, err := w.deleteRecord(ctx, "user", "u"); err != nil {
			return err
		}
		res, err := w.InsertEvents(ctx, batch)
		if err != nil {
			return err
		}
		if res.Inserted != 0 {
			t.Errorf("the deleted event was stored again in the same transaction: %+v", res)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
