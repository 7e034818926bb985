package insights

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/analytics"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// TestApplyAndProfile runs the service over a real SQLite store: 40
// shoppers with weekly to occasional purchases over a year.
func TestApplyAndProfile(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, ctx)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	price, cat := 10.0, []string{"mugs"}
	var events []tailor.Event
	for u := 0; u < 40; u++ {
		every := 7 * (1 + u%8) // days between purchases
		stop := 365 - 30*(u%5) // some stop early
		for d := u % 7; d < stop; d += every {
			events = append(events, tailor.Event{ID: fmt.Sprint(u, "-", d), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: "mug",
				Type: tailor.Purchase, UnitPrice: &price, OrderID: fmt.Sprint(u, "-", d), Timestamp: t0.AddDate(0, 0, d)})
		}
	}
	err := db.Update(ctx, func(w store.Writer) error {
		if err := w.UpsertItems(ctx, []tailor.Item{{ID: "mug", Categories: cat}}); err != nil {
			return err
		}
		if err := w.UpsertUsers(ctx, []tailor.User{{ID: "u3", Attributes: map[string]any{"tier": "gold"}}}); err != nil {
			return err
		}
		_, err := w.InsertEvents(ctx, events)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := New(db, time.Minute)
	// Before the first snapshot, a request waits for it (and gives up
	// with its context).
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := svc.Profile(short, "u3"); err == nil {
		t.Error("a profile was answered before the first snapshot")
	}
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first := svc.snap.Load()
	if err := svc.Refresh(ctx); err != nil || svc.snap.Load() != first {
		t.Errorf("an unchanged store was read again (%v)", err)
	}
	p, err := svc.Profile(ctx, "u3")
	if err != nil {
		t.Fatal(err)
	}
	if p.RFM == nil || p.Segment == "none" || len(p.FavouriteCategories) != 1 || p.FavouriteCategories[0] != "mugs" ||
		p.LifetimeValue == nil || p.Propensity == nil {
		t.Errorf("profile = %+v (notes %v)", p, p.Notes)
	}
	ids, err := svc.Apply(ctx, db)
	if err != nil || len(ids) != 40 {
		t.Fatalf("apply: %d, %v", len(ids), err)
	}
	// The store changed (the attributes do not count, an event does).
	more := tailor.Event{ID: "late", UserID: "u1", ItemID: "mug", Type: tailor.Purchase, UnitPrice: &price, Timestamp: t0.AddDate(1, 0, 0)}
	if err := db.Update(ctx, func(w store.Writer) error { _, err := w.InsertEvents(ctx, []tailor.Event{more}); return err }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Refresh(ctx); err != nil || svc.snap.Load() == first {
		t.Errorf("a changed store was not read again (%v)", err)
	}
	u, err := db.User(ctx, "u3")
	if err != nil {
		t.Fatal(err)
	}
	if u.Attributes["tier"] != "gold" || u.Attributes["segment"] != p.Segment || u.Attributes["propensity_band"] == nil {
		t.Errorf("u3 attributes = %v", u.Attributes)
	}
	for _, c := range []struct {
		p    float64
		band string
	}{{0.7, "high"}, {0.5, "high"}, {0.3, "medium"}, {0.1, "low"}} {
		if got := Band(c.p); got != c.band {
			t.Errorf("Band(%v) = %s, want %s", c.p, got, c.band)
		}
	}
}

// TestEmptyStore checks that an empty store gives a snapshot whose
// analyses say there is nothing to analyse, not a wait.
func TestEmptyStore(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, ctx)
	svc := New(db, time.Minute)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := svc.CLV(short); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CLV of an empty store: %v", err)
	}
}

