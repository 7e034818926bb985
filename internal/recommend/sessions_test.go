package recommend

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/sknn"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// TestSessionModelRebuild checks that the session model is built on first
// use, that once it is ten minutes old a request gets the current one at
// once while a new one is built in the background, and that the new one
// holds the orders placed since.
func TestSessionModelRebuild(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	order := func(id string, at time.Time, items ...tailor.ItemID) {
		t.Helper()
		var evs []tailor.Event
		for k, it := range items {
			evs = append(evs, tailor.Event{ID: fmt.Sprint(id, k), UserID: "u-" + tailor.UserID(id), ItemID: it, Type: tailor.Purchase, OrderID: id, Timestamp: at})
		}
		err := db.Update(ctx, func(w store.Writer) error {
			if err := w.UpsertItems(ctx, []tailor.Item{{ID: "tent"}, {ID: "stove"}, {ID: "lamp"}}); err != nil {
				return err
			}
			_, err := w.InsertEvents(ctx, evs)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	order("o1", start.Add(-time.Hour), "tent", "stove")
	e, err := New(db, Options{Lookup: all.Lookup, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := e.sessionModel(ctx)
	if err != nil || first == nil {
		t.Fatalf("first build: %v, %v", first, err)
	}
	if got := first.Recommend([]tailor.ItemID{"tent"}, 1, sknn.Options{Sequential: true}); got[0].Item != "stove" {
		t.Fatalf("after a tent: %+v", got)
	}
	order("o2", start.Add(time.Minute), "lamp", "tent")
	if again, _ := e.sessionModel(ctx); again != first {
		t.Fatal("a fresh model was rebuilt")
	}
	mu.Lock()
	now = start.Add(11 * time.Minute)
	mu.Unlock()
	if stale, _ := e.sessionModel(ctx); stale != first {
		t.Fatal("a request waited for the rebuild instead of getting the current model")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, _ := e.sessionModel(ctx)
		if m != first {
			if got := m.Recommend([]tailor.ItemID{"lamp"}, 1, sknn.Options{Sequential: true}); got[0].Item != "tent" {
				t.Errorf("the rebuilt model after a lamp: %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session model was not rebuilt in the background")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
