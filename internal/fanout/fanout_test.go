package fanout_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/fanout"
	"github.com/tailorhq/tailor/internal/fanout/natstest"
	"github.com/tailorhq/tailor/internal/store/postgres"
	"github.com/tailorhq/tailor/internal/store/postgres/pgtest"
)

// engine records what the bus applies.
type engine struct {
	mu       sync.Mutex
	events   []tailor.Event
	items    []tailor.Item
	deleted  []tailor.ItemID
	users    []tailor.UserID
	gone     []tailor.UserID
	scenario int
	loaded   []string
}

func (e *engine) ItemsChanged(items []tailor.Item) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items = append(e.items, items...)
}
func (e *engine) ItemsDeleted(ids ...tailor.ItemID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deleted = append(e.deleted, ids...)
}
func (e *engine) EventsChanged(events []tailor.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, events...)
}
func (e *engine) UsersChanged(ids ...tailor.UserID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users = append(e.users, ids...)
}
func (e *engine) UsersDeleted(ids ...tailor.UserID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gone = append(e.gone, ids...)
}
func (e *engine) ScenariosChanged(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scenario++
	return nil
}
func (e *engine) Load(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loaded = append(e.loaded, id)
	return nil
}

func (e *engine) snapshot() *engine {
	e.mu.Lock()
	defer e.mu.Unlock()
	return &engine{events: slices.Clone(e.events), items: slices.Clone(e.items), deleted: slices.Clone(e.deleted),
		users: slices.Clone(e.users), gone: slices.Clone(e.gone), scenario: e.scenario, loaded: slices.Clone(e.loaded)}
}

