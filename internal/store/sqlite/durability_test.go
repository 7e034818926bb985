package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// TestDurability checks the writer's sync mode for each durability: FULL
// (2) by default, NORMAL (1) for DurabilityProcess.
func TestDurability(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		d    Durability
		want int
	}{{DurabilityFull, 2}, {DurabilityProcess, 1}} {
		db, err := Open(ctx, filepath.Join(t.TempDir(), "tailor.db"), Options{Durability: tc.d})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil || got != tc.want {
			t.Errorf("durability %d: synchronous %d (%v), want %d", tc.d, got, err, tc.want)
		}
		db.Close()
	}
}

// TestBusyWriter holds the write lock from another connection, as another
// process importing would: a write waits BusyTimeout, then fails with
// store.ErrBusy having written nothing, and succeeds once the lock is
// released.
func TestBusyWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tailor.db")
	db, err := Open(ctx, path, Options{BusyTimeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	write := func() error {
		return db.Update(ctx, func(w store.Writer) error {
			return w.UpsertItems(ctx, []tailor.Item{{ID: "i1"}})
		})
	}
	start := time.Now()
	err = write()
	if !errors.Is(err, store.ErrBusy) {
		t.Fatalf("a write while another holds the lock: %v, want store.ErrBusy", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("failed after %v, before the busy timeout", waited)
	}
	if c, _ := db.Counts(ctx); c.Items != 0 {
		t.Errorf("%d items after a failed write", c.Items)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}
