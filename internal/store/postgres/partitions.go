package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tailorhq/tailor/internal/store"
)

// Events are partitioned by the month of their time (UTC), in tables named
// events_pYYYYMM. A writer about to insert events of a month that has no
// partition makes it first, in a transaction of its own (DDL inside the
// writer's transaction would hold the events table against every other
// writer until it commits): the table is created bare and attached, which
// takes no lock that other writers hold. That transaction waits at most
// partitionLockWait for its locks; if it cannot have them (another writer
// is inserting into the default partition, say), the events go to
// events_default, as do those of months outside partitionWindow (a hostile
// client must not make a table per month of a thousand years). Maintain
// (at Open, from Run every minute, and after an import) makes the current
// and the next month's partitions ahead of time and moves the months
// waiting in the default partition into partitions of their own.

// partitionWindow bounds the months that get partitions: from this many
// years before now to one month after.
const partitionWindow = 20

// partitionLockWait is how long a writer's partition-making transaction
// waits for a lock before the events go to the default partition.
const partitionLockWait = 2 * time.Second

// errLockWait ends a writer's wait for the partition-making connection.
var errLockWait = errors.New("waited too long to make a partition")

// inWindow reports whether month is one that gets a partition.
func inWindow(month, now time.Time) bool {
	now = monthOf(now)
	return !month.Before(now.AddDate(-partitionWindow, 0, 0)) && !month.After(now.AddDate(0, 1, 0))
}

// partitionCache remembers the months known to have partitions.
type partitionCache struct {
	mu     sync.Mutex
	months map[time.Time]bool
}

// monthOf returns the first instant of t's month (UTC).
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(month time.Time) string {
	return fmt.Sprintf("events_p%04d%02d", month.Year(), int(month.Month()))
}

// Maintain makes the partitions of the current and the next month, and
// one for every month with events waiting in the default partition, moving
// them there; it drops the tables of bulk loads whose process died. Concurrent calls (from other processes too) wait for each
// other.
func (db *DB) Maintain(ctx context.Context) error {
	if err := db.dropDeadLoads(ctx); err != nil {
		return fmt.Errorf("maintain partitions: drop the tables of dead loads: %w", err)
	}
	now := monthOf(time.Now())
	months := []time.Time{now, now.AddDate(0, 1, 0)}
	var waiting []int64
	rows, err := db.w.Query(ctx, `SELECT DISTINCT ts / $1 FROM (SELECT ts FROM events_default) d`, int64(24*time.Hour))
	if err != nil {
		return fmt.Errorf("maintain partitions: %w", err)
	}
	waiting, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("maintain partitions: %w", err)
	}
	seen := map[time.Time]bool{months[0]: true, months[1]: true}
	for _, d := range waiting {
		m := monthOf(fromNanos(d * int64(24*time.Hour)))
		if !seen[m] && inWindow(m, time.Now()) {
			seen[m] = true
			months = append(months, m)
		}
	}
	// The months with waiting events are checked whatever the process
	// believes (another process may have dropped a partition).
	for _, m := range months[2:] {
		db.partitions.forget(m)
	}
	for _, m := range months {
		if err := db.ensurePartition(ctx, m, 0); err != nil {
			return fmt.Errorf("maintain partitions: %s: %w", partitionName(m), err)
		}
	}
	return nil
}

// knownPartition reports whether the month is known to have a partition.
func (db *DB) knownPartition(month time.Time) bool {
	c := &db.partitions
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.months[month]
}

