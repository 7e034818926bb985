package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/jackc/pgx/v5"
)

// leases are the jobs this process leads (one at a time on a store among
// all the processes that share it), each by a session-level advisory lock
// held on a connection of its own: when the process dies, PostgreSQL ends
// the session and frees the lock, and another process takes it at its
// next try.
type leases struct {
	mu    sync.Mutex
	conns map[string]*pgx.Conn
}

// Lead reports whether this process leads the job (such as "retrain") on
// this store (the database and schema),
// taking the lead if no other process holds it. A leader stays one until
// it closes the store or loses its connection; Lead checks the connection
// on every call.
func (db *DB) Lead(ctx context.Context, job string) (bool, error) {
	l := &db.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	if conn := l.conns[job]; conn != nil {
		if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
			return true, nil
		}
		conn.Close(context.Background())
		delete(l.conns, job)
	}
	conn, err := pgx.ConnectConfig(ctx, db.leaseConfig.Copy())
	if err != nil {
		return false, fmt.Errorf("lead %s: %w", job, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(migrateLock&0x7fffffff), jobKey(db.schema+"/"+job)).Scan(&got); err != nil {
		conn.Close(context.Background())
		return false, fmt.Errorf("lead %s: %w", job, err)
	}
	if !got {
		conn.Close(context.Background())
		return false, nil
	}
	if l.conns == nil {
		l.conns = map[string]*pgx.Conn{}
	}
	l.conns[job] = conn
	return true, nil
}

// jobKey is the second key of a job's advisory lock.
func jobKey(job string) int32 {
	h := fnv.New32a()
	h.Write([]byte(job))
	return int32(h.Sum32())
}

// close gives up every lead.
func (l *leases) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for job, conn := range l.conns {
		conn.Close(context.Background())
		delete(l.conns, job)
	}
}
