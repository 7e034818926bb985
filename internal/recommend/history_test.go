package recommend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/store"
)

// gatedSource holds back the answer to the history read of one shopper
// until told to go on, having read it already.
type gatedSource struct {
	Source
	user          tailor.UserID
	reading, gate chan struct{}
}

func (g *gatedSource) Events(ctx context.Context, q store.EventQuery, p store.PageRequest) (store.Page[tailor.Event], error) {
	page, err := g.Source.Events(ctx, q, p)
	if q.UserID == g.user && g.gate != nil {
		g.reading <- struct{}{}
		<-g.gate
	}
	return page, err
}

// TestHistoryCache checks that a stale history is answered at once and
// read again in the background, and that a read that began before the
// shopper's events changed is not cached.
func TestHistoryCache(t *testing.T) {
	ctx := context.Background()
	db := testStore(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &testClock{now: start}
	n := 0
	buy := func(user tailor.UserID, item tailor.ItemID) tailor.Event {
		t.Helper()
		n++
		ev := tailor.Event{ID: fmt.Sprint("e", n), UserID: user, ItemID: item, Type: tailor.Purchase, Timestamp: start}
		write(t, db, []tailor.ItemID{item}, []tailor.Event{ev})
		return ev
	}
	src := &gatedSource{Source: db, user: "racer"}
	e, err := New(src, Options{Lookup: all.Lookup, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	buy("u", "tent")
	first, err := e.history(ctx, "u")
	if err != nil || len(first.items) != 1 {
		t.Fatalf("first read: %v, %v", first, err)
	}
	buy("u", "stove") // by another process: this engine is not told
	if again, _ := e.history(ctx, "u"); again != first {
		t.Fatal("a fresh history was read again")
	}
	clock.Set(start.Add(31 * time.Second))
	if stale, _ := e.history(ctx, "u"); stale != first {
		t.Fatal("a stale history was not answered at once")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, _ := e.hist.Peek("u")
		if h != first {
			if len(h.items) != 2 {
				t.Errorf("the refreshed history has %d items, want 2", len(h.items))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale history was not read again in the background")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A read racing with a posted event: it read the store before the
	// event, so its history must not be cached.
	buy("racer", "tent")
	src.reading, src.gate = make(chan struct{}), make(chan struct{})
	done := make(chan *history)
	go func() {
		h, err := e.history(ctx, "racer")
		if err != nil {
			t.Error(err)
		}
		done <- h
	}()
	<-src.reading
	e.EventsChanged([]tailor.Event{buy("racer", "lamp")})
	close(src.gate)
	if h := <-done; len(h.items) != 1 {
		t.Fatalf("the racing read saw %d items, want the 1 before the event", len(h.items))
	}
	src.gate = nil
	if h, _ := e.history(ctx, "racer"); len(h.items) != 2 {
		t.Errorf("after the event the history has %d items, want 2: a read from before it was cached", len(h.items))
	}
}

// TestHistoryCacheBound checks that the cache keeps at most CacheSize
// shoppers, dropping the least recently used, and counts the evictions.
func TestHistoryCacheBound(t *testing.T) {
	ctx := context.Background()
	db := testStore(t)
	reg := prometheus.NewRegistry()
	e, err := New(db, Options{Lookup: all.Lookup, CacheSize: 3, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []tailor.UserID{"a", "b", "c"} {
		if _, err := e.history(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	e.history(ctx, "a") // a is now the most recent
	e.history(ctx, "d") // b goes
	if _, ok := e.hist.Peek("b"); ok || e.hist.Len() != 3 {
		t.Errorf("after a fourth shopper: b kept %v, %d kept", ok, e.hist.Len())
	}
	if _, ok := e.hist.Peek("a"); !ok {
		t.Error("the most recently used shopper was evicted")
	}
	if got := testutil.ToFloat64(e.met.evictions.WithLabelValues("histories")); got != 1 {
		t.Errorf("%v evictions counted, want 1", got)
	}
	if got := testutil.ToFloat64(e.met.cache.WithLabelValues("histories", "miss")); got != 4 {
		t.Errorf("%v misses counted, want 4", got)
	}
}
