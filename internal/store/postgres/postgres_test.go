package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/postgres"
	"github.com/tailorhq/tailor/internal/store/postgres/pgtest"
	"github.com/tailorhq/tailor/internal/store/storetest"
)

// open opens a store in a schema of the test's own.
func open(t *testing.T) *postgres.DB {
	t.Helper()
	url := pgtest.URL(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{Schema: pgtest.Schema(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openURL opens a store at url (several handles may share one).
func openURL(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sqlConn is a plain connection to the store at url, to look under it.
func sqlConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func ev(id, user, item string, at time.Time) tailor.Event {
	return tailor.Event{ID: id, UserID: tailor.UserID(user), ItemID: tailor.ItemID(item), Type: tailor.View, Timestamp: at}
}

func insert(t *testing.T, db *postgres.DB, bulk bool, events ...tailor.Event) error {
	t.Helper()
	ctx := context.Background()
	return db.Update(ctx, func(w store.Writer) error {
		if bulk {
			if err := w.(store.IndexDeferrer).DeferIndexes(ctx, len(events)); err != nil {
				return err
			}
		}
		_, err := w.InsertEvents(ctx, events)
		return err
	})
}

func ids(events []tailor.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestTextPostgreSQLCannotStore checks that a NUL character or invalid
// UTF-8 is refused with the field named, and nothing of the call stored.
func TestTextPostgreSQLCannotStore(t *testing.T) {
	db := openURL(t, pgtest.Store(t))
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(w store.Writer) error
		want string
	}{
		{"item title", func(w store.Writer) error {
			return w.UpsertItems(ctx, []tailor.Item{{ID: "ok"}, {ID: "bad", Title: "tea\x00pot"}})
		}, `upsert item "bad": title: a NUL character at byte 3`},
		{"item category", func(w store.Writer) error {
			return w.UpsertItems(ctx, []tailor.Item{{ID: "bad", Categories: []string{"a", "b\xff"}}})
		}, `categories[1]: not valid UTF-8`},
		{"user id", func(w store.Writer) error {
			return w.UpsertUsers(ctx, []tailor.User{{ID: "u\x00"}})
		}, `id: a NUL character`},
		{"event session", func(w store.Writer) error {
			e := ev("e1", "u1", "i1", time.Now())
			e.SessionID = "s\x00"
			_, err := w.InsertEvents(ctx, []tailor.Event{ev("e0", "u1", "i1", time.Now()), e})
			return err
		}, `event 1 ("e1"): session_id: a NUL character`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := db.Update(ctx, func(w store.Writer) error {
				if err := w.UpsertItems(ctx, []tailor.Item{{ID: "first"}}); err != nil {
					return err
				}
				return c.fn(w)
			})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to say %q", err, c.want)
			}
			if n, _ := db.Counts(ctx); n != (store.Counts{}) {
				t.Errorf("counts after the failed call = %+v", n)
			}
		})
	}
}

// TestDeleteRacesInserts deletes a shopper while others keep posting
// events for them from another handle (another replica): no event is left
// pointing at a deleted shopper, and none of the deleted ones comes back.
func TestDeleteRacesInserts(t *testing.T) {
	url := pgtest.Store(t)
	a, b := openURL(t, url), openURL(t, url)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	acked := make([][]tailor.Event, 3) // each writer's acknowledged events of the victim
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := []tailor.Event{ev(fmt.Sprintf("w%d-%d", w, i), "victim", "i1", time.Now()), ev(fmt.Sprintf("x%d-%d", w, i), "other", "i2", time.Now())}
				if err := insert(t, a, false, e...); err != nil {
					t.Error(err)
					return
				}
				acked[w] = append(acked[w], e[0])
			}
		}()
	}
	deleted := 0
	for range 30 {
		time.Sleep(5 * time.Millisecond)
		n, err := b.DeleteUser(ctx, "victim")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		deleted += n
	}
	close(stop)
	wg.Wait()
	conn := sqlConn(t, url)
	var orphans int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM events e WHERE user_ix IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM users u WHERE u.ix = e.user_ix)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d events point at deleted shoppers", orphans)
	}
	if deleted == 0 {
		t.Error("no deletion removed any event: the race was not run")
	}
	// Retrying every acknowledged event brings none of the deleted ones
	// back (and stores none of the others twice).
	var resent []tailor.Event
	for w := range 3 {
		resent = append(resent, acked[w]...)
	}
	var res store.InsertResult
	err := a.Update(ctx, func(w store.Writer) (err error) { res, err = w.InsertEvents(ctx, resent); return err })
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 0 {
		t.Errorf("a retry stored %d events already stored or deleted", res.Inserted)
	}
}

