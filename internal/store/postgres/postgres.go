// Package postgres is Tailor's PostgreSQL storage backend, for shops that
// run several serving replicas on one database: every replica reads and
// writes the same store, and reads may go to a replica of the database.
//
// It uses pgx (jackc/pgx/v5) directly rather than through database/sql,
// for COPY (events are written with it) and for binary arrays.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Options tune the backend. The zero value is usable.
type Options struct {
	// ReadURL, if set, is a PostgreSQL URL (a streaming replica, say)
	// that listings, scans and model reads go to; writes and the reads
	// that must see them go to the main URL.
	ReadURL string
	// Schema, if set, is the schema the tables live in (created if
	// missing); the default is the connection's search_path, normally
	// public.
	Schema string
	// MaxConns is the size of each connection pool; 0 means 8.
	MaxConns int32
	// BusyTimeout is how long a deletion waits for the transactions
	// writing events (a long import, say) before it fails with
	// store.ErrBusy; 0 means 10 s.
	BusyTimeout time.Duration
	// TombstoneRetention is how long the ids of deleted events and
	// shoppers are kept (as hashes); Run purges older ones. 0 means
	// DefaultTombstoneRetention.
	TombstoneRetention time.Duration
}

// DefaultTombstoneRetention is how long tombstones last by default: longer
// than any client retries a batch.
const DefaultTombstoneRetention = 30 * 24 * time.Hour

// DB is a PostgreSQL store. It is safe for concurrent use, by any number
// of processes on the same database.
type DB struct {
	w *pgxpool.Pool // writes, and reads that must see them
	r *pgxpool.Pool // listings and scans: w, or the ReadURL's pool
	// ddl is one connection for making partitions: writers that hold
	// every connection of w must not wait for another one of w.
	ddl *pgxpool.Pool

	tombstoneRetention time.Duration
	partitions         partitionCache
	leases             leases
	leaseConfig        *pgx.ConnConfig // the main URL's, for leases' connections
	schema             string          // where the tables are: leases are per store, not per database
	refsKey            int32           // the second key of the references lock: per store
	busyTimeout        time.Duration
}

