package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// maxAttempts is how often Update runs a call that PostgreSQL aborted for a
// deadlock or a serialization failure (both may happen between concurrent
// writers and go away on a retry).
const maxAttempts = 5

// Update runs fn in one transaction; see store.Updater. Concurrent calls
// run in transactions of their own, which PostgreSQL runs side by side; a
// call aborted by a deadlock or serialization failure is run again. A call
// that waits for another transaction's locks longer than the busy timeout
// (Options.BusyTimeout, as lock_timeout) fails with store.ErrBusy, having
// written nothing.
func (db *DB) Update(ctx context.Context, fn func(store.Writer) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		var w *writer
		err = func() error {
			defer func() {
				if w != nil && w.load != nil {
					w.load.close(ctx) // after the commit or the rollback
				}
			}()
			return pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error {
				w = &writer{db: db, tx: tx, now: time.Now(), items: map[string]int64{}, users: map[string]int64{}}
				if err := fn(w); err != nil {
					return err
				}
				return w.finish(ctx)
			})
		}()
		if err == nil {
			for _, m := range w.attached {
				db.partitions.add(m)
			}
		}
		if busy(err) && !errors.Is(err, store.ErrBusy) {
			return fmt.Errorf("%w: waited %v for another writer's locks (an import, say): %w", store.ErrBusy, db.busyTimeout, err)
		}
		if !retryable(err) {
			return err
		}
	}
	return err
}

// busy reports whether err is a lock wait that passed lock_timeout (the
// store's busy timeout).
func busy(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// retryable reports whether err is a deadlock or a serialization failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// writer implements store.Writer inside one transaction.
type writer struct {
	db  *DB
	tx  pgx.Tx
	now time.Time

	// items and users are the keys of the records this transaction has
	// looked up (valid while it holds the references lock), so that a
	// bulk load looks each one up once.
	items, users map[string]int64

	// A bulk load (DeferIndexes) copies the events of months that have
	// no partition into new tables of this transaction, without
	// indexes: staging maps each month to its table (nil when not
	// deferring), and finish attaches them as partitions, which builds
	// their indexes at once. loaded holds the ids it stored.
	staging map[time.Time]string
	loaded  map[string]bool
	// emptyStart is set when the bulk load began on a store with no
	// events: its ids need no lookup.
	emptyStart bool
	// refsLocked is set once the transaction holds the references lock.
	refsLocked bool
	// noTombstones is set when the transaction found no tombstones of
	// deleted events once it held the references lock: none can appear
	// before it ends (deletions take that lock alone), so its batches
	// need not look their ids up.
	noTombstones bool
	// idsUnkeyed is set while a bulk load into a store with no event ids
	// holds event_ids without its primary key, which finish builds
	// again once, from all the ids (see DeferIndexes).
	idsUnkeyed bool
	// load copies a bulk load's months without partitions on a
	// connection of its own (load.go); nil when the load copies them
	// into tables of this transaction (staging).
	load *loader
	// copyBuf is the buffer copyEvents writes rows into, kept for the
	// next batch.
	copyBuf []byte
	// attached are the months finish made partitions for (known to the
	// process once the transaction commits).
	attached []time.Time
}

// customPlan runs a statement without a cached plan, so that PostgreSQL
// plans it for the values it is given. Lookups of a batch's keys
// (id = ANY($1)) need it: pgx prepares statements, and PostgreSQL may
// cache one generic plan for a connection while the table is small; a
// sequential scan that compares every row with every key of the array
// then stays, and took 21 ms a batch of 1,000 shoppers (10,000 stored)
// against 4 ms through the index, half of PostgreSQL's time on the event
// path.
const customPlan = pgx.QueryExecModeExec

// refsLockKey is the first key of the references lock (the second is the
// store's, refsKey).
const refsLockKey = int32(0x7461696c) // "tail"

// lockRefs takes the references lock shared, once per transaction: the
// keys of items and shoppers this transaction looks up stay valid until
// it ends, as no deletion runs meanwhile. (Row locks, FOR KEY SHARE, did
// the same per row, at a cost: every batch wrote a lock into a thousand
// rows, and concurrent writers turned them into multixacts, which made
// about half of PostgreSQL's time on the event path.)
func (w *writer) lockRefs(ctx context.Context) error {
	if w.refsLocked {
		return nil
	}
	if _, err := w.tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1, $2)", refsLockKey, w.db.refsKey); err != nil {
		return fmt.Errorf("lock references: %w", err)
	}
	w.refsLocked = true
	var any bool
	if err := w.tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM deleted_events)").Scan(&any); err != nil {
		return fmt.Errorf("find tombstones: %w", err)
	}
	w.noTombstones = !any
	return nil
}