// TestSharedStore opens one store from two handles at once (two replicas
// starting together): the migration runs once, and what one writes the
// other reads, the registry included.
func TestSharedStore(t *testing.T) {
	url := pgtest.Store(t)
	ctx := context.Background()
	dbs := make([]*postgres.DB, 4)
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = postgres.Open(ctx, url, postgres.Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	if err := insert(t, dbs[0], false, ev("e1", "u1", "i1", time.Now())); err != nil {
		t.Fatal(err)
	}
	if c, err := dbs[1].Counts(ctx); err != nil || c != (store.Counts{Items: 1, Users: 1, Events: 1}) {
		t.Errorf("the other handle counts %+v (%v)", c, err)
	}
	v := store.ModelVersion{ID: "01V", Slot: "default", Model: "popular"}
	if err := dbs[2].SaveModel(ctx, v, []byte("artifact")); err != nil {
		t.Fatal(err)
	}
	if err := dbs[2].ActivateModel(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := dbs[3].ActiveModel(ctx, "default"); err != nil || got.ID != v.ID {
		t.Errorf("the other handle's active model = %+v (%v)", got, err)
	}
}

// TestOpenErrors names what is wrong with a bad URL or an unreachable
// server, without the password.
func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://tailor:s3cret@127.0.0.1:1/nowhere?connect_timeout=2", postgres.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "tailor@127.0.0.1:1/nowhere") {
		t.Errorf("err = %v", err)
	}
	_, err = postgres.Open(ctx, "postgres://h/db?sslmode=bogus", postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "sslmode") {
		t.Errorf("err = %v", err)
	}
}