// TestDeletionLeavesTheAnalyses runs the service with an hourly tick:
// after a shopper is deleted and Changed is called, RFM stops listing
// them within five seconds.
func TestDeletionLeavesTheAnalyses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openStore(t, ctx)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	price := 4.0
	var events []tailor.Event
	for u := range 10 {
		for d := 0; d < 200; d += 10 + u {
			events = append(events, tailor.Event{ID: fmt.Sprint(u, "-", d), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: "tea",
				Type: tailor.Purchase, UnitPrice: &price, OrderID: fmt.Sprint(u, "-", d), Timestamp: t0.AddDate(0, 0, d)})
		}
	}
	if err := db.Update(ctx, func(w store.Writer) error { _, err := w.InsertEvents(ctx, events); return err }); err != nil {
		t.Fatal(err)
	}
	svc := New(db, time.Hour)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, nil) }()
	listed := func(user tailor.UserID) bool {
		_, rows, err := svc.RFM(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.User == string(user) {
				return true
			}
		}
		return false
	}
	if !listed("u3") {
		t.Fatal("u3 is not in RFM before the deletion")
	}
	if _, err := db.DeleteUser(ctx, "u3"); err != nil {
		t.Fatal(err)
	}
	svc.Changed()
	deadline := time.Now().Add(5 * time.Second)
	for listed("u3") {
		if time.Now().After(deadline) {
			t.Fatal("u3 is still in RFM 5 s after the deletion")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The analyses of one snapshot are computed once per set of parameters,
// up to maxMemo sets; a new snapshot computes them anew.
func TestMemoizedAnalyses(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, ctx)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	price := 3.0
	var events []tailor.Event
	for u := range 12 {
		for d := 0; d < 120; d += 9 + u {
			user := tailor.UserID(fmt.Sprint("u", u))
			events = append(events,
				tailor.Event{ID: fmt.Sprint("v", u, "-", d), UserID: user, ItemID: "jar", Type: tailor.View, Timestamp: t0.AddDate(0, 0, d)},
				tailor.Event{ID: fmt.Sprint("p", u, "-", d), UserID: user, ItemID: "jar", Type: tailor.Purchase, UnitPrice: &price,
					OrderID: fmt.Sprint(u, "-", d), Timestamp: t0.AddDate(0, 0, d).Add(time.Hour)})
		}
	}
	if err := db.Update(ctx, func(w store.Writer) error { _, err := w.InsertEvents(ctx, events); return err }); err != nil {
		t.Fatal(err)
	}
	svc := New(db, time.Hour)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	opts := analytics.FunnelOptions{Steps: []tailor.EventType{tailor.View, tailor.Purchase}}
	f1, err := svc.Funnel(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := svc.Funnel(ctx, opts)
	if f1 != f2 {
		t.Error("the same funnel was computed twice on one snapshot")
	}
	if f3, _ := svc.Funnel(ctx, analytics.FunnelOptions{Steps: opts.Steps, BySession: true}); f3 == f1 || f3.By != "session" {
		t.Errorf("another funnel's options gave %+v", f3)
	}
	c1, _ := svc.Cohorts(ctx, "week")
	c2, _ := svc.Cohorts(ctx, "month")
	if len(c1) <= len(c2) {
		t.Errorf("%d weekly and %d monthly cohorts", len(c1), len(c2))
	}
	// Past the bound, answers are still right, just not kept.
	for w := range 2 * maxMemo {
		f, err := svc.Funnel(ctx, analytics.FunnelOptions{Steps: opts.Steps, Window: time.Duration(w+1) * 24 * time.Hour})
		if err != nil || f.Steps[0].Reached != 12 {
			t.Fatalf("funnel with a %d-day window: %+v, %v", w+1, f, err)
		}
	}
	if n := svc.snap.Load().memoSize.Load(); n != maxMemo {
		t.Errorf("the snapshot keeps %d analyses, want %d", n, maxMemo)
	}
	// A new shopper's view: the next snapshot's funnel has them.
	err = db.Update(ctx, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, []tailor.Event{{ID: "new", UserID: "u99", ItemID: "jar", Type: tailor.View, Timestamp: t0.AddDate(0, 0, 130)}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if f4, _ := svc.Funnel(ctx, opts); f4 == f1 || f4.Steps[0].Reached != 13 || f1.Steps[0].Reached != 12 {
		t.Errorf("after a new view: funnel %+v (before %+v)", f4.Steps, f1.Steps)
	}
}

// TestRefreshMetrics checks what /metrics says of the refreshes: one read
// per change of the store (none when it did not change), its duration and
// the snapshot's time, and a failed refresh counted while the last good
// snapshot keeps answering.
func TestRefreshMetrics(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, ctx)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	price := 5.0
	purchase := func(u, d int) tailor.Event {
		return tailor.Event{ID: fmt.Sprint(u, "-", d), UserID: tailor.UserID(fmt.Sprint("u", u)), ItemID: "soap",
			Type: tailor.Purchase, UnitPrice: &price, OrderID: fmt.Sprint(u, "-", d), Timestamp: t0.AddDate(0, 0, d)}
	}
	var events []tailor.Event
	for u := range 8 {
		for d := 0; d < 150; d += 12 + u {
			events = append(events, purchase(u, d))
		}
	}
	insert := func(es ...tailor.Event) {
		t.Helper()
		if err := db.Update(ctx, func(w store.Writer) error { _, err := w.InsertEvents(ctx, es); return err }); err != nil {
			t.Fatal(err)
		}
	}
	insert(events...)
	reg := prometheus.NewRegistry()
	svc := New(db, time.Hour)
	if err := svc.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	if err := svc.Instrument(reg); err == nil {
		t.Error("the metrics were registered twice with one registry")
	}
	check := func(ok, failed float64) {
		t.Helper()
		if got := testutil.ToFloat64(svc.refreshes.WithLabelValues("ok")); got != ok {
			t.Errorf("refreshes ok = %v, want %v", got, ok)
		}
		if got := testutil.ToFloat64(svc.refreshes.WithLabelValues("failed")); got != failed {
			t.Errorf("refreshes failed = %v, want %v", got, failed)
		}
		if n := testutil.CollectAndCount(reg, "tailor_analyses_refresh_duration_seconds"); n != 1 {
			t.Errorf("%d duration series, want 1", n)
		}
	}
	check(0, 0)
	if got := testutil.ToFloat64(svc.snapshotTime); got != 0 {
		t.Errorf("snapshot time %v before the first refresh, want 0", got)
	}
	before := time.Now()
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check(1, 0)
	if got := testutil.ToFloat64(svc.snapshotTime); got < float64(before.Unix()) {
		t.Errorf("snapshot time %v, want at least %d", got, before.Unix())
	}
	if err := svc.Refresh(ctx); err != nil { // nothing changed: nothing read
		t.Fatal(err)
	}
	check(1, 0)
	insert(purchase(9, 3))
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check(2, 0)
	db.Close()
	if err := svc.Refresh(ctx); err == nil {
		t.Fatal("a refresh of a closed store succeeded")
	}
	check(2, 1)
	if _, rows, err := svc.RFM(ctx, time.Time{}); err != nil || len(rows) != 9 {
		t.Errorf("after a failed refresh, RFM answers %d shoppers (%v), want the last snapshot's 9", len(rows), err)
	}
}

// TestAfterRefresh runs the service on a short tick: AfterRefresh is
// called once per refresh that read the store, never on a tick that found
// it unchanged.
func TestAfterRefresh(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openStore(t, ctx)
	price := 2.0
	insert := func(id string, d int) {
		t.Helper()
		e := tailor.Event{ID: id, UserID: "u1", ItemID: "pen", Type: tailor.Purchase, UnitPrice: &price, OrderID: id,
			Timestamp: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d)}
		if err := db.Update(ctx, func(w store.Writer) error { _, err := w.InsertEvents(ctx, []tailor.Event{e}); return err }); err != nil {
			t.Fatal(err)
		}
	}
	insert("a", 0)
	insert("b", 9)
	svc := New(db, 5*time.Millisecond)
	calls := make(chan struct{}, 16)
	svc.AfterRefresh = func() { calls <- struct{}{} }
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, func(err error) { t.Error(err) }) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("no AfterRefresh call %s", what)
		}
	}
	wait("after the first snapshot")
	time.Sleep(100 * time.Millisecond) // twenty ticks on an unchanged store
	if n := len(calls); n != 0 {
		t.Fatalf("%d AfterRefresh calls while the store did not change", n)
	}
	insert("c", 20)
	wait("after an event was added")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// openStore opens a new SQLite store in the test's folder, closed at the
// test's end.
func openStore(t *testing.T, ctx context.Context) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