// deleteRecord deletes the item or user (kind) with the id and the events
// that refer to it, and reports how many events went. It holds the
// references lock alone: a writer that has the record's key (inserting
// events for it) finishes before, and one that comes after finds it gone.
func (w *writer) deleteRecord(ctx context.Context, kind, id string) (int, error) {
	// Writers of events hold the references lock shared while their
	// transaction lasts (lockRefs): once this holds it alone, no writer
	// has a key of the record that is not committed yet, and writers
	// that come after wait, then find the record gone. A deletion waits
	// for a long import at most Options.BusyTimeout (as the embedded
	// store's writers wait), then fails with store.ErrBusy.
	if _, err := w.tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", w.db.busyTimeout.Milliseconds())); err != nil {
		return 0, fmt.Errorf("delete %s %q: %w", kind, id, err)
	}
	if _, err := w.tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", refsLockKey, w.db.refsKey); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" {
			return 0, fmt.Errorf("delete %s %q: %w (an import is writing events)", kind, id, store.ErrBusy)
		}
		return 0, fmt.Errorf("delete %s %q: %w", kind, id, err)
	}
	if _, err := w.tx.Exec(ctx, "SET LOCAL lock_timeout = 0"); err != nil {
		return 0, fmt.Errorf("delete %s %q: %w", kind, id, err)
	}
	var ix int64
	err := w.tx.QueryRow(ctx, "SELECT ix FROM "+kind+"s WHERE id = $1 FOR UPDATE", id).Scan(&ix)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%s %q: %w", kind, id, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("delete %s %q: %w", kind, id, err)
	}
	if kind == "item" {
		delete(w.items, id)
	} else {
		delete(w.users, id)
	}
	now := toNanos(time.Now())
	// The events go with their ids and leave tombstones (hashes of the
	// ids), so that a retried batch holding them stores nothing again.
	rows, err := w.tx.Query(ctx, "DELETE FROM events WHERE "+kind+"_ix = $1 RETURNING id", ix)
	if err != nil {
		return 0, fmt.Errorf("delete events of %s %q: %w", kind, id, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("delete events of %s %q: %w", kind, id, err)
	}
	if len(ids) > 0 {
		w.noTombstones = false // later batches of this transaction look them up
		hashes := make([][]byte, len(ids))
		for i, id := range ids {
			hashes[i] = idHash(id)
		}
		if _, err := w.tx.Exec(ctx, `DELETE FROM event_ids WHERE id = ANY($1)`, customPlan, ids); err != nil {
			return 0, fmt.Errorf("delete events of %s %q: %w", kind, id, err)
		}
		if _, err := w.tx.Exec(ctx, `INSERT INTO deleted_events (id_hash, deleted_at) SELECT h, $2 FROM unnest($1::bytea[]) h
			ON CONFLICT (id_hash) DO UPDATE SET deleted_at = excluded.deleted_at`, hashes, now); err != nil {
			return 0, fmt.Errorf("delete events of %s %q: record tombstones: %w", kind, id, err)
		}
	}
	if kind == "user" {
		// Stored model versions are cleared of the shopper later
		// (train.Scrub), by this tombstone.
		if _, err := w.tx.Exec(ctx, `INSERT INTO deleted_users (id_hash, deleted_at) VALUES ($1, $2)
			ON CONFLICT (id_hash) DO UPDATE SET deleted_at = excluded.deleted_at`, idHash(id), now); err != nil {
			return 0, fmt.Errorf("delete %s %q: record the tombstone: %w", kind, id, err)
		}
	}
	if _, err := w.tx.Exec(ctx, "DELETE FROM "+kind+"s WHERE ix = $1", ix); err != nil {
		return 0, fmt.Errorf("delete %s %q: %w", kind, id, err)
	}
	return len(ids), nil
}