// ensurePartition makes the month's partition if there is none, moving
// the month's events out of the default partition into it, in one
// transaction. The default partition is locked against inserts while its
// rows move; writers to other months go on. With a lockWait, the
// transaction gives up on a lock it waited that long for.
func (db *DB) ensurePartition(ctx context.Context, month time.Time, lockWait time.Duration) error {
	c := &db.partitions
	if db.knownPartition(month) {
		return nil
	}
	name := partitionName(month)
	from, to := toNanos(month), toNanos(month.AddDate(0, 1, 0))
	dctx := ctx
	if lockWait > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeoutCause(ctx, lockWait, errLockWait)
		defer cancel()
	}
	err := pgx.BeginFunc(dctx, db.ddl, func(tx pgx.Tx) error {
		if lockWait > 0 {
			if _, err := tx.Exec(dctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", lockWait.Milliseconds())); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(dctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(dctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		if _, err := tx.Exec(dctx, `LOCK TABLE events_default IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		ident := pgx.Identifier{name}.Sanitize()
		if _, err := tx.Exec(dctx, `CREATE TABLE `+ident+` (LIKE events INCLUDING DEFAULTS)`); err != nil {
			return err
		}
		moved := fmt.Sprintf(`WITH moved AS (DELETE FROM events_default WHERE ts >= %d AND ts < %d RETURNING *)
			INSERT INTO %s SELECT * FROM moved ORDER BY ts, seq`, from, to, ident)
		if _, err := tx.Exec(dctx, moved); err != nil {
			return err
		}
		// Attaching builds the partition's indexes from the table's rows
		// and checks them against the bounds.
		_, err := tx.Exec(dctx, fmt.Sprintf(`ALTER TABLE events ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, ident, from, to))
		return err
	})
	if err != nil && errors.Is(context.Cause(dctx), errLockWait) {
		return errLockWait
	}
	if err != nil {
		return err
	}
	c.add(month)
	return nil
}

// forget drops what is known of the month.
func (c *partitionCache) forget(month time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.months, month)
}

// add records that the month has a partition.
func (c *partitionCache) add(month time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.months == nil {
		c.months = map[time.Time]bool{}
	}
	c.months[month] = true
}

// onLoader marks in writer.staging the months whose events go to the
// loader.
const onLoader = "<loader>"

// attach makes table the partition of month, named as partitions are when
// rename is set; when it cannot be (another writer made the month's
// partition meanwhile), its events are moved into the events table and it
// is dropped.
func (w *writer) attach(ctx context.Context, month time.Time, table string, rename bool) error {
	from, to := toNanos(month), toNanos(month.AddDate(0, 1, 0))
	ident := pgx.Identifier{table}.Sanitize()
	sp, err := w.tx.Begin(ctx) // a savepoint
	if err != nil {
		return err
	}
	_, err = sp.Exec(ctx, fmt.Sprintf(`ALTER TABLE events ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, ident, from, to))
	if err == nil && rename {
		err = renamePartition(ctx, sp, table, partitionName(month))
	}
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return err
		}
		w.attached = append(w.attached, month)
		return nil
	}
	if err := sp.Rollback(ctx); err != nil {
		return err
	}
	if _, err := w.tx.Exec(ctx, fmt.Sprintf(`INSERT INTO events SELECT * FROM %s ORDER BY seq`, ident)); err != nil {
		return fmt.Errorf("move the events of %s: %w", month.Format("2006-01"), err)
	}
	if _, err := w.tx.Exec(ctx, `DROP TABLE `+ident); err != nil {
		return err
	}
	return nil
}

// renamePartition names a load's table as partitions are named, and its
// indexes as PostgreSQL names a partition's (those whose names are taken
// keep theirs: a name is not worth failing the load for).
func renamePartition(ctx context.Context, tx pgx.Tx, from, to string) error {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $1::regclass`, pgx.Identifier{from}.Sanitize())
	if err != nil {
		return err
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, pgx.Identifier{from}.Sanitize(), pgx.Identifier{to}.Sanitize())); err != nil {
		return err
	}
	for _, ix := range indexes {
		rest, ok := strings.CutPrefix(ix, from)
		if !ok {
			continue
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := sp.Exec(ctx, fmt.Sprintf(`ALTER INDEX %s RENAME TO %s`, pgx.Identifier{ix}.Sanitize(), pgx.Identifier{to + rest}.Sanitize())); err != nil {
			if err := sp.Rollback(ctx); err != nil {
				return err
			}
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// DeferIndexes starts a bulk load when rows is at least the number of
// events stored: the events of months with no partition are then copied
// into tables of their own without indexes, which finish attaches as
// partitions (building each index once, from all its rows, is several
// times faster than growing it row by row). Other writers and readers go
// on meanwhile; the new months appear to them at commit.
func (w *writer) DeferIndexes(ctx context.Context, rows int) error {
	if w.staging != nil {
		return nil
	}
	// A bulk load waits for the locks it needs, however long (attaching
	// its months waits for readers of the default partition): failing
	// at its end would throw its work away. Other writers wait for it at
	// most the busy timeout.
	if _, err := w.tx.Exec(ctx, "SET LOCAL lock_timeout = 0"); err != nil {
		return fmt.Errorf("defer indexes: %w", err)
	}
	var stored int
	if err := w.tx.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM event_ids LIMIT $1) s", rows).Scan(&stored); err != nil {
		return fmt.Errorf("defer indexes: %w", err)
	}
	if stored >= rows {
		return nil
	}
	if stored == 0 {
		if err := w.unkeyIDs(ctx); err != nil {
			return fmt.Errorf("defer indexes: %w", err)
		}
	}
	w.staging, w.loaded, w.emptyStart = map[time.Time]string{}, make(map[string]bool, min(rows, 1<<22)), stored == 0
	load, err := w.db.startLoader(ctx)
	if err != nil {
		return fmt.Errorf("defer indexes: %w", err)
	}
	w.load = load
	return nil
}

// unkeyIDs drops the primary key of event_ids for a bulk load into a store
// that holds no event ids (finish builds it again, from all the ids at
// once: growing it id by id took about a quarter of an import). The load
// holds the table alone until it commits, so other writers of events wait
// for it, as they wait for an import into the embedded store; the ids it
// stores are told apart by the load itself (writer.loaded). When ids were
// stored between the count and the lock, the key stays.
func (w *writer) unkeyIDs(ctx context.Context) error {
	if _, err := w.tx.Exec(ctx, "LOCK TABLE event_ids IN ACCESS EXCLUSIVE MODE"); err != nil {
		return err
	}
	var any bool
	if err := w.tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM event_ids)").Scan(&any); err != nil {
		return err
	}
	if any {
		return nil
	}
	if _, err := w.tx.Exec(ctx, "ALTER TABLE event_ids DROP CONSTRAINT event_ids_pkey"); err != nil {
		return err
	}
	w.idsUnkeyed = true
	return nil
}

// copyDeferred copies a bulk load's rows (months[i] is the month of
// rows[i]): those of a month with a partition, or outside the window, into
// events; the others into the month's staging table.
func (w *writer) copyDeferred(ctx context.Context, rows []eventRow, months []time.Time) (int, error) {
	now := time.Now()
	type group struct {
		table string
		rows  []eventRow
	}
	if len(rows) == 0 {
		return 0, nil
	}
	groups := map[time.Time]*group{}
	var order []time.Time
	earliest := months[0]
	for i, m := range months {
		g := groups[m]
		if g == nil {
			table := "events"
			if inWindow(m, now) && !w.db.knownPartition(m) {
				t, err := w.stagingTable(ctx, m)
				if err != nil {
					return 0, err
				}
				table = t
			}
			g = &group{table: table}
			groups[m] = g
			order = append(order, m)
		}
		g.rows = append(g.rows, rows[i])
		if m.Before(earliest) {
			earliest = m
		}
	}
	total := 0
	for _, m := range order {
		g := groups[m]
		if g.table == onLoader {
			if err := w.load.send(ctx, loadBatch{month: m, rows: g.rows, after: earliest}); err != nil {
				return total, err
			}
			total += len(g.rows)
			continue
		}
		var (
			n   int64
			err error
		)
		n, w.copyBuf, err = copyEvents(ctx, w.tx.Conn(), g.table, g.rows, w.copyBuf)
		if err != nil {
			return total, err
		}
		total += int(n)
	}
	return total, nil
}

// stagingTable returns the month's staging table, or "events" when the
// month has a partition already (made by another process).
func (w *writer) stagingTable(ctx context.Context, month time.Time) (string, error) {
	if t, ok := w.staging[month]; ok {
		return t, nil
	}
	name := partitionName(month)
	var exists bool
	if err := w.tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		w.db.partitions.add(month)
		w.staging[month] = "events"
		return "events", nil
	}
	if w.load != nil {
		w.staging[month] = onLoader
		return onLoader, nil
	}
	from, to := toNanos(month), toNanos(month.AddDate(0, 1, 0))
	// The CHECK matches the partition's bounds, so attaching does not
	// scan the table to prove them.
	if _, err := w.tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE events INCLUDING DEFAULTS, CHECK (ts >= %d AND ts < %d))`,
		pgx.Identifier{name}.Sanitize(), from, to)); err != nil {
		return "", fmt.Errorf("make the table of %s: %w", month.Format("2006-01"), err)
	}
	w.staging[month] = name
	return name, nil
}

// finish attaches a bulk load's staging tables as partitions. A month
// that cannot be attached (another writer put events of it in the default
// partition meanwhile) has its rows moved into events instead, where the
// default partition keeps them until Maintain.
func (w *writer) finish(ctx context.Context) error {
	for month, table := range w.staging {
		if table == "events" || table == onLoader {
			continue
		}
		if err := w.attach(ctx, month, table, false); err != nil {
			return err
		}
	}
	if w.load != nil {
		tables, err := w.load.wait()
		if err != nil {
			return err
		}
		for month, table := range tables {
			if err := w.attach(ctx, month, table, true); err != nil {
				return err
			}
		}
	}
	w.staging = nil
	if w.idsUnkeyed {
		if _, err := w.tx.Exec(ctx, "ALTER TABLE event_ids ADD CONSTRAINT event_ids_pkey PRIMARY KEY (id)"); err != nil {
			return fmt.Errorf("key the event ids: %w", err)
		}
		w.idsUnkeyed = false
	}
	return nil
}

var _ store.IndexDeferrer = (*writer)(nil)