// IsURL reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url and brings its schema up to date.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	if opts.TombstoneRetention <= 0 {
		opts.TombstoneRetention = DefaultTombstoneRetention
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	w, err := pool(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, w, opts.Schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	db := &DB{w: w, r: w, tombstoneRetention: opts.TombstoneRetention, leaseConfig: w.Config().ConnConfig, busyTimeout: opts.BusyTimeout}
	if err := w.QueryRow(ctx, "SELECT current_schema()").Scan(&db.schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	db.refsKey = jobKey(db.schema + "/refs")
	if db.ddl, err = pool(ctx, url, Options{Schema: opts.Schema, MaxConns: 1}); err != nil {
		w.Close()
		return nil, err
	}
	if opts.ReadURL != "" {
		ro := opts
		ro.BusyTimeout = 0 // reads take no locks that writers hold long
		if db.r, err = pool(ctx, opts.ReadURL, ro); err != nil {
			w.Close()
			db.ddl.Close()
			return nil, err
		}
	}
	// The current month and the next have their partitions from the
	// start, so that live events never wait in the default partition.
	if err := db.Maintain(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// pool opens a connection pool to url with the schema on its search path.
func pool(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres url %s: %w", redact(url), err)
	}
	cfg.MaxConns = opts.MaxConns
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if opts.BusyTimeout > 0 {
		// A write waits for another's locks (an import holding a row
		// it also writes, or the event ids) at most this long, then
		// fails with store.ErrBusy (Update).
		cfg.ConnConfig.RuntimeParams["lock_timeout"] = strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	if err := p.Ping(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	return p, nil
}

// redact drops the password from a URL for messages.
func redact(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(an unparsable URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// migrateLock is the advisory lock that serializes migrations (and
// partition maintenance) between processes.
const migrateLock = 0x7461696c6f72 // "tailor"

func migrate(ctx context.Context, p *pgxpool.Pool, schema string) error {
	return pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		// A migration waits for what it must (the pool's lock_timeout
		// bounds ordinary writes).
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = 0"); err != nil {
			return fmt.Errorf("lock the schema: %w", err)
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
			return fmt.Errorf("lock the schema: %w", err)
		}
		if schema != "" {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
				return fmt.Errorf("create schema %s: %w", schema, err)
			}
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS tailor_schema (version integer NOT NULL)"); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, "SELECT version FROM tailor_schema").Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = tx.Exec(ctx, "INSERT INTO tailor_schema (version) VALUES (0)")
		}
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(migrations) {
			return fmt.Errorf("the database has schema version %d, newer than this binary knows (%d): upgrade tailor", version, len(migrations))
		}
		for v := version; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE tailor_schema SET version = $1", len(migrations)); err != nil {
			return fmt.Errorf("record schema version: %w", err)
		}
		return nil
	})
}

// Close closes the connection pools.
func (db *DB) Close() error {
	db.leases.close()
	if db.r != db.w {
		db.r.Close()
	}
	db.ddl.Close()
	db.w.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// MaintainInterval is how often Run makes partitions and purges
// tombstones.
const MaintainInterval = time.Minute

// Run maintains the store until ctx is done: every MaintainInterval it
// makes the event partitions that are due (Maintain), and every hour it
// purges tombstones past their retention. It returns nil when ctx is done.
func (db *DB) Run(ctx context.Context) error {
	t := time.NewTicker(MaintainInterval)
	defer t.Stop()
	var purged time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := db.Maintain(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		if time.Since(purged) > time.Hour {
			purged = time.Now()
			if _, err := db.PurgeTombstones(ctx, purged.Add(-db.tombstoneRetention)); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// PurgeTombstones forgets the deleted events' and shoppers' ids recorded
// before the time: a batch holding those events is then stored again. It
// returns how many it forgot.
func (db *DB) PurgeTombstones(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error {
		for _, table := range []string{"deleted_events", "deleted_users"} {
			tag, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE deleted_at < $1", toNanos(before))
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge tombstones: %w", err)
	}
	return int(n), nil
}

// Counts returns the number of items, users and events.
func (db *DB) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	err := db.w.QueryRow(ctx,
		"SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM users), (SELECT count(*) FROM events)").
		Scan(&c.Items, &c.Users, &c.Events)
	if err != nil {
		return c, fmt.Errorf("count records: %w", err)
	}
	return c, nil
}

const itemColumns = "id, title, description, categories, brand, price, currency, in_stock, stock, attributes, hidden, non_product, created_at, updated_at"

func scanItem(sc pgx.Row) (tailor.Item, error) {
	var (
		it               tailor.Item
		cats             []string
		attrs            *string
		created, updated int64
	)
	if err := sc.Scan(&it.ID, &it.Title, &it.Description, &cats, &it.Brand, &it.Price, &it.Currency,
		&it.InStock, &it.Stock, &attrs, &it.Hidden, &it.NonProduct, &created, &updated); err != nil {
		return it, err
	}
	if len(cats) > 0 {
		it.Categories = cats
	}
	if attrs != nil {
		if err := json.Unmarshal([]byte(*attrs), &it.Attributes); err != nil {
			return it, fmt.Errorf("item %s: decode attributes: %w", it.ID, err)
		}
	}
	it.CreatedAt, it.UpdatedAt = fromNanos(created), fromNanos(updated)
	return it, nil
}

// Item returns one item.
func (db *DB) Item(ctx context.Context, id tailor.ItemID) (tailor.Item, error) {
	it, err := scanItem(db.w.QueryRow(ctx, "SELECT "+itemColumns+" FROM items WHERE id = $1", string(id)))
	if errors.Is(err, pgx.ErrNoRows) {
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
// after "WHERE id > $1", its arguments numbered from $3) when it is not
// empty.
func (db *DB) itemPage(ctx context.Context, p store.PageRequest, filter string, args ...any) (store.Page[tailor.Item], error) {
	var page store.Page[tailor.Item]
	after, err := store.DecodeIDCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	n := p.Size()
	rows, err := db.r.Query(ctx, "SELECT "+itemColumns+" FROM items WHERE id > $1 "+filter+" ORDER BY id LIMIT $2",
		slices.Concat([]any{after, n + 1}, args)...)
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

func scanUser(sc pgx.Row) (tailor.User, error) {
	var (
		u       tailor.User
		attrs   *string
		created int64
	)
	if err := sc.Scan(&u.ID, &attrs, &created); err != nil {
		return u, err
	}
	if attrs != nil {
		if err := json.Unmarshal([]byte(*attrs), &u.Attributes); err != nil {
			return u, fmt.Errorf("user %s: decode attributes: %w", u.ID, err)
		}
	}
	u.CreatedAt = fromNanos(created)
	return u, nil
}

// User returns one user.
func (db *DB) User(ctx context.Context, id tailor.UserID) (tailor.User, error) {
	u, err := scanUser(db.w.QueryRow(ctx, "SELECT id, attributes, created_at FROM users WHERE id = $1", string(id)))
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := db.r.Query(ctx, `SELECT id, attributes, created_at FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, n+1)
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

func scanEvent(sc pgx.Row, e *tailor.Event) (seq int64, err error) {
	var (
		user, session, order, rec *string
		ts                        int64
	)
	e.Value, e.UnitPrice = nil, nil
	if err := sc.Scan(&seq, &e.ID, &user, &session, &e.ItemID, &e.Type, &e.Value, &e.UnitPrice, &order, &rec, &ts); err != nil {
		return 0, err
	}
	e.UserID, e.SessionID = tailor.UserID(deref(user)), deref(session)
	e.OrderID, e.RecommendationID = deref(order), deref(rec)
	e.Timestamp = fromNanos(ts)
	return seq, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// where builds the WHERE clause of q, its placeholders numbered from $1.
func where(q store.EventQuery) (string, []any) {
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.UserID != "" {
		conds = append(conds, "e.user_ix = (SELECT ix FROM users WHERE id = "+arg(string(q.UserID))+")")
	}
	if q.SessionID != "" {
		conds = append(conds, "e.session_id = "+arg(q.SessionID))
	}
	if q.ItemID != "" {
		conds = append(conds, "e.item_ix = (SELECT ix FROM items WHERE id = "+arg(string(q.ItemID))+")")
	}
	if len(q.Types) > 0 {
		types := make([]string, len(q.Types))
		for i, t := range q.Types {
			types[i] = string(t)
		}
		conds = append(conds, "e.type = ANY("+arg(types)+")")
	}
	if !q.Since.IsZero() {
		conds = append(conds, "e.ts >= "+arg(toNanos(q.Since)))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "e.ts < "+arg(toNanos(q.Until)))
	}
	if q.Attributed {
		conds = append(conds, "e.recommendation_id IS NOT NULL")
	}
	if len(conds) == 0 {
		return "true", nil
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
		args = append(args, ts, seq)
		cond += fmt.Sprintf(" AND (e.ts, e.seq) < ($%d, $%d)", len(args)-1, len(args))
	}
	n := p.Size()
	args = append(args, n+1)
	rows, err := db.w.Query(ctx, eventSelect+" WHERE "+cond+" ORDER BY e.ts DESC, e.seq DESC LIMIT $"+strconv.Itoa(len(args)), args...)
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
// snapshot of the database (a repeatable-read transaction).
func (db *DB) ScanEvents(ctx context.Context, q store.EventQuery, fn func(*tailor.Event) error) error {
	tx, err := db.r.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	defer tx.Rollback(ctx)
	cond, args := where(q)
	rows, err := tx.Query(ctx, eventSelect+" WHERE "+cond+" ORDER BY e.ts, e.seq", args...)
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
	return n, err
}

func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// Interface guard.
var _ store.Store = (*DB)(nil)
