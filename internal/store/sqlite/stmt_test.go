package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// TestReadStatementsBounded lists events with type lists of every length
// from 1 to 300 and other filters: the right events come back, and the
// prepared-statement cache holds one statement per shape of the query,
// not one per request.
func TestReadStatementsBounded(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "tailor.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	err = db.Update(ctx, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, []tailor.Event{
			{ID: "a", UserID: "u", ItemID: "i", Type: tailor.View, Timestamp: t0},
			{ID: "b", UserID: "u", ItemID: "i", Type: tailor.Purchase, Timestamp: t0.Add(time.Hour)},
			{ID: "c", UserID: "u", ItemID: "i", Type: "t7", Timestamp: t0.Add(2 * time.Hour)},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 300; n++ {
		types := []tailor.EventType{tailor.Purchase}
		for k := 1; k < n; k++ {
			types = append(types, tailor.EventType(fmt.Sprint("t", k)))
		}
		want := 1 + min(1, max(0, n-7)) // the purchase, and t7 once the list names it
		for _, q := range []store.EventQuery{{Types: types}, {UserID: "u", Types: types}, {UserID: "u", Types: types, Since: t0}} {
			page, err := db.Events(ctx, q, store.PageRequest{Limit: 10})
			if err != nil {
				t.Fatalf("%d types: %v", n, err)
			}
			if len(page.Data) != want {
				t.Fatalf("%d types, %+v: %d events, want %d", n, q, len(page.Data), want)
			}
		}
	}
	stmts := 0
	db.reads.Range(func(any, any) bool { stmts++; return true })
	if stmts != 3 {
		t.Errorf("%d prepared read statements after 900 listings of 3 shapes, want 3", stmts)
	}
}
