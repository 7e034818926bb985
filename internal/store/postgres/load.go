package postgres

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A bulk load copies the events of months that have no partition into
// tables of their own, events_load_<load>_pYYYYMM, on a second connection
// (a loader) while the load's transaction goes on with the items, shoppers
// and ids on its own: the copying and the index builds, which are most of
// PostgreSQL's work in an import, run beside the parsing and the rest of
// the writing instead of after them. The tables are committed as the
// loader makes them but belong to no partitioned table, so no reader sees
// them; the load's transaction attaches them as partitions when it ends
// (writer.finish), so the events appear with everything else at its
// commit, or not at all. A load that fails drops its tables; one whose
// process died leaves them, and Maintain drops them: the loader holds a
// session lock named by the load while it runs, which a dead one no longer
// holds.

// loadLockKey is the first key of a load's session lock (the second is
// the load's number).
const loadLockKey = int32(0x6c6f6164) // "load"

// loadTable matches the name of a load's table: the load's number and the
// month.
var loadTable = regexp.MustCompile(`^events_load_(\d+)_p(\d{4})(\d{2})$`)

// loadBatch is a part of a batch of events for one month.
type loadBatch struct {
	month time.Time
	rows  []eventRow
	// after is the earliest month of the batch it came from: the loader
	// indexes the months before it (in a file in time order they are
	// complete; rows that come later still go in, into the indexes).
	after time.Time
}

// loader copies a load's events into its tables on a connection of its
// own, in the order it is given them.
type loader struct {
	conn    *pgxpool.Conn
	id      int32
	batches chan loadBatch
	done    chan error
	// indexDefs are the parts of the events table's index definitions
	// from USING on, to give each table the indexes that attaching it
	// would otherwise build (an index that matches is attached as it is).
	indexDefs []string

	// Owned by the loader's goroutine until done is sent.
	tables  map[time.Time]string
	indexed map[time.Time]bool
	buf     []byte

	// waited is set once wait has ended the copying.
	waited bool
}

// startLoader takes a second connection for a bulk load, or returns nil
// when none is free within a second (the load then copies in its own
// transaction).
func (db *DB) startLoader(ctx context.Context) (*loader, error) {
	actx, cancel := context.WithTimeout(ctx, time.Second)
	conn, err := db.w.Acquire(actx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		conn.Release()
		return nil, err
	}
	l := &loader{conn: conn, id: int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff),
		batches: make(chan loadBatch, 4), done: make(chan error, 1),
		tables: map[time.Time]string{}, indexed: map[time.Time]bool{}}
	rows, err := conn.Query(ctx, `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'events'::regclass ORDER BY indexrelid`)
	if err == nil {
		var defs []string
		defs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		for _, d := range defs {
			_, using, ok := strings.Cut(d, " USING ")
			if !ok {
				err = fmt.Errorf("index of events without USING: %s", d)
				break
			}
			l.indexDefs = append(l.indexDefs, using)
		}
	}
	if err == nil {
		_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", loadLockKey, l.id)
	}
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("start the loader: %w", err)
	}
	go l.run(ctx)
	return l, nil
}