func start(t *testing.T, opts fanout.Options) (*fanout.Bus, *engine) {
	t.Helper()
	eng := &engine{}
	b, err := fanout.New(eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return b, eng
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendAll publishes one change of every kind, with 2,500 events (more
// than one message's worth).
func sendAll(b *fanout.Bus) {
	var events []tailor.Event
	for i := range 2500 {
		events = append(events, tailor.Event{ID: "e", UserID: tailor.UserID("u" + string(rune('a'+i%26))), ItemID: "i1", Type: tailor.View, Timestamp: time.Now()})
	}
	b.Events(events)
	b.Items([]tailor.Item{{ID: "i9", Title: "Teapot"}})
	b.ItemsDeleted("i8")
	b.Users("u1")
	b.UsersDeleted("u2")
	b.Scenarios()
	b.Activated("01VERSION")
}

// checkApplied waits for eng to apply what sendAll sent, and checks it.
func checkApplied(t *testing.T, eng *engine) {
	t.Helper()
	waitFor(t, "the other replicas to apply everything", func() bool { return len(eng.snapshot().loaded) == 1 })
	s := eng.snapshot()
	if len(s.events) != 2500 || s.events[0].UserID != "ua" || s.events[0].ItemID != "i1" || s.events[0].ID != "" {
		t.Errorf("events: %d, first %+v (only the shopper and item travel)", len(s.events), s.events[0])
	}
	if len(s.items) != 1 || s.items[0].Title != "Teapot" || !slices.Equal(s.deleted, []tailor.ItemID{"i8"}) ||
		!slices.Equal(s.users, []tailor.UserID{"u1"}) || !slices.Equal(s.gone, []tailor.UserID{"u2"}) || s.scenario != 1 ||
		!slices.Equal(s.loaded, []string{"01VERSION"}) {
		t.Errorf("applied %+v", s)
	}
}

// TestShare: what one replica publishes, the others apply, and it does
// not apply its own; a replica of another shop (another stream) sees
// nothing.
func TestShare(t *testing.T) {
	url := natstest.URL(t)
	stream := natstest.Stream(t, url)
	a, engA := start(t, fanout.Options{URL: url, Stream: stream})
	_, engB := start(t, fanout.Options{URL: url, Stream: stream})
	_, engC := start(t, fanout.Options{URL: url, Stream: stream})
	other := natstest.Stream(t, url)
	_, engX := start(t, fanout.Options{URL: url, Stream: other})
	waitFor(t, "the buses to connect", a.Connected)
	time.Sleep(200 * time.Millisecond) // the other consumers start from now on

	sendAll(a)
	for _, eng := range []*engine{engB, engC} {
		checkApplied(t, eng)
	}
	time.Sleep(200 * time.Millisecond)
	if s := engA.snapshot(); len(s.events)+len(s.loaded) != 0 {
		t.Errorf("the sender applied its own changes: %+v", s)
	}
	if s := engX.snapshot(); len(s.events)+len(s.loaded) != 0 {
		t.Errorf("another shop's replica applied them: %+v", s)
	}
}

// TestNATSDown: a bus that cannot reach NATS drops what it would publish,
// counted, and keeps trying.
func TestNATSDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	b, _ := start(t, fanout.Options{URL: "nats://127.0.0.1:1", Registerer: reg})
	b.Events([]tailor.Event{{UserID: "u", ItemID: "i"}})
	b.Activated("v")
	if b.Connected() {
		t.Error("connected to nothing")
	}
	if n := testutil.ToFloat64(prometheus.Collector(mustGather(t, reg))); n != 2 {
		t.Errorf("dropped %v, want 2", n)
	}
}

// mustGather returns the dropped counter's total from the registry.
func mustGather(t *testing.T, reg *prometheus.Registry) prometheus.Counter {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	for _, mf := range mfs {
		if mf.GetName() == "tailor_fanout_dropped_total" {
			for _, m := range mf.GetMetric() {
				c.Add(m.GetCounter().GetValue())
			}
		}
	}
	return c
}

func TestBadStreamName(t *testing.T) {
	if _, err := fanout.New(&engine{}, fanout.Options{URL: "nats://x", Stream: "a.b"}); err == nil {
		t.Error("a stream name with a dot was accepted")
	}
	if _, err := fanout.New(&engine{}, fanout.Options{}); err == nil {
		t.Error("neither a URL nor a notifier was accepted")
	}
}

// openStore opens a PostgreSQL store (a schema of its own) at url.
func openStore(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestShareThroughPostgres: without NATS, the store's LISTEN/NOTIFY carries
// the same changes (a large batch in several notifications), the sender
// does not apply its own, a replica of another store on the same database
// sees nothing, and a listener whose connection is cut listens again.
func TestShareThroughPostgres(t *testing.T) {
	url := pgtest.Store(t)
	a, engA := start(t, fanout.Options{Notifier: openStore(t, url)})
	b, engB := start(t, fanout.Options{Notifier: openStore(t, url)})
	_, engX := start(t, fanout.Options{Notifier: openStore(t, pgtest.Store(t))})
	waitFor(t, "the buses to listen", func() bool { return a.Connected() && b.Connected() })

	sendAll(a) // far more than one notification's worth of events
	checkApplied(t, engB)
	time.Sleep(200 * time.Millisecond)
	if s := engA.snapshot(); len(s.events)+len(s.loaded) != 0 {
		t.Errorf("the sender applied its own changes: %+v", s)
	}
	if s := engX.snapshot(); len(s.events)+len(s.loaded) != 0 {
		t.Errorf("another store's replica applied them: %+v", s)
	}

	// Cut B's listening connection: it listens again and gets what
	// comes after.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var cut int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN %' AND datname = current_database()`).Scan(&cut); err != nil || cut < 3 {
		t.Fatalf("cut %d listeners: %v", cut, err)
	}
	waitFor(t, "B to notice", func() bool { return !b.Connected() })
	waitFor(t, "B to listen again", b.Connected)
	a.Activated("02VERSION")
	waitFor(t, "the activation after the cut", func() bool { return len(engB.snapshot().loaded) == 2 })
}
