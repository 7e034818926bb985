// Package storetest is the conformance suite for store backends: every
// backend's tests call Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store; the
// suite closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"ItemsUpsertAndGet", testItems},
		{"ItemsPagination", testItemsPagination},
		{"Users", testUsers},
		{"EventsIdempotent", testEventsIdempotent},
		{"EventsCreateReferences", testEventsCreateReferences},
		{"EventsQuery", testEventsQuery},
		{"EventsPagination", testEventsPagination},
		{"ScanEvents", testScanEvents},
		{"UpdateIsAtomic", testUpdateAtomic},
		{"DeleteUser", testDeleteUser},
		{"DeleteItem", testDeleteItem},
		{"DeleteThenRecreate", testDeleteThenRecreate},
		{"RetryAfterDelete", testRetryAfterDelete},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"DeferIndexes", testDeferIndexes},
		{"ModelRegistry", testModelRegistry},
		{"DeleteModel", testDeleteModel},
		{"ModelScrubber", testModelScrubber},
		{"Scenarios", testScenarios},
		{"Impressions", testImpressions},
		{"Reports", testReports},
		{"Browse", testBrowse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

func update(t *testing.T, s store.Store, fn func(context.Context, store.Writer) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(w store.Writer) error { return fn(ctx, w) }); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func insert(t *testing.T, s store.Store, events ...tailor.Event) store.InsertResult {
	t.Helper()
	var res store.InsertResult
	update(t, s, func(ctx context.Context, w store.Writer) (err error) {
		res, err = w.InsertEvents(ctx, events)
		return err
	})
	return res
}

func testItems(t *testing.T, s store.Store) {
	ctx := context.Background()
	created := t0.Add(-24 * time.Hour)
	want := tailor.Item{
		ID: "sku-1", Title: "Tea mug", Description: "White, 300 ml", Categories: []string{"Home/Kitchen/Mugs", "Gifts"},
		Brand: "Acme", Price: ptr(4.5), Currency: "EUR", InStock: ptr(true), Stock: ptr(int64(12)),
		Attributes: map[string]any{"color": "white", "volume_ml": 300.0}, CreatedAt: created, UpdatedAt: t0,
	}
	update(t, s, func(ctx context.Context, w store.Writer) error { return w.UpsertItems(ctx, []tailor.Item{want}) })
	got, err := s.Item(ctx, "sku-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("item (-want +got):\n%s", diff)
	}

	// A replace without created_at keeps it and sets updated_at; absent
	// optional fields become absent.
	before := time.Now().Add(-time.Second)
	update(t, s, func(ctx context.Context, w store.Writer) error {
		return w.UpsertItems(ctx, []tailor.Item{{ID: "sku-1", Title: "Tea mug, large", Hidden: true, NonProduct: true}})
	})
	got, err = s.Item(ctx, "sku-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Tea mug, large" || !got.Hidden || !got.NonProduct || got.Price != nil || got.Stock != nil || got.Attributes != nil {
		t.Errorf("replaced item = %+v", got)
	}
	if !got.CreatedAt.Equal(created) {
		t.Errorf("created_at = %v, want %v kept", got.CreatedAt, created)
	}
	if got.UpdatedAt.Before(before) {
		t.Errorf("updated_at = %v, want about now", got.UpdatedAt)
	}

	if _, err := s.Item(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing item: err = %v, want ErrNotFound", err)
	}
}

func testItemsPagination(t *testing.T, s store.Store) {
	ctx := context.Background()
	var items []tailor.Item
	for i := 0; i < 25; i++ {
		items = append(items, tailor.Item{ID: tailor.ItemID(fmt.Sprintf("item-%03d", i))})
	}
	update(t, s, func(ctx context.Context, w store.Writer) error { return w.UpsertItems(ctx, items) })
	var ids []tailor.ItemID
	req := store.PageRequest{Limit: 10}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		page, err := s.Items(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Data {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	if len(ids) != 25 || ids[0] != "item-000" || ids[24] != "item-024" {
		t.Errorf("paged ids = %v", ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids not in order at %d: %v", i, ids)
		}
	}
	if _, err := s.Items(ctx, store.PageRequest{Cursor: "!!not base64"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad cursor: err = %v, want ErrBadCursor", err)
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	want := tailor.User{ID: "u1", Attributes: map[string]any{"country": "France", "segment": "vip"}, CreatedAt: t0}
	update(t, s, func(ctx context.Context, w store.Writer) error {
		return w.UpsertUsers(ctx, []tailor.User{want, {ID: "u2"}, {ID: "u3"}})
	})
	got, err := s.User(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	// Replace the attributes; created_at stays.
	update(t, s, func(ctx context.Context, w store.Writer) error {
		return w.UpsertUsers(ctx, []tailor.User{{ID: "u1", Attributes: map[string]any{"country": "Spain"}}})
	})
	got, _ = s.User(ctx, "u1")
	if got.Attributes["country"] != "Spain" || !got.CreatedAt.Equal(t0) {
		t.Errorf("replaced user = %+v", got)
	}
	page, err := s.Users(ctx, store.PageRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.NextCursor == "" {
		t.Fatalf("first page = %+v", page)
	}
	page, err = s.Users(ctx, store.PageRequest{Limit: 2, Cursor: page.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "u3" || page.NextCursor != "" {
		t.Errorf("second page = %+v", page)
	}
	if _, err := s.User(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing user: err = %v, want ErrNotFound", err)
	}
}

func ev(id, user, item string, typ tailor.EventType, at time.Time) tailor.Event {
	return tailor.Event{ID: id, UserID: tailor.UserID(user), ItemID: tailor.ItemID(item), Type: typ, Timestamp: at}
}

func testEventsIdempotent(t *testing.T, s store.Store) {
	ctx := context.Background()
	e := ev("e1", "u1", "i1", tailor.Purchase, t0)
	e.Value, e.UnitPrice, e.OrderID, e.RecommendationID = ptr(2.0), ptr(3.25), "o1", "r1"
	if res := insert(t, s, e); res != (store.InsertResult{Inserted: 1}) {
		t.Errorf("first insert = %+v", res)
	}
	if res := insert(t, s, e, ev("e2", "u1", "i2", tailor.View, t0)); res != (store.InsertResult{Inserted: 1, Duplicates: 1}) {
		t.Errorf("second insert = %+v", res)
	}
	// Duplicates inside one call, across a chunk boundary of a bulk insert.
	var batch []tailor.Event
	for i := 0; i < 250; i++ {
		batch = append(batch, ev(fmt.Sprintf("b%d", i%200), "u2", "i1", tailor.View, t0.Add(time.Duration(i)*time.Second)))
	}
	if res := insert(t, s, batch...); res != (store.InsertResult{Inserted: 200, Duplicates: 50}) {
		t.Errorf("bulk insert = %+v", res)
	}
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Events != 202 {
		t.Errorf("events = %d, want 202", c.Events)
	}
	page, err := s.Events(ctx, store.EventQuery{UserID: "u1", ItemID: "i1"}, store.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Fatalf("events of u1 on i1 = %+v", page.Data)
	}
	if diff := cmp.Diff(e, page.Data[0]); diff != "" {
		t.Errorf("stored event (-want +got):\n%s", diff)
	}
}

func testEventsCreateReferences(t *testing.T, s store.Store) {
	ctx := context.Background()
	anon := ev("e2", "", "i2", tailor.View, t0)
	anon.SessionID = "s1"
	insert(t, s, ev("e1", "u1", "i1", tailor.View, t0), anon)
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c != (store.Counts{Items: 2, Users: 1, Events: 2}) {
		t.Errorf("counts = %+v", c)
	}
	if _, err := s.Item(ctx, "i2"); err != nil {
		t.Errorf("item created by event: %v", err)
	}
	// A duplicate, in the store or earlier in the batch, creates no
	// shopper or item: it is not stored.
	if res := insert(t, s, ev("e1", "ghost", "ghost-item", tailor.View, t0), ev("e3", "u1", "i1", tailor.View, t0),
		ev("e3", "ghost2", "ghost-item2", tailor.View, t0)); res != (store.InsertResult{Inserted: 1, Duplicates: 2}) {
		t.Errorf("insert with duplicates = %+v", res)
	}
	if c, _ := s.Counts(ctx); c != (store.Counts{Items: 2, Users: 1, Events: 3}) {
		t.Errorf("after duplicates naming new shoppers and items: counts = %+v, want 2 items, 1 shopper, 3 events", c)
	}
	// A full record written later replaces the bare one.
	update(t, s, func(ctx context.Context, w store.Writer) error {
		return w.UpsertItems(ctx, []tailor.Item{{ID: "i1", Title: "Mug"}})
	})
	if it, _ := s.Item(ctx, "i1"); it.Title != "Mug" {
		t.Errorf("item after upsert = %+v", it)
	}
}

func seedQueryEvents(t *testing.T, s store.Store) {
	anon := ev("a1", "", "i1", tailor.View, t0.Add(5*time.Minute))
	anon.SessionID = "s1"
	insert(t, s,
		ev("e1", "u1", "i1", tailor.View, t0),
		ev("e2", "u1", "i2", tailor.AddToCart, t0.Add(time.Minute)),
		ev("e3", "u1", "i2", tailor.Purchase, t0.Add(2*time.Minute)),
		ev("e4", "u2", "i1", tailor.Purchase, t0.Add(3*time.Minute)),
		ev("e5", "u2", "i3", tailor.View, t0.Add(4*time.Minute)),
		anon,
	)
}

func ids(events []tailor.Event) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func testEventsQuery(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedQueryEvents(t, s)
	tests := []struct {
		name string
		q    store.EventQuery
		want []string
	}{
		{"all newest first", store.EventQuery{}, []string{"a1", "e5", "e4", "e3", "e2", "e1"}},
		{"by user", store.EventQuery{UserID: "u1"}, []string{"e3", "e2", "e1"}},
		{"by item", store.EventQuery{ItemID: "i1"}, []string{"a1", "e4", "e1"}},
		{"by session", store.EventQuery{SessionID: "s1"}, []string{"a1"}},
		{"by types", store.EventQuery{Types: []tailor.EventType{tailor.Purchase, tailor.AddToCart}}, []string{"e4", "e3", "e2"}},
		{"time range half open", store.EventQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"e3", "e2"}},
		{"user and type", store.EventQuery{UserID: "u2", Types: []tailor.EventType{tailor.View}}, []string{"e5"}},
		{"no match", store.EventQuery{UserID: "u9"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.Events(ctx, tt.q, store.PageRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(page.Data)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

func testEventsPagination(t *testing.T, s store.Store) {
	ctx := context.Background()
	var batch []tailor.Event
	for i := 0; i < 23; i++ {
		// Pairs of events share a timestamp, so the cursor must break ties.
		batch = append(batch, ev(fmt.Sprintf("e%02d", i), "u1", "i1", tailor.View, t0.Add(time.Duration(i/2)*time.Second)))
	}
	insert(t, s, batch...)
	var got []string
	req := store.PageRequest{Limit: 5}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := s.Events(ctx, store.EventQuery{UserID: "u1"}, req)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page.Data)...)
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	var want []string
	for i := 22; i >= 0; i-- {
		want = append(want, fmt.Sprintf("e%02d", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged ids (-want +got):\n%s", diff)
	}
	if _, err := s.Events(ctx, store.EventQuery{}, store.PageRequest{Cursor: "eHl6"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad cursor: err = %v, want ErrBadCursor", err)
	}
}

func testScanEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedQueryEvents(t, s)
	var got []string
	err := s.ScanEvents(ctx, store.EventQuery{Types: []tailor.EventType{tailor.View}}, func(e *tailor.Event) error {
		got = append(got, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1", "e5", "a1"}, got); diff != "" {
		t.Errorf("scanned ids (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	n := 0
	err = s.ScanEvents(ctx, store.EventQuery{}, func(*tailor.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("scan stopped with %v after %d events, want stop after 1", err, n)
	}
}

func testUpdateAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, ev("keep", "u1", "i1", tailor.View, t0))
	boom := errors.New("boom")
	err := s.Update(ctx, func(w store.Writer) error {
		if err := w.UpsertItems(ctx, []tailor.Item{{ID: "i9", Title: "half"}}); err != nil {
			return err
		}
		if _, err := w.InsertEvents(ctx, []tailor.Event{ev("lost", "u9", "i9", tailor.View, t0)}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update err = %v, want boom", err)
	}
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c != (store.Counts{Items: 1, Users: 1, Events: 1}) {
		t.Errorf("counts after failed update = %+v, want the state before it", c)
	}
	if _, err := s.Item(ctx, "i9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("item of failed update: err = %v, want ErrNotFound", err)
	}
	// An event without id is a programming error, reported, not stored.
	err = s.Update(ctx, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, []tailor.Event{{UserID: "u1", ItemID: "i1", Type: "view", Timestamp: t0}})
		return err
	})
	if err == nil {
		t.Error("event without id was accepted")
	}
}

func testDeleteUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedQueryEvents(t, s)
	n, err := s.DeleteUser(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("deleted events = %d, want 3", n)
	}
	if _, err := s.User(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user: err = %v", err)
	}
	page, _ := s.Events(ctx, store.EventQuery{}, store.PageRequest{})
	if diff := cmp.Diff([]string{"a1", "e5", "e4"}, ids(page.Data)); diff != "" {
		t.Errorf("remaining events (-want +got):\n%s", diff)
	}
	if _, err := s.DeleteUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

func testDeleteItem(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedQueryEvents(t, s)
	n, err := s.DeleteItem(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("deleted events = %d, want 3", n)
	}
	c, _ := s.Counts(ctx)
	if c != (store.Counts{Items: 2, Users: 2, Events: 3}) {
		t.Errorf("counts = %+v", c)
	}
	if _, err := s.DeleteItem(ctx, "i1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

func testDeleteThenRecreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, ev("e1", "u1", "i1", tailor.View, t0))
	if _, err := s.DeleteItem(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	insert(t, s, ev("e2", "u1", "i1", tailor.View, t0))
	page, err := s.Events(ctx, store.EventQuery{UserID: "u1", ItemID: "i1"}, store.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "e2" || page.Data[0].UserID != "u1" || page.Data[0].ItemID != "i1" {
		t.Errorf("events after re-creating = %+v", page.Data)
	}
	if c, _ := s.Counts(ctx); c != (store.Counts{Items: 1, Users: 1, Events: 1}) {
		t.Errorf("counts = %+v", c)
	}
}

// testConcurrentUpdates runs many Update calls at once, some failing after
// they wrote: each call's writes are kept or dropped as a whole, whatever
// the backend does to run them together.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	const calls = 40
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(w store.Writer) error {
				item := tailor.ItemID(fmt.Sprintf("i%d", i))
				if err := w.UpsertItems(ctx, []tailor.Item{{ID: item, Title: "t"}}); err != nil {
					return err
				}
				_, err := w.InsertEvents(ctx, []tailor.Event{
					ev(fmt.Sprintf("a%d", i), fmt.Sprintf("u%d", i), string(item), tailor.View, t0),
					ev(fmt.Sprintf("b%d", i), "shared", "shared-item", tailor.View, t0),
				})
				if err != nil {
					return err
				}
				if i%3 == 0 {
					return boom
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	kept := 0
	for i, err := range errs {
		switch {
		case i%3 == 0 && !errors.Is(err, boom):
			t.Errorf("call %d: err = %v, want boom", i, err)
		case i%3 != 0 && err != nil:
			t.Errorf("call %d: %v", i, err)
		case i%3 != 0:
			kept++
		}
	}
	for i := 0; i < calls; i++ {
		_, err := s.Item(ctx, tailor.ItemID(fmt.Sprintf("i%d", i)))
		if stored := err == nil; stored != (i%3 != 0) {
			t.Errorf("item i%d stored = %v (err %v)", i, stored, err)
		}
	}
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each kept call stored its item, its user and two events; the shared
	// item and user exist once.
	if want := (store.Counts{Items: kept + 1, Users: kept + 1, Events: 2 * kept}); c != want {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
}

// testDeferIndexes loads events with deferred indexes, where the backend
// offers it, and checks that reads work afterwards and that a failed load
// leaves the store as it was.
func testDeferIndexes(t *testing.T, s store.Store) {
	ctx := context.Background()
	load := func(prefix string, fail bool) error {
		return s.Update(ctx, func(w store.Writer) error {
			if d, ok := w.(store.IndexDeferrer); ok {
				if err := d.DeferIndexes(ctx, 1000); err != nil {
					return err
				}
			}
			var batch []tailor.Event
			for i := 0; i < 500; i++ {
				batch = append(batch, ev(fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("u%d", i%7), fmt.Sprintf("i%d", i%11), tailor.View, t0.Add(time.Duration(i)*time.Second)))
			}
			if _, err := w.InsertEvents(ctx, batch); err != nil {
				return err
			}
			// The same events again, in the same load: nothing new.
			res, err := w.InsertEvents(ctx, batch[:100])
			if err != nil {
				return err
			}
			if res.Inserted != 0 || res.Duplicates != 100 {
				t.Errorf("load %s: the batch again stored %+v, want 100 duplicates", prefix, res)
			}
			if fail {
				return errors.New("boom")
			}
			return nil
		})
	}
	if err := load("x", true); err == nil {
		t.Fatal("failed load reported no error")
	}
	if err := load("e", false); err != nil {
		t.Fatal(err)
	}
	if err := load("f", false); err != nil {
		t.Fatal(err)
	}
	page, err := s.Events(ctx, store.EventQuery{UserID: "u3", ItemID: "i5", Since: t0.Add(100 * time.Second)}, store.PageRequest{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// i ≡ 3 (mod 7) and i ≡ 5 (mod 11): i ≡ 38 (mod 77), i ≥ 100.
	var want []string
	for i := 499; i >= 100; i-- {
		if i%77 == 38 {
			want = append(want, fmt.Sprintf("f%d", i), fmt.Sprintf("e%d", i))
		}
	}
	if diff := cmp.Diff(want, ids(page.Data)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if c, _ := s.Counts(ctx); c.Events != 1000 {
		t.Errorf("events = %d, want 1000", c.Events)
	}
	// After the loads, ordinary writes still find their ids stored.
	err = s.Update(ctx, func(w store.Writer) error {
		res, err := w.InsertEvents(ctx, []tailor.Event{
			ev("e5", "u5", "i5", tailor.View, t0.Add(5*time.Second)),
			ev("g1", "u1", "i1", tailor.View, t0),
		})
		if err == nil && (res.Inserted != 1 || res.Duplicates != 1) {
			t.Errorf("insert after the loads = %+v, want 1 inserted, 1 duplicate", res)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(ctx); c.Events != 1001 {
		t.Errorf("events = %d, want 1001", c.Events)
	}
}