// idHash is the SHA-256 of an id, as tombstones keep it.
func idHash(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// checkText returns an error naming the field when s cannot be stored in
// a PostgreSQL text column: text must be valid UTF-8 without NUL
// characters (SQLite stores either).
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", field)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%s: a NUL character at byte %d, which PostgreSQL cannot store", field, i)
		}
	}
	return nil
}

const upsertItemSQL = `
INSERT INTO items (` + itemColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, COALESCE($13::bigint, $15::bigint), COALESCE($14::bigint, $15::bigint))
ON CONFLICT (id) DO UPDATE SET
	title = excluded.title, description = excluded.description, categories = excluded.categories,
	brand = excluded.brand, price = excluded.price, currency = excluded.currency,
	in_stock = excluded.in_stock, stock = excluded.stock, attributes = excluded.attributes,
	hidden = excluded.hidden, non_product = excluded.non_product,
	created_at = COALESCE($13::bigint, items.created_at), updated_at = excluded.updated_at`

// UpsertItems inserts or replaces items, in one round trip.
func (w *writer) UpsertItems(ctx context.Context, items []tailor.Item) error {
	b := &pgx.Batch{}
	now := toNanos(w.now)
	for i := range items {
		it := &items[i]
		if err := checkItem(it); err != nil {
			return fmt.Errorf("upsert item %q: %w", it.ID, err)
		}
		attrs, err := jsonOrNil(len(it.Attributes) > 0, it.Attributes)
		if err != nil {
			return fmt.Errorf("upsert item %q: attributes: %w", it.ID, err)
		}
		var cats []string
		if len(it.Categories) > 0 {
			cats = it.Categories
		}
		b.Queue(upsertItemSQL, string(it.ID), it.Title, it.Description, cats, it.Brand,
			it.Price, it.Currency, it.InStock, it.Stock, attrs, it.Hidden, it.NonProduct,
			timeOrNil(it.CreatedAt), timeOrNil(it.UpdatedAt), now)
	}
	if err := w.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("upsert items: %w", err)
	}
	return nil
}

// checkItem checks the item's text fields (attributes are stored as JSON,
// which escapes what text cannot hold).
func checkItem(it *tailor.Item) error {
	for _, f := range []struct{ name, s string }{
		{"id", string(it.ID)}, {"title", it.Title}, {"description", it.Description},
		{"brand", it.Brand}, {"currency", it.Currency},
	} {
		if err := checkText(f.name, f.s); err != nil {
			return err
		}
	}
	for i, c := range it.Categories {
		if err := checkText(fmt.Sprintf("categories[%d]", i), c); err != nil {
			return err
		}
	}
	return nil
}

const upsertUserSQL = `
INSERT INTO users (id, attributes, created_at) VALUES ($1, $2, COALESCE($3::bigint, $4::bigint))
ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, created_at = COALESCE($3::bigint, users.created_at)`

// UpsertUsers inserts or replaces users, in one round trip.
func (w *writer) UpsertUsers(ctx context.Context, users []tailor.User) error {
	b := &pgx.Batch{}
	now := toNanos(w.now)
	for i := range users {
		u := &users[i]
		if err := checkText("id", string(u.ID)); err != nil {
			return fmt.Errorf("upsert user %q: %w", u.ID, err)
		}
		attrs, err := jsonOrNil(len(u.Attributes) > 0, u.Attributes)
		if err != nil {
			return fmt.Errorf("upsert user %q: attributes: %w", u.ID, err)
		}
		b.Queue(upsertUserSQL, string(u.ID), attrs, timeOrNil(u.CreatedAt), now)
	}
	if err := w.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("upsert users: %w", err)
	}
	return nil
}

// checkEvent checks that an event can be stored.
func checkEvent(i int, e *tailor.Event) error {
	if e.ID == "" || e.Timestamp.IsZero() || e.ItemID == "" {
		return fmt.Errorf("event %d has no id, item or timestamp", i)
	}
	for _, f := range []struct{ name, s string }{
		{"id", e.ID}, {"user_id", string(e.UserID)}, {"session_id", e.SessionID}, {"item_id", string(e.ItemID)},
		{"type", string(e.Type)}, {"order_id", e.OrderID}, {"recommendation_id", e.RecommendationID},
	} {
		if err := checkText(f.name, f.s); err != nil {
			return fmt.Errorf("event %d (%q): %w", i, e.ID, err)
		}
	}
	return nil
}

// keys looks up the integer keys of the items or users (table) with the
// ids and adds those found to the transaction's (w.items, w.users); the
// caller holds the references lock, so they stay valid until the
// transaction ends. The ids are sorted, and none is known to it yet.
func (w *writer) keys(ctx context.Context, table string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	cache := w.items
	if table == "users" {
		cache = w.users
	}
	rows, err := w.tx.Query(ctx, "SELECT id, ix FROM "+table+" WHERE id = ANY($1)", customPlan, ids)
	if err != nil {
		return err
	}
	var (
		id string
		ix int64
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &ix}, func() error {
		cache[id] = ix
		return nil
	})
	return err
}

// create makes bare records of the items or users (table) with the ids,
// where there are none, and adds their keys to the transaction's.
func (w *writer) create(ctx context.Context, table string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids) // one order for every writer: no deadlocks between them
	q := "INSERT INTO items (id, created_at, updated_at) SELECT id, $2, $2 FROM unnest($1::text[]) id ON CONFLICT (id) DO NOTHING"
	if table == "users" {
		q = "INSERT INTO users (id, created_at) SELECT id, $2 FROM unnest($1::text[]) id ON CONFLICT (id) DO NOTHING"
	}
	if _, err := w.tx.Exec(ctx, q, ids, toNanos(w.now)); err != nil {
		return err
	}
	if err := w.keys(ctx, table, ids); err != nil {
		return err
	}
	cache := w.items
	if table == "users" {
		cache = w.users
	}
	for _, id := range ids {
		if !has(cache, id) {
			return fmt.Errorf("%s %q was not created", table[:len(table)-1], id)
		}
	}
	return nil
}

// InsertEvents stores new events and skips those already stored. The
// events' ids go into event_ids first (which keeps them unique across the
// monthly partitions); the new ones are copied into events with COPY.
func (w *writer) InsertEvents(ctx context.Context, events []tailor.Event) (store.InsertResult, error) {
	var res store.InsertResult
	for i := range events {
		if err := checkEvent(i, &events[i]); err != nil {
			return res, fmt.Errorf("insert events: %w", err)
		}
	}
	if len(events) == 0 {
		return res, nil
	}
	if err := w.lockRefs(ctx); err != nil {
		return res, fmt.Errorf("insert events: %w", err)
	}
	// The keys of the batch's items and shoppers: those this transaction
	// has not met yet are looked up; those not stored are made for the
	// events that are new.
	itemIDs, userIDs := map[string]bool{}, map[string]bool{}
	for i := range events {
		if id := string(events[i].ItemID); !has(w.items, id) {
			itemIDs[id] = true
		}
		if id := string(events[i].UserID); id != "" && !has(w.users, id) {
			userIDs[id] = true
		}
	}
	if err := w.keys(ctx, "items", sortedKeys(itemIDs)); err != nil {
		return res, fmt.Errorf("insert events: find items: %w", err)
	}
	if err := w.keys(ctx, "users", sortedKeys(userIDs)); err != nil {
		return res, fmt.Errorf("insert events: find users: %w", err)
	}
	items, users := w.items, w.users
	fresh, err := w.newEvents(ctx, events, items, users)
	if err != nil {
		return res, fmt.Errorf("insert events: %w", err)
	}
	var newItems, newUsers []string
	for i := range fresh {
		e := &fresh[i]
		if id := string(e.ItemID); itemIDs[id] && !has(items, id) {
			itemIDs[id] = false
			newItems = append(newItems, id)
		}
		if id := string(e.UserID); userIDs[id] && !has(users, id) {
			userIDs[id] = false
			newUsers = append(newUsers, id)
		}
	}
	if err := w.create(ctx, "items", newItems); err != nil {
		return res, fmt.Errorf("insert events: create items: %w", err)
	}
	if err := w.create(ctx, "users", newUsers); err != nil {
		return res, fmt.Errorf("insert events: create users: %w", err)
	}

	keep, err := w.claim(ctx, fresh)
	if err != nil {
		return res, fmt.Errorf("insert events: claim ids: %w", err)
	}
	batch := make([]eventRow, 0, len(fresh))
	months := make([]time.Time, 0, len(fresh))
	for i := range fresh {
		e := &fresh[i]
		if !keep[i] {
			continue
		}
		user, hasUser := users[string(e.UserID)]
		batch = append(batch, eventRow{id: e.ID, user: user, hasUser: hasUser && e.UserID != "", session: e.SessionID,
			item: items[string(e.ItemID)], typ: string(e.Type), value: e.Value, price: e.UnitPrice,
			order: e.OrderID, rec: e.RecommendationID, ts: toNanos(e.Timestamp)})
		months = append(months, monthOf(e.Timestamp))
	}
	if w.staging != nil {
		n, err := w.copyDeferred(ctx, batch, months)
		if err != nil {
			return res, fmt.Errorf("insert events: %w", err)
		}
		res.Inserted = n
	} else if len(batch) > 0 {
		if err := w.partitionsFor(ctx, fresh); err != nil {
			return res, fmt.Errorf("insert events: %w", err)
		}
		var n int64
		n, w.copyBuf, err = copyEvents(ctx, w.tx.Conn(), "events", batch, w.copyBuf)
		if err != nil {
			return res, fmt.Errorf("insert events: %w", err)
		}
		res.Inserted = int(n)
	}
	res.Duplicates = len(events) - res.Inserted
	return res, nil
}

// claim records the events' ids in event_ids and reports which events are
// new: the first of the batch with an id that was not there; the others
// are duplicates (of stored events, or of events earlier in the batch).
// Concurrent writers claiming the same id wait for each other, in one
// order of ids.
func (w *writer) claim(ctx context.Context, events []tailor.Event) ([]bool, error) {
	keep := make([]bool, len(events))
	if w.staging == nil {
		ids := make([]string, len(events))
		for i := range events {
			ids[i] = events[i].ID
		}
		slices.Sort(ids)
		rows, err := w.tx.Query(ctx, "INSERT INTO event_ids (id) SELECT unnest($1::text[]) ON CONFLICT (id) DO NOTHING RETURNING id", ids)
		if err != nil {
			return nil, err
		}
		claimed, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		take := make(map[string]bool, len(claimed))
		for _, id := range claimed {
			take[id] = true
		}
		for i := range events {
			if id := events[i].ID; take[id] {
				take[id] = false // the first of the batch's events with the id
				keep[i] = true
			}
		}
		return keep, nil
	}
	// A bulk load: the ids this transaction met are in w.loaded, the
	// stored ones are looked up, and the new ones copied (a concurrent
	// writer storing one of them fails this load with a unique
	// violation: it is all or nothing, and may be run again). An id
	// found stored is marked met too: later events with it are
	// duplicates as well.
	fresh := make([]string, 0, len(events))
	for i := range events {
		if id := events[i].ID; !w.loaded[id] {
			w.loaded[id] = true
			keep[i] = true
			fresh = append(fresh, id)
		}
	}
	if !w.emptyStart && len(fresh) > 0 {
		rows, err := w.tx.Query(ctx, "SELECT id FROM event_ids WHERE id = ANY($1)", customPlan, fresh)
		if err != nil {
			return nil, err
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		if len(stored) > 0 {
			old := make(map[string]bool, len(stored))
			for _, id := range stored {
				old[id] = true
			}
			fresh = slices.DeleteFunc(fresh, func(id string) bool { return old[id] })
			for i := range events {
				if keep[i] && old[events[i].ID] {
					keep[i] = false
				}
			}
		}
	}
	if !w.idsUnkeyed {
		slices.Sort(fresh) // the key grows in order
	}
	var err error
	w.copyBuf, err = copyIDs(ctx, w.tx.Conn(), fresh, w.copyBuf)
	if err != nil {
		return nil, err
	}
	return keep, nil
}

// partitionsFor makes the partitions of the events' months that have
// none (see partitions.go). A month whose partition cannot be made without
// waiting longer than partitionLockWait keeps its events in the default
// partition, to be moved by Maintain.
func (w *writer) partitionsFor(ctx context.Context, events []tailor.Event) error {
	var last time.Time
	now := time.Now()
	for i := range events {
		m := monthOf(events[i].Timestamp)
		if m.Equal(last) {
			continue
		}
		last = m
		if w.db.knownPartition(m) || !inWindow(m, now) {
			continue
		}
		err := w.db.ensurePartition(ctx, m, partitionLockWait)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" || errors.Is(err, errLockWait) {
			continue // lock_not_available, or the connection busy
		}
		if err != nil {
			return fmt.Errorf("make the partition of %s: %w", m.Format("2006-01"), err)
		}
	}
	return nil
}

// newEvents returns the events to insert, leaving out the deleted ones
// (tombstoned: a retry does not bring them back, even once their shopper
// and item exist again) and the duplicates that would create a shopper or
// an item (a retried event naming a deleted shopper must not bring them
// back): events whose shopper or item is not stored are checked against
// the stored ids and against the batch before them. Other duplicates
// create nothing and are left out when their ids are claimed.
func (w *writer) newEvents(ctx context.Context, events []tailor.Event, items, users map[string]int64) ([]tailor.Event, error) {
	drop := map[int]bool{}
	if err := w.dropDeleted(ctx, events, drop); err != nil {
		return nil, err
	}
	var check []int
	for i := range events {
		e := &events[i]
		_, knownItem := items[string(e.ItemID)]
		_, knownUser := users[string(e.UserID)]
		if !drop[i] && (!knownItem || (e.UserID != "" && !knownUser)) {
			check = append(check, i)
		}
	}
	if len(check) > 0 && !w.emptyStart {
		ids := make([]string, len(check))
		for k, i := range check {
			ids[k] = events[i].ID
		}
		rows, err := w.tx.Query(ctx, "SELECT id FROM event_ids WHERE id = ANY($1)", customPlan, ids)
		if err != nil {
			return nil, fmt.Errorf("find stored ids: %w", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("find stored ids: %w", err)
		}
		stored := make(map[string]bool, len(found))
		for _, id := range found {
			stored[id] = true
		}
		for _, i := range check {
			if stored[events[i].ID] {
				drop[i] = true
			}
		}
	}
	if len(check) > 0 {
		first := make(map[string]int, len(events))
		for i := range events {
			if _, ok := first[events[i].ID]; !ok {
				first[events[i].ID] = i
			}
		}
		for _, i := range check {
			if first[events[i].ID] < i {
				drop[i] = true
			}
		}
	}
	if len(drop) == 0 {
		return events, nil
	}
	fresh := make([]tailor.Event, 0, len(events)-len(drop))
	for i := range events {
		if !drop[i] {
			fresh = append(fresh, events[i])
		}
	}
	return fresh, nil
}

// dropDeleted marks in drop the events whose ids have tombstones: they
// were stored once and deleted with their shopper or item. A transaction
// that found no tombstones skips the lookup.
func (w *writer) dropDeleted(ctx context.Context, events []tailor.Event, drop map[int]bool) error {
	if w.noTombstones {
		return nil
	}
	hashes := make([][]byte, len(events))
	for i := range events {
		hashes[i] = idHash(events[i].ID)
	}
	rows, err := w.tx.Query(ctx, "SELECT id_hash FROM deleted_events WHERE id_hash = ANY($1)", customPlan, hashes)
	if err != nil {
		return fmt.Errorf("find tombstones: %w", err)
	}
	dead, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return fmt.Errorf("find tombstones: %w", err)
	}
	if len(dead) == 0 {
		return nil
	}
	isDead := make(map[[sha256.Size]byte]bool, len(dead))
	for _, h := range dead {
		isDead[[sha256.Size]byte(h)] = true
	}
	for i, h := range hashes {
		if isDead[[sha256.Size]byte(h)] {
			drop[i] = true
		}
	}
	return nil
}

func has(m map[string]int64, k string) bool {
	_, ok := m[k]
	return ok
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func jsonOrNil(present bool, v any) (*string, error) {
	if !present {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func timeOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := toNanos(t)
	return &n
}

// Interface guard.
var _ store.Writer = (*writer)(nil)
