package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// eventChunk is how many events go into one INSERT statement: multi-row
// statements amortize SQLite's per-statement cost (10 columns × 100 rows
// stays well under the 32,766 parameter limit).
const eventChunk = 100

// statements are the writer's statements, prepared once on the write
// connection when the database is opened: preparing costs more than a
// small insert.
type statements struct {
	upsertItem, upsertUser, findItem, findUser, newItem, newUser *sql.Stmt
	// anyTombstones says whether any deleted event is remembered: every
	// batch asks, so it is prepared once.
	anyTombstones *sql.Stmt
	// insert inserts as many events as its key: eventChunk and the powers
	// of two below 64.
	insert map[int]*sql.Stmt
}

// insertSizes are the row counts of the prepared event inserts, largest
// first; any count is a sum of them.
var insertSizes = []int{eventChunk, 64, 32, 16, 8, 4, 2, 1}

func prepareStatements(ctx context.Context, db *sql.DB) (*statements, error) {
	st := &statements{insert: map[int]*sql.Stmt{}}
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&st.upsertItem, upsertItemSQL},
		{&st.upsertUser, upsertUserSQL},
		{&st.findItem, "SELECT ix FROM items WHERE id = ?"},
		{&st.findUser, "SELECT ix FROM users WHERE id = ?"},
		{&st.newItem, "INSERT INTO items (id, created_at, updated_at) VALUES (?1, ?2, ?2) RETURNING ix"},
		{&st.newUser, "INSERT INTO users (id, created_at) VALUES (?1, ?2) RETURNING ix"},
		{&st.anyTombstones, "SELECT EXISTS (SELECT 1 FROM deleted_events)"},
	} {
		s, err := db.PrepareContext(ctx, p.q)
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*p.s = s
	}
	for _, n := range insertSizes {
		s, err := db.PrepareContext(ctx, insertEventsSQL(n))
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		st.insert[n] = s
	}
	return st, nil
}

func (st *statements) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.upsertItem, st.upsertUser, st.findItem, st.findUser, st.newItem, st.newUser, st.anyTombstones} {
		errs = append(errs, s.Close())
	}
	for _, s := range st.insert {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// writer implements store.Writer inside one transaction, for the Update
// calls of one group. It remembers the integer keys of the items and users
// it has seen, so a bulk load resolves each id once.
type writer struct {
	tx  *sql.Tx
	now time.Time
	st  *statements

	// The statements bound to tx, made on first use.
	upsertItem, upsertUser, findItem, findUser, newItem, newUser, anyTombstones *sql.Stmt
	insert                                                                      map[int]*sql.Stmt

	// refs are the keys found or made in this transaction; shared are
	// those of committed transactions.
	refs   refs
	shared *refCache

	// deferred is set when the event indexes were dropped, to be rebuilt
	// by finish.
	deferred bool
}

// itemKey returns the cached key of an item id.
func (w *writer) itemKey(id tailor.ItemID) (int64, bool) {
	if ix, ok := w.refs.items[id]; ok {
		return ix, true
	}
	return w.shared.item(id)
}

// userKey returns the cached key of a user id.
func (w *writer) userKey(id tailor.UserID) (int64, bool) {
	if ix, ok := w.refs.users[id]; ok {
		return ix, true
	}
	return w.shared.user(id)
}

// deleteRecord deletes the item or user (kind) with the id and the events
// that refer to it, and reports how many events went.
func (w *writer) deleteRecord(ctx context.Context, kind, id string) (int, error) {
	var ix int64
	err := w.tx.QueryRowContext(ctx, "SELECT ix FROM "+kind+"s WHERE id = ?", id).Scan(&ix)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s %q: %w", kind, id, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("delete %s %q: %w", kind, id, err)
	}
	// Forget the key before anything can use it again.
	if kind == "item" {
		delete(w.refs.items, tailor.ItemID(id))
		w.shared.forget(tailor.ItemID(id), "")
	} else {
		delete(w.refs.users, tailor.UserID(id))
		w.shared.forget("", tailor.UserID(id))
	}
	if err := w.tombstone(ctx, kind, ix); err != nil {
		return 0, fmt.Errorf("delete events of %s %q: %w", kind, id, err)
	}
	if kind == "user" {
		// Stored model versions are cleared of the shopper later
		// (train.Scrub), by this tombstone.
		if _, err := w.tx.ExecContext(ctx, `INSERT OR REPLACE INTO deleted_users (id_hash, deleted_at) VALUES (unhex(?), ?)`,
			idHash(id), toNanos(time.Now())); err != nil {
			return 0, fmt.Errorf("delete %s %q: record the tombstone: %w", kind, id, err)
		}
	}
	res, err := w.tx.ExecContext(ctx, "DELETE FROM events WHERE "+kind+"_ix = ?", ix)
	if err != nil {
		return 0, fmt.Errorf("delete events of %s %q: %w", kind, id, err)
	}
	n, _ := res.RowsAffected()
	if _, err := w.tx.ExecContext(ctx, "DELETE FROM "+kind+"s WHERE ix = ?", ix); err != nil {
		return 0, fmt.Errorf("delete %s %q: %w", kind, id, err)
	}
	return int(n), nil
}

