package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Two handles on one file stand for two processes, each with its own key
// caches. When one deletes the newest shopper and creates another (SQLite
// may hand the new one the freed key), the other's next event for the
// deleted shopper must not land on the new one.
func TestTwoWritersNeverMisattribute(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tailor.db")
	a, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	insert := func(db *DB, id, user string, at time.Duration) {
		t.Helper()
		err := db.Update(ctx, func(w store.Writer) error {
			_, err := w.InsertEvents(ctx, []tailor.Event{{ID: id, UserID: tailor.UserID(user), ItemID: "i1", Type: tailor.Purchase, Timestamp: t0.Add(at)}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	insert(a, "e1", "alice", 0) // a caches alice's key
	if _, err := b.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	insert(b, "e2", "bob", time.Minute) // bob may get alice's old key
	insert(a, "e3", "alice", 2*time.Minute)
	owner := func(user string) []string {
		page, err := b.Events(ctx, store.EventQuery{UserID: tailor.UserID(user)}, store.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range page.Data {
			ids = append(ids, e.ID)
		}
		return ids
	}
	if got := owner("bob"); len(got) != 1 || got[0] != "e2" {
		t.Errorf("bob's events: %v, want [e2]", got)
	}
	if got := owner("alice"); len(got) != 1 || got[0] != "e3" {
		t.Errorf("alice's events: %v, want [e3]", got)
	}
	if a.foreignCommits.Load() < 2 {
		t.Errorf("a saw %d foreign commits, want at least 2 (its first write, and after b's)", a.foreignCommits.Load())
	}
	// Its own writes do not drop its caches.
	before := a.foreignCommits.Load()
	for i := range 5 {
		insert(a, "own"+string(rune('0'+i)), "carol", time.Hour+time.Duration(i)*time.Minute)
	}
	if n := a.foreignCommits.Load() - before; n != 0 {
		t.Errorf("a's own writes counted %d foreign commits", n)
	}
}
