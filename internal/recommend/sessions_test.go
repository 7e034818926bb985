package recommend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/sknn"
)

// TestSessionModelRebuild checks that the session model is built on first
// use, that once it is ten minutes old a request gets the current one at
// once while a new one is built in the background, and that the new one
// holds the orders placed since.
func TestSessionModelRebuild(t *testing.T) {
	ctx := context.Background()
	db := testStore(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &testClock{now: start}
	order := func(id string, at time.Time, items ...tailor.ItemID) {
		t.Helper()
		var evs []tailor.Event
		for k, it := range items {
			evs = append(evs, tailor.Event{ID: fmt.Sprint(id, k), UserID: "u-" + tailor.UserID(id), ItemID: it, Type: tailor.Purchase, OrderID: id, Timestamp: at})
		}
		write(t, db, items, evs)
	}
	order("o1", start.Add(-time.Hour), "tent", "stove")
	e, err := New(db, Options{Lookup: all.Lookup, Now: clock.Now})
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
	clock.Set(start.Add(11 * time.Minute))
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