// tombstone records the hashes of the ids of the events of the item or
// user (kind) with the key ix, which are about to be deleted: a retry of a
// batch that held them is then a no-op (newEvents).
func (w *writer) tombstone(ctx context.Context, kind string, ix int64) error {
	rows, err := w.tx.QueryContext(ctx, "SELECT id FROM events WHERE "+kind+"_ix = ?", ix)
	if err != nil {
		return err
	}
	var hashes []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		hashes = append(hashes, idHash(id))
	}
	if err := rows.Close(); err != nil {
		return err
	}
	now := toNanos(time.Now())
	const chunk = 2000
	for lo := 0; lo < len(hashes); lo += chunk {
		list, err := json.Marshal(hashes[lo:min(lo+chunk, len(hashes))])
		if err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(ctx, `INSERT OR REPLACE INTO deleted_events (id_hash, deleted_at)
			SELECT unhex(value), ? FROM json_each(?)`, now, string(list)); err != nil {
			return fmt.Errorf("record tombstones: %w", err)
		}
	}
	return nil
}

// idHash is the hex SHA-256 of an event id, as tombstones keep it.
func idHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (w *writer) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{w.upsertItem, w.upsertUser, w.findItem, w.findUser, w.newItem, w.newUser, w.anyTombstones} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	for _, s := range w.insert {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// finish completes the transaction's work before commit.
func (w *writer) finish(ctx context.Context) error {
	if !w.deferred {
		return nil
	}
	if _, err := w.tx.ExecContext(ctx, eventIndexes); err != nil {
		return fmt.Errorf("rebuild event indexes: %w", err)
	}
	w.deferred = false
	return nil
}

// DeferIndexes drops the event indexes, to be rebuilt before commit, when
// rows is at least the number of events stored: then one sorted build costs
// less than rows random index insertions.
func (w *writer) DeferIndexes(ctx context.Context, rows int) error {
	if w.deferred {
		return nil
	}
	var stored int64
	if err := w.tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events").Scan(&stored); err != nil {
		return fmt.Errorf("defer indexes: %w", err)
	}
	if int64(rows) < stored {
		return nil
	}
	if _, err := w.tx.ExecContext(ctx, dropEventIndexes); err != nil {
		return fmt.Errorf("defer indexes: %w", err)
	}
	w.deferred = true
	return nil
}

// bind makes *s the transaction's version of the prepared statement p.
func (w *writer) bind(ctx context.Context, s **sql.Stmt, p *sql.Stmt) {
	if *s == nil {
		*s = w.tx.StmtContext(ctx, p)
	}
}

const upsertItemSQL = `
INSERT INTO items (` + itemColumns + `)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, COALESCE(?13, ?15), COALESCE(?14, ?15))
ON CONFLICT (id) DO UPDATE SET
	title = excluded.title, description = excluded.description, categories = excluded.categories,
	brand = excluded.brand, price = excluded.price, currency = excluded.currency,
	in_stock = excluded.in_stock, stock = excluded.stock, attributes = excluded.attributes,
	hidden = excluded.hidden, non_product = excluded.non_product,
	created_at = COALESCE(?13, items.created_at), updated_at = excluded.updated_at
RETURNING ix`

// UpsertItems inserts or replaces items.
func (w *writer) UpsertItems(ctx context.Context, items []tailor.Item) error {
	w.bind(ctx, &w.upsertItem, w.st.upsertItem)
	now := toNanos(w.now)
	for i := range items {
		it := &items[i]
		cats, err := jsonOrNil(len(it.Categories) > 0, it.Categories)
		if err != nil {
			return fmt.Errorf("upsert item %q: categories: %w", it.ID, err)
		}
		attrs, err := jsonOrNil(len(it.Attributes) > 0, it.Attributes)
		if err != nil {
			return fmt.Errorf("upsert item %q: attributes: %w", it.ID, err)
		}
		var inStock any
		if it.InStock != nil {
			inStock = *it.InStock
		}
		var ix int64
		err = w.upsertItem.QueryRowContext(ctx, string(it.ID), it.Title, it.Description, cats, it.Brand,
			floatOrNil(it.Price), it.Currency, inStock, intOrNil(it.Stock), attrs, it.Hidden, it.NonProduct,
			timeOrNil(it.CreatedAt), timeOrNil(it.UpdatedAt), now).Scan(&ix)
		if err != nil {
			return fmt.Errorf("upsert item %q: %w", it.ID, err)
		}
		w.refs.items[it.ID] = ix
	}
	return nil
}

