// Package sqlite is Tailor's embedded storage backend: one SQLite file,
// written through a single connection in WAL mode and read through a small
// pool of read-only connections, so reads never wait for writes.
//
// It uses modernc.org/sqlite, a pure-Go SQLite, so the binary needs no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	msqlite "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Options tune the backend. The zero value is usable.
type Options struct {
	// Readers is the number of read connections; 0 means 4.
	Readers int
	// CacheMiB is SQLite's page cache of the writing connection in MiB
	// (0 means 64), ReaderCacheMiB that of each reading connection (0
	// means 2). Readers keep small caches: scans for training and
	// analyses would otherwise fill every reader's cache with the whole
	// database, which the operating system's page cache holds anyway.
	CacheMiB, ReaderCacheMiB int
	// Durability is what a committed write survives (default
	// DurabilityFull).
	Durability Durability
	// BusyTimeout is how long a write waits for another writer (another
	// process) before it fails with store.ErrBusy (0 means 10 s).
	BusyTimeout time.Duration
	// TombstoneRetention is how long the ids of deleted events are kept
	// (as hashes) so that a retried batch holding them stores nothing
	// again; Run purges older ones. 0 means DefaultTombstoneRetention.
	TombstoneRetention time.Duration
}

// DefaultTombstoneRetention is how long tombstones of deleted events last
// by default: longer than any client retries a batch.
const DefaultTombstoneRetention = 30 * 24 * time.Hour

// Durability is what a committed write survives.
type Durability int

const (
	// DurabilityFull syncs the write-ahead log at every commit (SQLite's
	// synchronous=FULL): a commit survives a crash of the machine.
	DurabilityFull Durability = iota
	// DurabilityProcess syncs it at checkpoints only (synchronous=NORMAL):
	// a commit survives a crash of the process, and the last commits may
	// be lost with the machine.
	DurabilityProcess
)

// DB is a SQLite store. It is safe for concurrent use.
type DB struct {
	w *sql.DB // one connection: SQLite has a single writer
	r *sql.DB // read-only connections

	ck *sql.DB // one connection for background checkpoints (Run)
	st *statements

	commit committer // queues Update calls for group commit
	refs   refCache  // integer keys of items and users
	reads  sync.Map  // query → *sql.Stmt on r (readStmt)

	tombstoneRetention time.Duration

	// dataVersion is the writer connection's PRAGMA data_version at the
	// last write (only the group's leader reads or sets it), and
	// foreignCommits counts the writes that found it changed: another
	// process had committed, so the key caches were dropped.
	dataVersion    int64
	foreignCommits atomic.Int64
}

// Open opens (creating if needed) the SQLite database at path and brings
// its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 64
	}
	if opts.ReaderCacheMiB <= 0 {
		opts.ReaderCacheMiB = 2
	}
	sync := "synchronous(FULL)"
	if opts.Durability == DurabilityProcess {
		sync = "synchronous(NORMAL)"
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	pragmas := func(cacheMiB int, extra ...string) string {
		q := url.Values{}
		ps := []string{
			fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()),
			"journal_mode(WAL)",
			sync,
			fmt.Sprintf("cache_size(%d)", -cacheMiB*1024),
			"temp_store(MEMORY)",
			"wal_autocheckpoint(65536)",
			// Deleted rows are overwritten with zeros, so a deleted
			// shopper's data is not left readable in free pages.
			"secure_delete(ON)",
		}
		ps = append(ps, extra...)
		for _, p := range ps {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", pragmas(opts.CacheMiB)+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", pragmas(opts.ReaderCacheMiB, "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	ck, err := sql.Open("sqlite", pragmas(2))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s for checkpoints: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	st, err := prepareStatements(ctx, w)
	if err != nil {
		w.Close()
		r.Close()
		ck.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if opts.TombstoneRetention <= 0 {
		opts.TombstoneRetention = DefaultTombstoneRetention
	}
	return &DB{w: w, r: r, ck: ck, st: st, tombstoneRetention: opts.TombstoneRetention}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("the database has schema version %d, newer than this binary knows (%d): upgrade tailor", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
	}
	return nil
}

// Close closes the database, checkpointing the write-ahead log.
func (db *DB) Close() error {
	var errs []error
	db.reads.Range(func(_, v any) bool {
		errs = append(errs, v.(*sql.Stmt).Close())
		return true
	})
	return errors.Join(append(errs, db.st.close(), db.ck.Close(), db.r.Close(), db.w.Close())...)
}

// readStmt returns the read statement for query, prepared once: event
// listings come in a few shapes, and parsing each request's SQL again
// cost a tenth of a recommendation request. The cache is not bounded, so
// query must come from a bounded set of texts: values go in arguments,
// never in the text (where builds one of at most 2⁸ shapes).
func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.reads.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.reads.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// busy wraps SQLite's "database is locked" (another connection or process
// holds the write lock past the busy timeout) as store.ErrBusy.
func busy(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("%w: %w", store.ErrBusy, err)
	}
	return err
}

// CheckpointInterval is how often Run checkpoints the write-ahead log.
const CheckpointInterval = 100 * time.Millisecond

// Run copies committed pages from the write-ahead log into the database
// file every CheckpointInterval until ctx is done, so that writers do not
// pay for it (without Run, the writer checkpoints when the log reaches 256
// MiB). It returns nil when ctx is done.
func (db *DB) Run(ctx context.Context) error {
	t := time.NewTicker(CheckpointInterval)
	defer t.Stop()
	var purged time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := db.ck.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
			if time.Since(purged) > time.Hour {
				purged = time.Now()
				if _, err := db.PurgeTombstones(ctx, purged.Add(-db.tombstoneRetention)); err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrBusy) {
					return err
				}
			}
		}
	}
}

