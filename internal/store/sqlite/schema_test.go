package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestArtifactChunksMigration opens a store made before artifacts were
// kept in chunks: every artifact (larger than a chunk, exactly one, empty)
// reads back byte for byte, and new versions save and read as before.
func TestArtifactChunksMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tailor.db")
	raw := storeBefore(t, path, "CREATE TABLE model_chunks")
	arts := map[string][]byte{"big": make([]byte, 2*artifactChunk+7), "one": bytes.Repeat([]byte{3}, artifactChunk), "empty": {}}
	for i := range arts["big"] {
		arts["big"][i] = byte(i ^ i>>9)
	}
	for id, a := range arts {
		_, err := raw.ExecContext(ctx, `INSERT INTO models (id, slot, model, data_until, bytes, created_at, artifact) VALUES (?, 'default', 'ease', 0, ?, 0, ?)`,
			id, len(a), a)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open the old store: %v", err)
	}
	defer db.Close()
	for id, want := range arts {
		got, err := db.ModelArtifact(ctx, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the migration: %d bytes, %v; want %d", id, len(got), err, len(want))
		}
	}
	var chunks int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM model_chunks WHERE model_id = 'big'`).Scan(&chunks); err != nil || chunks != 3 {
		t.Errorf("big is in %d chunks (%v), want 3", chunks, err)
	}
}

// storeBefore makes a store at path with the migrations before the first
// that contains marker, as a binary of that time left it, and returns a
// plain connection to it (close it before opening the store).
func storeBefore(t *testing.T, path, marker string) *sql.DB {
	t.Helper()
	k := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, marker) })
	if k < 0 {
		t.Fatalf("no migration contains %q", marker)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for v, m := range migrations[:k] {
		if _, err := raw.ExecContext(context.Background(), m); err != nil {
			t.Fatalf("migration %d: %v", v+1, err)
		}
	}
	if _, err := raw.ExecContext(context.Background(), fmt.Sprintf("PRAGMA user_version = %d", k)); err != nil {
		t.Fatal(err)
	}
	return raw
}
