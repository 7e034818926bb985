package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/postgres/pgtest"
)

// partitions lists the events table's partitions and how many rows each
// holds.
func partitions(t *testing.T, conn *pgx.Conn) map[string]int {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = 'events' AND p.relnamespace = to_regnamespace(current_schema())`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, n := range names {
		var c int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+n).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	return out
}

// loadTables lists the tables and indexes of bulk loads that are not
// partitions or their indexes.
func loadTables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT relname FROM pg_class WHERE relname LIKE 'events\_load\_%'
		AND relnamespace = to_regnamespace(current_schema()) ORDER BY relname`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestBulkLoadMeetsAWriter: a month whose partition another writer makes
// while a bulk load copies its events on the side ends up in that
// partition, with the load's events; nothing of the load stays behind.
func TestBulkLoadMeetsAWriter(t *testing.T) {
	url := pgtest.Store(t)
	db := openURL(t, url)
	conn := sqlConn(t, url)
	ctx := context.Background()
	march := time.Date(2009, 3, 10, 0, 0, 0, 0, time.UTC)
	// A store with events (a load into an empty one holds the event ids
	// alone: the other writer would wait for it).
	if err := insert(t, db, false, ev("a1", "u1", "i1", march.AddDate(-1, 0, 0))); err != nil {
		t.Fatal(err)
	}
	var bulk []tailor.Event
	for i := range 200 {
		bulk = append(bulk, ev(fmt.Sprintf("b%d", i), fmt.Sprintf("u%d", i%5), "i1", march.Add(time.Duration(i)*time.Hour)))
	}
	err := db.Update(ctx, func(w store.Writer) error {
		if err := w.(store.IndexDeferrer).DeferIndexes(ctx, len(bulk)); err != nil {
			return err
		}
		if _, err := w.InsertEvents(ctx, bulk); err != nil {
			return err
		}
		// Another writer, in a transaction of its own, makes March's
		// partition before the load ends.
		return insert(t, db, false, ev("w1", "u9", "i2", march))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, conn); got["events_p200903"] != 201 {
		t.Errorf("partitions: %v, want March's with 201 events", got)
	}
	if left := loadTables(t, conn); len(left) > 0 {
		t.Errorf("the load left: %v", left)
	}
}

// TestMaintainDropsDeadLoads: the tables of a load whose process died (no
// session holds its lock) are dropped; those of a running load are not.
func TestMaintainDropsDeadLoads(t *testing.T) {
	url := pgtest.Store(t)
	db := openURL(t, url)
	conn := sqlConn(t, url)
	other := sqlConn(t, url)
	ctx := context.Background()
	for _, table := range []string{"events_load_11_p201001", "events_load_11_p201002", "events_load_12_p201001"} {
		if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (LIKE events INCLUDING DEFAULTS)"); err != nil {
			t.Fatal(err)
		}
	}
	// Load 12 runs: its session holds its lock.
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1, 12)", int32(0x6c6f6164)); err != nil {
		t.Fatal(err)
	}
	if err := db.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if left := loadTables(t, conn); !slices.Equal(left, []string{"events_load_12_p201001"}) {
		t.Errorf("after Maintain: %v, want only the running load's table", left)
	}
}

// TestPartitions checks where events go: each month into a partition of
// its own, made by the writer (or at the end of a bulk load), a month far
// outside the window into the default partition, and a month left in the
// default partition moved out by Maintain; reads see every event wherever
// it is.
func TestPartitions(t *testing.T) {
	url := pgtest.Store(t)
	db := openURL(t, url)
	conn := sqlConn(t, url)
	ctx := context.Background()
	now := time.Now().UTC()
	cur := fmt.Sprintf("events_p%04d%02d", now.Year(), int(now.Month()))
	if got := partitions(t, conn); len(got) != 3 || got[cur] != 0 || got["events_default"] != 0 {
		t.Fatalf("partitions of a new store = %v, want the default, this month's and the next", got)
	}

	jan := time.Date(2011, 1, 15, 12, 0, 0, 0, time.UTC)
	if err := insert(t, db, false, ev("a1", "u1", "i1", jan), ev("a2", "u1", "i2", jan.AddDate(0, 1, 0)),
		ev("a3", "u2", "i1", now), ev("a4", "u2", "i1", time.Date(1900, 6, 1, 0, 0, 0, 0, time.UTC))); err != nil {
		t.Fatal(err)
	}
	got := partitions(t, conn)
	if got["events_p201101"] != 1 || got["events_p201102"] != 1 || got[cur] != 1 || got["events_default"] != 1 {
		t.Errorf("after a write: %v", got)
	}

	// A bulk load's months are attached at its end; a failed one leaves
	// no table behind.
	var bulk []tailor.Event
	for i := range 300 {
		bulk = append(bulk, ev(fmt.Sprintf("b%d", i), fmt.Sprintf("bu%d", i%5), fmt.Sprintf("i%d", i%7), time.Date(2010, time.Month(3+i%3), 1+i%28, 0, 0, 0, 0, time.UTC)))
	}
	boom := errors.New("boom")
	err := db.Update(ctx, func(w store.Writer) error {
		if err := w.(store.IndexDeferrer).DeferIndexes(ctx, len(bulk)); err != nil {
			return err
		}
		if _, err := w.InsertEvents(ctx, bulk); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed load: %v", err)
	}
	if got := partitions(t, conn); got["events_p201003"] != 0 || len(got) != 5 {
		t.Errorf("after a failed bulk load: %v", got)
	}
	if left := loadTables(t, conn); len(left) > 0 {
		t.Errorf("a failed bulk load left its tables: %v", left)
	}
	if err := insert(t, db, true, bulk...); err != nil {
		t.Fatal(err)
	}
	got = partitions(t, conn)
	if got["events_p201003"] != 100 || got["events_p201004"] != 100 || got["events_p201005"] != 100 {
		t.Errorf("after a bulk load: %v", got)
	}
	var indexes int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = 'events_p201004' AND indexname LIKE 'events\_p201004\_%'
		AND schemaname = current_schema()`).Scan(&indexes); err != nil || indexes != 4 {
		t.Errorf("the bulk-loaded partition has %d indexes named as its own (%v), want 4", indexes, err)
	}
	if left := loadTables(t, conn); len(left) > 0 {
		t.Errorf("a bulk load left tables that are not partitions: %v", left)
	}

	// Events of a month with no partition that wait in the default one
	// (as when the writer could not make it) are moved by Maintain.
	if _, err := conn.Exec(ctx, `DROP TABLE events_p201102`); err != nil {
		t.Fatal(err)
	}
	if err := insert(t, db, false, ev("c1", "u9", "i1", jan.AddDate(0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	// The process still thinks the month has its partition: the event
	// went to the default one.
	if got := partitions(t, conn); got["events_default"] != 2 {
		t.Fatalf("before Maintain: %v", got)
	}
	if err := db.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, conn); got["events_default"] != 1 || got["events_p201102"] != 1 {
		t.Errorf("after Maintain: %v (the 1900 event stays in the default partition)", got)
	}

	var all []string
	if err := db.ScanEvents(ctx, store.EventQuery{}, func(e *tailor.Event) error { all = append(all, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(all) != 4+300 || all[0] != "a4" || all[len(all)-1] != "a3" {
		t.Errorf("scan: %d events, first %s, last %s", len(all), all[0], all[len(all)-1])
	}
	page, err := db.Events(ctx, store.EventQuery{UserID: "u1"}, store.PageRequest{})
	if err != nil || !slices.Equal(ids(page.Data), []string{"a1"}) {
		t.Errorf("u1's events: %v %v", ids(page.Data), err)
	}
}
