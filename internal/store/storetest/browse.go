package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

func testReports(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Report(ctx, "import"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("report of an empty store: %v, want ErrNotFound", err)
	}
	for _, bad := range []store.Report{
		{Kind: "", Body: json.RawMessage(`{}`)},
		{Kind: "import", Body: json.RawMessage(`[1]`)},
		{Kind: "import", Body: json.RawMessage(`{"a":`)},
		{Kind: "import", Body: json.RawMessage(`null`)},
	} {
		if err := s.PutReport(ctx, bad); err == nil {
			t.Errorf("PutReport(%q, %s) succeeded", bad.Kind, bad.Body)
		}
	}
	at := t0
	for i, body := range []string{`{"rows":1}`, `{"rows":2}`} {
		if err := s.PutReport(ctx, store.Report{Kind: "import", CreatedAt: at.Add(time.Duration(i) * time.Hour), Body: json.RawMessage(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutReport(ctx, store.Report{Kind: "evaluation", Body: json.RawMessage(`{"k":10}`)}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Report(ctx, "import")
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Body) != `{"rows":2}` || !r.CreatedAt.Equal(at.Add(time.Hour)) || r.Kind != "import" {
		t.Errorf("import report = %s at %v, want the second one", r.Body, r.CreatedAt)
	}
	if r, err := s.Report(ctx, "evaluation"); err != nil || string(r.Body) != `{"k":10}` || r.CreatedAt.IsZero() {
		t.Errorf("evaluation report = %s at %v, %v", r.Body, r.CreatedAt, err)
	}
}

func testBrowse(t *testing.T, s store.Store) {
	ctx := context.Background()
	items := []tailor.Item{
		{ID: "a", Categories: []string{"Home/Kitchen/Mugs", "Home/Kitchen"}},
		{ID: "b", Categories: []string{"Home/Kitchen"}},
		{ID: "c", Categories: []string{"Home/Garden", "Gifts"}},
		{ID: "d", Categories: []string{"Home/Kitchenware"}},
		{ID: "e", Categories: []string{"Gifts"}, Hidden: true},
		{ID: "f", Categories: []string{"Fees"}, NonProduct: true},
		{ID: "g"},
	}
	update(t, s, func(ctx context.Context, w store.Writer) error { return w.UpsertItems(ctx, items) })
	cats, err := s.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.CategoryCount{{Category: "Gifts", Items: 1}, {Category: "Home", Items: 4}, {Category: "Home/Garden", Items: 1}, {Category: "Home/Kitchen", Items: 2}, {Category: "Home/Kitchen/Mugs", Items: 1}, {Category: "Home/Kitchenware", Items: 1}}
	if diff := cmp.Diff(want, cats); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}
	ids := func(category string, size int) []tailor.ItemID {
		t.Helper()
		var out []tailor.ItemID
		req := store.PageRequest{Limit: size}
		for {
			page, err := s.CategoryItems(ctx, category, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Data {
				out = append(out, it.ID)
			}
			if page.NextCursor == "" {
				return out
			}
			req.Cursor = page.NextCursor
		}
	}
	for _, tc := range []struct {
		category string
		want     []tailor.ItemID
	}{
		{"Home", []tailor.ItemID{"a", "b", "c", "d"}},
		{"Home/Kitchen", []tailor.ItemID{"a", "b"}}, // not Home/Kitchenware
		{"Gifts", []tailor.ItemID{"c"}},             // not the hidden e
		{"Fees", nil},
		{"Nothing", nil},
		{"Home/Kitchen/Mugs", []tailor.ItemID{"a"}},
	} {
		for _, size := range []int{1, 100} {
			if got := ids(tc.category, size); !slices.Equal(got, tc.want) {
				t.Errorf("items in %q (pages of %d) = %v, want %v", tc.category, size, got, tc.want)
			}
		}
	}
	if _, err := s.CategoryItems(ctx, "Home", store.PageRequest{Cursor: "%%%"}); err == nil {
		t.Error("a bad cursor was accepted")
	}

	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	insert(t, s,
		ev("e1", "u1", "a", tailor.View, day.Add(-time.Hour)), // before since
		ev("e2", "u1", "a", tailor.View, day.Add(time.Hour)),
		ev("e3", "u2", "b", tailor.View, day.Add(23*time.Hour)),
		ev("e4", "u2", "b", tailor.Purchase, day.Add(2*time.Hour)),
		ev("e5", "u2", "c", tailor.View, day.Add(25*time.Hour)),
	)
	got, err := s.EventsPerDay(ctx, day.Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantDays := []store.DayCount{
		{Day: "2024-03-01", Type: tailor.Purchase, Events: 1},
		{Day: "2024-03-01", Type: tailor.View, Events: 2},
		{Day: "2024-03-02", Type: tailor.View, Events: 1},
	}
	if diff := cmp.Diff(wantDays, got); diff != "" {
		t.Errorf("events per day (-want +got):\n%s", diff)
	}
}

// testRetryAfterDelete: a batch acknowledged before a deletion and sent
// again after it brings back neither the shopper, the item nor the events,
// even once new events of the same shopper and item (which are stored)
// have created them again.
func testRetryAfterDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	batch := []tailor.Event{
		ev("r1", "gone", "i1", tailor.View, t0),
		ev("r2", "gone", "i2", tailor.Purchase, t0.Add(time.Minute)),
		ev("r3", "kept", "gone-item", tailor.View, t0.Add(2*time.Minute)),
		ev("r4", "kept", "i1", tailor.View, t0.Add(3*time.Minute)),
	}
	insert(t, s, batch...)
	if _, err := s.DeleteUser(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteItem(ctx, "gone-item"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Counts(ctx)
	res := insert(t, s, batch...)
	if res.Inserted != 0 || res.Duplicates != 4 {
		t.Errorf("the retried batch: %+v, want 0 inserted and 4 duplicates", res)
	}
	if _, err := s.User(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the retry brought the deleted shopper back: %v", err)
	}
	if _, err := s.Item(ctx, "gone-item"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the retry brought the deleted item back: %v", err)
	}
	if after, _ := s.Counts(ctx); after != before {
		t.Errorf("counts after the retry %+v, before %+v", after, before)
	}
	// A new event of the same shopper is theirs to send.
	if res := insert(t, s, ev("r5", "gone", "i1", tailor.View, t0.Add(time.Hour))); res.Inserted != 1 {
		t.Errorf("a new event of a deleted shopper: %+v", res)
	}
	if _, err := s.User(ctx, "gone"); err != nil {
		t.Errorf("the shopper's new event did not create them: %v", err)
	}
	// With the shopper and the item back, the old batch is still spent:
	// its deleted events stay deleted.
	insert(t, s, ev("r6", "kept", "gone-item", tailor.View, t0.Add(time.Hour)))
	if res := insert(t, s, batch...); res.Inserted != 0 || res.Duplicates != 4 {
		t.Errorf("the batch retried once the shopper and the item were back: %+v, want 0 inserted and 4 duplicates", res)
	}
}