// PurgeTombstones forgets the deleted events' and shoppers' ids recorded
// before the time (Run calls it hourly with the retention): a batch holding
// those events is then stored again. It returns how many it forgot.
func (db *DB) PurgeTombstones(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.Update(ctx, func(w store.Writer) error {
		tx := w.(*writer).tx
		res, err := tx.ExecContext(ctx, `DELETE FROM deleted_events WHERE deleted_at < ?`, toNanos(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		if err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM deleted_users WHERE deleted_at < ?`, toNanos(before))
		if err != nil {
			return err
		}
		users, err := res.RowsAffected()
		n += users
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge tombstones: %w", err)
	}
	return int(n), nil
}

// Ping checks that both connection pools work.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// Counts returns the number of items, users and events.
func (db *DB) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	err := db.r.QueryRowContext(ctx,
		"SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM users), (SELECT count(*) FROM events)").
		Scan(&c.Items, &c.Users, &c.Events)
	if err != nil {
		return c, fmt.Errorf("count records: %w", err)
	}
	return c, nil
}

const itemColumns = "id, title, description, categories, brand, price, currency, in_stock, stock, attributes, hidden, non_product, created_at, updated_at"

func scanItem(sc interface{ Scan(...any) error }) (tailor.Item, error) {
	var (
		it                tailor.Item
		cats, attrs       sql.NullString
		price             sql.NullFloat64
		inStock, stock    sql.NullInt64
		created, updated  int64
		hidden, nonProdct bool
	)
	if err := sc.Scan(&it.ID, &it.Title, &it.Description, &cats, &it.Brand, &price, &it.Currency,
		&inStock, &stock, &attrs, &hidden, &nonProdct, &created, &updated); err != nil {
		return it, err
	}
	if cats.Valid {
		if err := json.Unmarshal([]byte(cats.String), &it.Categories); err != nil {
			return it, fmt.Errorf("item %s: decode categories: %w", it.ID, err)
		}
	}
	if attrs.Valid {
		if err := json.Unmarshal([]byte(attrs.String), &it.Attributes); err != nil {
			return it, fmt.Errorf("item %s: decode attributes: %w", it.ID, err)
		}
	}
	if price.Valid {
		it.Price = &price.Float64
	}
	if inStock.Valid {
		b := inStock.Int64 != 0
		it.InStock = &b
	}
	if stock.Valid {
		it.Stock = &stock.Int64
	}
	it.Hidden, it.NonProduct = hidden, nonProdct
	it.CreatedAt, it.UpdatedAt = fromNanos(created), fromNanos(updated)
	return it, nil
}

// Item returns one item.
func (db *DB) Item(ctx context.Context, id tailor.ItemID) (tailor.Item, error) {
	it, err := scanItem(db.r.QueryRowContext(ctx, "SELECT "+itemColumns+" FROM items WHERE id = ?", string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return it, fmt.Errorf("item %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return it, fmt.Errorf("read item %q: %w", id, err)
	}
	return it, nil
}

// Items returns a page of items in id order.
func (db *DB) Items(ctx context.Context, p store.PageRequest) (store.Page[tailor.Item], error) {
	page, err := db.itemPage(ctx, p, "")
	if err != nil {
		return page, fmt.Errorf("list items: %w", err)
	}
	return page, nil
}

// itemPage reads a page of items in id order, those that pass filter (SQL
// after "WHERE id > ?", with its arguments) when it is not empty.
func (db *DB) itemPage(ctx context.Context, p store.PageRequest, filter string, args ...any) (store.Page[tailor.Item], error) {
	var page store.Page[tailor.Item]
	after, err := store.DecodeIDCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	n := p.Size()
	rows, err := db.r.QueryContext(ctx, "SELECT "+itemColumns+" FROM items WHERE id > ? "+filter+" ORDER BY id LIMIT ?",
		slices.Concat([]any{after}, args, []any{n + 1})...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return page, err
		}
		page.Data = append(page.Data, it)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	if len(page.Data) > n {
		page.Data = page.Data[:n]
		page.NextCursor = store.EncodeIDCursor(string(page.Data[n-1].ID))
	}
	return page, nil
}

func scanUser(sc interface{ Scan(...any) error }) (tailor.User, error) {
	var (
		u       tailor.User
		attrs   sql.NullString
		created int64
	)
	if err := sc.Scan(&u.ID, &attrs, &created); err != nil {
		return u, err
	}
	if attrs.Valid {
		if err := json.Unmarshal([]byte(attrs.String), &u.Attributes); err != nil {
			return u, fmt.Errorf("user %s: decode attributes: %w", u.ID, err)
		}
	}
	u.CreatedAt = fromNanos(created)
	return u, nil
}

// User returns one user.
func (db *DB) User(ctx context.Context, id tailor.UserID) (tailor.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT id, attributes, created_at FROM users WHERE id = ?", string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %q: %w", id, err)
	}
	return u, nil
}

// Users returns a page of users in id order.
func (db *DB) Users(ctx context.Context, p store.PageRequest) (store.Page[tailor.User], error) {
	var page store.Page[tailor.User]
	after, err := store.DecodeIDCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	n := p.Size()
	rows, err := db.r.QueryContext(ctx, "SELECT id, attributes, created_at FROM users WHERE id > ? ORDER BY id LIMIT ?", after, n+1)
	if err != nil {
		return page, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return page, fmt.Errorf("list users: %w", err)
		}
		page.Data = append(page.Data, u)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list users: %w", err)
	}
	if len(page.Data) > n {
		page.Data = page.Data[:n]
		page.NextCursor = store.EncodeIDCursor(string(page.Data[n-1].ID))
	}
	return page, nil
}

const eventSelect = `SELECT e.seq, e.id, u.id, e.session_id, i.id, e.type, e.value, e.unit_price, e.order_id, e.recommendation_id, e.ts
FROM events e JOIN items i ON i.ix = e.item_ix LEFT JOIN users u ON u.ix = e.user_ix`

func scanEvent(sc interface{ Scan(...any) error }, e *tailor.Event) (seq int64, err error) {
	var (
		user, session, order, rec sql.NullString
		value, price              sql.NullFloat64
		ts                        int64
	)
	if err := sc.Scan(&seq, &e.ID, &user, &session, &e.ItemID, &e.Type, &value, &price, &order, &rec, &ts); err != nil {
		return 0, err
	}
	e.UserID, e.SessionID = tailor.UserID(user.String), session.String
	e.OrderID, e.RecommendationID = order.String, rec.String
	e.Value, e.UnitPrice = nil, nil
	if value.Valid {
		v := value.Float64
		e.Value = &v
	}
	if price.Valid {
		v := price.Float64
		e.UnitPrice = &v
	}
	e.Timestamp = fromNanos(ts)
	return seq, nil
}

// where builds the WHERE clause of q.
func where(q store.EventQuery) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if q.UserID != "" {
		conds, args = append(conds, "e.user_ix = (SELECT ix FROM users WHERE id = ?)"), append(args, string(q.UserID))
	}
	if q.SessionID != "" {
		conds, args = append(conds, "e.session_id = ?"), append(args, q.SessionID)
	}
	if q.ItemID != "" {
		conds, args = append(conds, "e.item_ix = (SELECT ix FROM items WHERE id = ?)"), append(args, string(q.ItemID))
	}
	if len(q.Types) > 0 {
		// One JSON array, not a placeholder per type: the statement's
		// text, which keys the prepared-statement cache, must not vary
		// with the request (a listing per list length grew the cache
		// without bound), nor may a long list reach SQLite's limit on
		// variables.
		types, _ := json.Marshal(q.Types) // a slice of strings always encodes
		conds, args = append(conds, "e.type IN (SELECT value FROM json_each(?))"), append(args, string(types))
	}
	if !q.Since.IsZero() {
		conds, args = append(conds, "e.ts >= ?"), append(args, toNanos(q.Since))
	}
	if !q.Until.IsZero() {
		conds, args = append(conds, "e.ts < ?"), append(args, toNanos(q.Until))
	}
	if q.Attributed {
		conds = append(conds, "e.recommendation_id IS NOT NULL")
	}
	if len(conds) == 0 {
		return "1 = 1", nil
	}
	return strings.Join(conds, " AND "), args
}

// Events returns a page of matching events, newest first.
func (db *DB) Events(ctx context.Context, q store.EventQuery, p store.PageRequest) (store.Page[tailor.Event], error) {
	var page store.Page[tailor.Event]
	cond, args := where(q)
	if p.Cursor != "" {
		ts, seq, err := store.DecodeEventCursor(p.Cursor)
		if err != nil {
			return page, err
		}
		cond += " AND (e.ts < ? OR (e.ts = ? AND e.seq < ?))"
		args = append(args, ts, ts, seq)
	}
	n := p.Size()
	args = append(args, n+1)
	st, err := db.readStmt(ctx, eventSelect+" WHERE "+cond+" ORDER BY e.ts DESC, e.seq DESC LIMIT ?")
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var lastSeq int64
	for rows.Next() {
		var e tailor.Event
		seq, err := scanEvent(rows, &e)
		if err != nil {
			return page, fmt.Errorf("list events: %w", err)
		}
		if len(page.Data) < n {
			lastSeq = seq
		}
		page.Data = append(page.Data, e)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	if len(page.Data) > n {
		page.Data = page.Data[:n]
		page.NextCursor = store.EncodeEventCursor(toNanos(page.Data[n-1].Timestamp), lastSeq)
	}
	return page, nil
}

// ScanEvents calls fn for every matching event, oldest first, from one
// snapshot of the database.
func (db *DB) ScanEvents(ctx context.Context, q store.EventQuery, fn func(*tailor.Event) error) error {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	defer tx.Rollback()
	cond, args := where(q)
	rows, err := tx.QueryContext(ctx, eventSelect+" WHERE "+cond+" ORDER BY e.ts, e.seq", args...)
	if err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	defer rows.Close()
	var e tailor.Event
	for rows.Next() {
		if _, err := scanEvent(rows, &e); err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	return nil
}

// DeleteItem removes an item and its events.
func (db *DB) DeleteItem(ctx context.Context, id tailor.ItemID) (int, error) {
	return db.deleteWithEvents(ctx, "item", string(id))
}

// DeleteUser removes a user and their events.
func (db *DB) DeleteUser(ctx context.Context, id tailor.UserID) (int, error) {
	return db.deleteWithEvents(ctx, "user", string(id))
}

// deleteWithEvents deletes the item or user (kind) with the id and the
// events that refer to it.
func (db *DB) deleteWithEvents(ctx context.Context, kind, id string) (int, error) {
	var n int
	err := db.Update(ctx, func(w store.Writer) (err error) {
		n, err = w.(*writer).deleteRecord(ctx, kind, id)
		return err
	})
	if err != nil {
		return n, err
	}
	db.scrubLog(ctx)
	return n, nil
}

// scrubLog follows a deletion. secure_delete zeroes the freed rows in the
// pages the deletion wrote to the log, but the log still holds the frames
// that first stored them: copy the log into the database and truncate it,
// so that the deleted data is in neither file. It waits for readers (at
// most the busy timeout); if one outlasts it, the next checkpoint does the
// rest.
func (db *DB) scrubLog(ctx context.Context) {
	_, _ = db.ck.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
}

func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// Interface guard.
var _ store.Store = (*DB)(nil)