const upsertUserSQL = `
INSERT INTO users (id, attributes, created_at) VALUES (?1, ?2, COALESCE(?3, ?4))
ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, created_at = COALESCE(?3, users.created_at)
RETURNING ix`

// UpsertUsers inserts or replaces users.
func (w *writer) UpsertUsers(ctx context.Context, users []tailor.User) error {
	w.bind(ctx, &w.upsertUser, w.st.upsertUser)
	now := toNanos(w.now)
	for i := range users {
		u := &users[i]
		attrs, err := jsonOrNil(len(u.Attributes) > 0, u.Attributes)
		if err != nil {
			return fmt.Errorf("upsert user %q: attributes: %w", u.ID, err)
		}
		var ix int64
		if err := w.upsertUser.QueryRowContext(ctx, string(u.ID), attrs, timeOrNil(u.CreatedAt), now).Scan(&ix); err != nil {
			return fmt.Errorf("upsert user %q: %w", u.ID, err)
		}
		w.refs.users[u.ID] = ix
	}
	return nil
}

// resolve returns the integer key of the item or user with the id,
// creating a bare record when there is none.
func (w *writer) resolve(ctx context.Context, find, create *sql.Stmt, id string) (int64, error) {
	var ix int64
	err := find.QueryRowContext(ctx, id).Scan(&ix)
	if errors.Is(err, sql.ErrNoRows) {
		err = create.QueryRowContext(ctx, id, toNanos(w.now)).Scan(&ix)
	}
	return ix, err
}

func (w *writer) bindRefs(ctx context.Context) {
	w.bind(ctx, &w.findItem, w.st.findItem)
	w.bind(ctx, &w.findUser, w.st.findUser)
	w.bind(ctx, &w.newItem, w.st.newItem)
	w.bind(ctx, &w.newUser, w.st.newUser)
}

// insertStmt returns the statement that inserts the most rows, at most n.
func (w *writer) insertStmt(ctx context.Context, n int) (*sql.Stmt, int) {
	for _, size := range insertSizes {
		if size <= n {
			if w.insert == nil {
				w.insert = map[int]*sql.Stmt{}
			}
			s, ok := w.insert[size]
			if !ok {
				s = w.tx.StmtContext(ctx, w.st.insert[size])
				w.insert[size] = s
			}
			return s, size
		}
	}
	panic("sqlite: insertStmt called with no rows")
}

func insertEventsSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO events (id, user_ix, session_id, item_ix, type, value, unit_price, order_id, recommendation_id, ts) VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
	}
	b.WriteString(" ON CONFLICT (id) DO NOTHING")
	return b.String()
}

// InsertEvents stores new events and skips those already stored.
func (w *writer) InsertEvents(ctx context.Context, events []tailor.Event) (store.InsertResult, error) {
	var res store.InsertResult
	for i := range events {
		if events[i].ID == "" || events[i].Timestamp.IsZero() || events[i].ItemID == "" {
			return res, fmt.Errorf("insert events: event %d has no id, item or timestamp", i)
		}
	}
	fresh, err := w.newEvents(ctx, events)
	if err != nil {
		return res, fmt.Errorf("insert events: %w", err)
	}
	res.Duplicates = len(events) - len(fresh)
	events = fresh
	w.bindRefs(ctx)
	args := make([]any, 0, 10*eventChunk)
	for len(events) > 0 {
		stmt, n := w.insertStmt(ctx, len(events))
		args = args[:0]
		for i := 0; i < n; i++ {
			e := &events[i]
			itemIx, ok := w.itemKey(e.ItemID)
			if !ok {
				ix, err := w.resolve(ctx, w.findItem, w.newItem, string(e.ItemID))
				if err != nil {
					return res, fmt.Errorf("insert events: item %q: %w", e.ItemID, err)
				}
				w.refs.items[e.ItemID], itemIx = ix, ix
			}
			var userIx any
			if e.UserID != "" {
				ix, ok := w.userKey(e.UserID)
				if !ok {
					var err error
					if ix, err = w.resolve(ctx, w.findUser, w.newUser, string(e.UserID)); err != nil {
						return res, fmt.Errorf("insert events: user %q: %w", e.UserID, err)
					}
					w.refs.users[e.UserID] = ix
				}
				userIx = ix
			}
			args = append(args, e.ID, userIx, nullString(e.SessionID), itemIx, string(e.Type),
				floatOrNil(e.Value), floatOrNil(e.UnitPrice), nullString(e.OrderID), nullString(e.RecommendationID), toNanos(e.Timestamp))
		}
		r, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return res, fmt.Errorf("insert events: %w", err)
		}
		inserted, err := r.RowsAffected()
		if err != nil {
			return res, fmt.Errorf("insert events: %w", err)
		}
		res.Inserted += int(inserted)
		res.Duplicates += n - int(inserted)
		events = events[n:]
	}
	return res, nil
}

// tombstoned marks in dead the ids of the deleted events among ids.
func (w *writer) tombstoned(ctx context.Context, ids []string, dead map[string]bool) error {
	byHash := make(map[string]string, len(ids))
	hashes := make([]string, len(ids))
	for i, id := range ids {
		hashes[i] = idHash(id)
		byHash[hashes[i]] = id
	}
	list, err := json.Marshal(hashes)
	if err != nil {
		return err
	}
	rows, err := w.tx.QueryContext(ctx, `SELECT lower(hex(id_hash)) FROM deleted_events WHERE id_hash IN (SELECT unhex(value) FROM json_each(?))`, string(list))
	if err != nil {
		return fmt.Errorf("find tombstones: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return fmt.Errorf("find tombstones: %w", err)
		}
		dead[byHash[h]] = true
	}
	return rows.Err()
}

// newEvents returns the events to insert, leaving out the deleted ones
// (tombstoned: a retry does not bring them back, even once their shopper
// and item exist again) and the duplicates that would create a shopper or
// an item: looking an unknown id up creates it, and a retried event naming
// another shopper must not create one. Only events with an unknown shopper
// or item are checked for duplicates (against the store and the batch
// before them); other duplicates create nothing and are skipped by the
// insert itself. It returns events itself when none is left out.
func (w *writer) newEvents(ctx context.Context, events []tailor.Event) ([]tailor.Event, error) {
	drop := map[int]bool{}
	var anyDead bool
	w.bind(ctx, &w.anyTombstones, w.st.anyTombstones)
	if err := w.anyTombstones.QueryRowContext(ctx).Scan(&anyDead); err != nil {
		return nil, fmt.Errorf("find tombstones: %w", err)
	}
	if anyDead {
		dead := map[string]bool{}
		const chunk = 500
		for lo := 0; lo < len(events); lo += chunk {
			ids := make([]string, 0, chunk)
			for i := lo; i < min(lo+chunk, len(events)); i++ {
				ids = append(ids, events[i].ID)
			}
			if err := w.tombstoned(ctx, ids, dead); err != nil {
				return nil, err
			}
		}
		for i := range events {
			if dead[events[i].ID] {
				drop[i] = true
			}
		}
	}
	var check []int
	for i := range events {
		e := &events[i]
		if drop[i] {
			continue
		}
		if _, ok := w.itemKey(e.ItemID); !ok {
			check = append(check, i)
		} else if _, ok := w.userKey(e.UserID); e.UserID != "" && !ok {
			check = append(check, i)
		}
	}
	if len(check) > 0 {
		stored := map[string]bool{}
		const chunk = 500
		for lo := 0; lo < len(check); lo += chunk {
			ids := make([]string, 0, chunk)
			for _, i := range check[lo:min(lo+chunk, len(check))] {
				ids = append(ids, events[i].ID)
			}
			list, err := json.Marshal(ids)
			if err != nil {
				return nil, err
			}
			rows, err := w.tx.QueryContext(ctx, `SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))`, string(list))
			if err != nil {
				return nil, fmt.Errorf("find stored ids: %w", err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return nil, fmt.Errorf("find stored ids: %w", err)
				}
				stored[id] = true
			}
			if err := rows.Close(); err != nil {
				return nil, fmt.Errorf("find stored ids: %w", err)
			}
		}
		first := make(map[string]int, len(check)) // the first position of each checked id
		for _, i := range check {
			first[events[i].ID] = -1
		}
		for i := range events {
			if k, ok := first[events[i].ID]; ok && k < 0 {
				first[events[i].ID] = i
			}
		}
		for _, i := range check {
			if id := events[i].ID; stored[id] || first[id] < i {
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

func jsonOrNil(present bool, v any) (any, error) {
	if !present {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func floatOrNil(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func intOrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return toNanos(t)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Interface guards.
var (
	_ store.Writer        = (*writer)(nil)
	_ store.IndexDeferrer = (*writer)(nil)
)