// run copies the batches it is given, indexing each month once the
// batches have gone past it, and the rest at the end.
func (l *loader) run(ctx context.Context) {
	var err error
	for b := range l.batches {
		if err != nil {
			continue // drain: the load fails at finish
		}
		err = l.copy(ctx, b)
		if err == nil {
			err = l.indexBefore(ctx, b.after)
		}
	}
	if err == nil {
		err = l.indexBefore(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	l.done <- err
}

// copy copies a batch into its month's table, made when missing. The
// table has the bounds of the month's partition as a CHECK, so that
// attaching it does not scan it to prove them.
func (l *loader) copy(ctx context.Context, b loadBatch) error {
	table, ok := l.tables[b.month]
	if !ok {
		table = fmt.Sprintf("events_load_%d_p%04d%02d", l.id, b.month.Year(), int(b.month.Month()))
		from, to := toNanos(b.month), toNanos(b.month.AddDate(0, 1, 0))
		if _, err := l.conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE events INCLUDING DEFAULTS, CHECK (ts >= %d AND ts < %d))`,
			pgx.Identifier{table}.Sanitize(), from, to)); err != nil {
			return fmt.Errorf("make the table of %s: %w", b.month.Format("2006-01"), err)
		}
		l.tables[b.month] = table
	}
	var err error
	_, l.buf, err = copyEvents(ctx, l.conn.Conn(), table, b.rows, l.buf)
	if err != nil {
		return fmt.Errorf("copy the events of %s: %w", b.month.Format("2006-01"), err)
	}
	return nil
}

// indexBefore builds the indexes of the months before the given one that
// have none yet.
func (l *loader) indexBefore(ctx context.Context, before time.Time) error {
	months := make([]time.Time, 0, len(l.tables))
	for m := range l.tables {
		if m.Before(before) && !l.indexed[m] {
			months = append(months, m)
		}
	}
	slices.SortFunc(months, func(a, b time.Time) int { return a.Compare(b) })
	for _, m := range months {
		ident := pgx.Identifier{l.tables[m]}.Sanitize()
		for _, def := range l.indexDefs {
			if _, err := l.conn.Exec(ctx, "CREATE INDEX ON "+ident+" USING "+def); err != nil {
				return fmt.Errorf("index the events of %s: %w", m.Format("2006-01"), err)
			}
		}
		l.indexed[m] = true
	}
	return nil
}

// send hands the loader a batch; it fails when the loader has stopped on
// an error (returned by wait).
func (l *loader) send(ctx context.Context, b loadBatch) error {
	select {
	case l.batches <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait ends the loader's copying and returns its tables by month.
func (l *loader) wait() (map[time.Time]string, error) {
	l.waited = true
	close(l.batches)
	err := <-l.done
	return l.tables, err
}

// close drops the tables that are not partitions (all of them when the
// load failed, none when it committed), gives up the load's lock and the
// connection. Its errors are left to Maintain: the tables of a load
// without its lock are dropped there.
func (l *loader) close(ctx context.Context) {
	if !l.waited {
		close(l.batches)
		<-l.done
	}
	ctx = context.WithoutCancel(ctx)
	ok := dropLoadTables(ctx, l.conn.Conn(), l.id) == nil
	_, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", loadLockKey, l.id)
	if err != nil || !ok {
		// The session may hold the lock or be broken: do not pool it.
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}

// dropLoadTables drops the tables of load id that are not partitions.
func dropLoadTables(ctx context.Context, conn *pgx.Conn, id int32) error {
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relname LIKE $1 AND c.relkind = 'r' AND NOT c.relispartition
		AND c.relnamespace = current_schema()::regnamespace`, fmt.Sprintf("events\\_load\\_%d\\_p%%", id))
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{n}.Sanitize()); err != nil {
			return err
		}
	}
	return nil
}

// dropDeadLoads drops the tables of loads that no process runs: those
// whose session lock is free.
func (db *DB) dropDeadLoads(ctx context.Context) error {
	conn, err := db.w.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relname LIKE 'events\_load\_%' AND c.relkind = 'r' AND NOT c.relispartition
		AND c.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	ids := map[int32]bool{}
	for _, n := range names {
		if m := loadTable.FindStringSubmatch(n); m != nil {
			if id, err := strconv.ParseInt(m[1], 10, 32); err == nil {
				ids[int32(id)] = true
			}
		}
	}
	var errs []error
	for id := range ids {
		var free bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", loadLockKey, id).Scan(&free); err != nil {
			return err
		}
		if !free {
			continue // a load in progress
		}
		errs = append(errs, dropLoadTables(ctx, conn.Conn(), id))
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", loadLockKey, id); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}
