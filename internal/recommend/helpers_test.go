package recommend

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// testStore opens an empty store in the test's temporary folder.
func testStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// write stores the items (by id) and the events in one transaction.
func write(t *testing.T, db *sqlite.DB, items []tailor.ItemID, events []tailor.Event) {
	t.Helper()
	its := make([]tailor.Item, len(items))
	for i, id := range items {
		its[i] = tailor.Item{ID: id}
	}
	writeItems(t, db, its, events)
}

// writeItems stores the items and the events in one transaction.
func writeItems(t *testing.T, db *sqlite.DB, items []tailor.Item, events []tailor.Event) {
	t.Helper()
	ctx := context.Background()
	err := db.Update(ctx, func(w store.Writer) error {
		if err := w.UpsertItems(ctx, items); err != nil {
			return err
		}
		_, err := w.InsertEvents(ctx, events)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testClock is a clock the test sets, safe for concurrent use.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }
