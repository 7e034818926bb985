package insights

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// TestApplyAndProfile runs the service over a real SQLite store: 40
// shoppers with weekly to occasional purchases over a year.
func TestApplyAndProfile(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	err = db.Update(ctx, func(w store.Writer) error {
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
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