// TestLead elects one leader among three handles of a store; when it
// closes (its process dies), another takes the lead at its next try.
func TestLead(t *testing.T) {
	url := pgtest.Store(t)
	ctx := context.Background()
	var dbs []*postgres.DB
	for range 3 {
		db, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	leaders := func() []int {
		var out []int
		for i, db := range dbs {
			lead, err := db.Lead(ctx, "retrain")
			if err != nil {
				t.Fatal(err)
			}
			if lead {
				out = append(out, i)
			}
		}
		return out
	}
	first := leaders()
	if len(first) != 1 {
		t.Fatalf("leaders %v, want one", first)
	}
	if again := leaders(); !slices.Equal(again, first) {
		t.Errorf("the lead moved from %v to %v", first, again)
	}
	// Another job has a leader of its own.
	if lead, err := dbs[(first[0]+1)%3].Lead(ctx, "scrub"); err != nil || !lead {
		t.Errorf("scrub: lead %v, %v", lead, err)
	}
	dbs[first[0]].Close()
	rest := slices.Delete(slices.Clone(dbs), first[0], first[0]+1)
	dbs = rest
	if next := leaders(); len(next) != 1 {
		t.Errorf("after the leader closed: leaders %v, want one", next)
	}
}

// TestReplicas records replicas' reports and lists those seen lately.
func TestReplicas(t *testing.T) {
	db := openURL(t, pgtest.Store(t))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	reports := []store.Replica{
		{ID: "a", Version: "v1", LoadedAt: now.Add(-time.Minute), SeenAt: now},
		{ID: "b", Version: "v1", LoadedAt: now.Add(-time.Minute), SeenAt: now.Add(-time.Hour)},
		{ID: "a", Version: "v2", LoadedAt: now, SeenAt: now},
	}
	for _, r := range reports {
		if err := db.ReportReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Replicas(ctx, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "a" || got[0].Version != "v2" || !got[0].LoadedAt.Equal(now) {
		t.Errorf("replicas seen in the last minute: %+v", got)
	}
	if all, _ := db.Replicas(ctx, time.Time{}); len(all) != 2 {
		t.Errorf("all replicas: %+v", all)
	}
	if err := db.ReportReplica(ctx, store.Replica{}); err == nil {
		t.Error("a report without an id was taken")
	}
}

// TestDeleteWaitsForWriters: a deletion waits for the transactions writing
// events, at most the busy timeout, then fails with store.ErrBusy having
// deleted nothing; once they end it goes through.
func TestDeleteWaitsForWriters(t *testing.T) {
	ctx := context.Background()
	db := openBusy(t)
	if err := insert(t, db, false, ev("e1", "gone", "i1", time.Now())); err != nil {
		t.Fatal(err)
	}
	release := holding(t, db, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, []tailor.Event{ev("e2", "other", "i1", time.Now())})
		return err
	})
	gaveUp(t, "the deletion", func() error { _, err := db.DeleteUser(ctx, "gone"); return err })
	if _, err := db.User(ctx, "gone"); err != nil {
		t.Errorf("the refused deletion deleted: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteUser(ctx, "gone"); err != nil || n != 1 {
		t.Errorf("delete after the write: %d %v", n, err)
	}
}

// TestReadURL sends listings and scans to the read URL's pool (here the
// same database, as a streaming replica would hold).
func TestReadURL(t *testing.T) {
	url := pgtest.Store(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{ReadURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := insert(t, db, false, ev("e1", "u1", "i1", time.Now())); err != nil {
		t.Fatal(err)
	}
	page, err := db.Items(ctx, store.PageRequest{})
	if err != nil || len(page.Data) != 1 {
		t.Errorf("items through the read URL: %+v %v", page, err)
	}
	n := 0
	if err := db.ScanEvents(ctx, store.EventQuery{}, func(*tailor.Event) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("scan through the read URL: %d %v", n, err)
	}
	if _, err := postgres.Open(ctx, url, postgres.Options{ReadURL: "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"}); err == nil {
		t.Error("an unreachable read URL was accepted")
	}
}

// openBusy opens a store of its own with a busy timeout of 300 ms.
func openBusy(t *testing.T) *postgres.DB {
	t.Helper()
	url := pgtest.Store(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{BusyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// holding runs fn in a write transaction in the background and holds the
// transaction open (a long import) until release, which returns the
// write's error.
func holding(t *testing.T, db *postgres.DB, fn func(w store.Writer) error) (release func() error) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), func(w store.Writer) error {
			if err := fn(w); err != nil {
				close(started)
				return err
			}
			close(started)
			<-hold
			return nil
		})
	}()
	<-started
	return func() error { close(hold); return <-done }
}

// gaveUp checks that write fails with ErrBusy after about the busy
// timeout (300 ms).
func gaveUp(t *testing.T, what string, write func() error) {
	t.Helper()
	start := time.Now()
	if err := write(); !errors.Is(err, store.ErrBusy) {
		t.Errorf("%s: %v, want ErrBusy", what, err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("%s gave up after %v, want about the busy timeout (300 ms)", what, took)
	}
}

// TestWritesWaitForAnImport: an event posted while a bulk load into an
// empty store holds the event ids waits at most the busy timeout, then
// fails with ErrBusy having stored nothing; once the load commits, it is
// stored. The load itself waits as long as it must.
func TestWritesWaitForAnImport(t *testing.T) {
	ctx := context.Background()
	db := openBusy(t)
	release := holding(t, db, func(w store.Writer) error {
		if err := w.(store.IndexDeferrer).DeferIndexes(ctx, 100); err != nil {
			return err
		}
		_, err := w.InsertEvents(ctx, []tailor.Event{ev("b1", "u1", "i1", time.Now())})
		return err
	})
	gaveUp(t, "a write during the load", func() error { return insert(t, db, false, ev("p1", "u2", "i2", time.Now())) })
	time.Sleep(400 * time.Millisecond) // longer than the busy timeout: the load waits on
	if err := release(); err != nil {
		t.Fatalf("the load: %v", err)
	}
	if c, _ := db.Counts(ctx); c.Events != 1 || c.Users != 1 {
		t.Errorf("after the load: %+v, want its one event and shopper only", c)
	}
	if err := insert(t, db, false, ev("p1", "u2", "i2", time.Now())); err != nil {
		t.Fatal(err)
	}
	if c, _ := db.Counts(ctx); c.Events != 2 {
		t.Errorf("after the retry: %d events, want 2", c.Events)
	}
}
