package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Group commit. SQLite has one writer at a time and a commit costs far more
// than a small insert, so concurrent Update calls are run together: the
// first caller becomes the leader, runs every call waiting at that moment in
// one transaction, commits once, and hands the leadership to the next
// waiting caller, if any. No goroutine is started for this. When a call
// fails, the transaction is rolled back and the group's other calls run
// again without it (store.Updater allows that). Savepoints would isolate
// calls without re-running them, but they copy every page a call touches
// into a sub-journal, which cost a sixth of the write path's time.

// update is one Update call waiting to run.
type update struct {
	ctx  context.Context
	fn   func(store.Writer) error
	done chan error    // the call's result
	lead chan struct{} // closed when this call is to lead the next group
}

// committer queues Update calls.
type committer struct {
	mu      sync.Mutex
	pending []*update
	leading bool
}

// maxGroup is the most calls one transaction runs.
const maxGroup = 256

// Update runs fn atomically; see store.Updater. Concurrent calls may share
// a transaction, but each one's writes are kept or dropped as a whole.
func (db *DB) Update(ctx context.Context, fn func(store.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u := &update{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{})}
	c := &db.commit
	c.mu.Lock()
	c.pending = append(c.pending, u)
	if c.leading {
		c.mu.Unlock()
		select {
		case err := <-u.done:
			return err
		case <-u.lead:
		}
	} else {
		c.leading = true
		c.mu.Unlock()
	}
	// This call leads: run one group (which includes it), then pass on.
	c.mu.Lock()
	n := min(len(c.pending), maxGroup)
	group := c.pending[:n:n]
	c.pending = c.pending[n:]
	c.mu.Unlock()
	db.runGroup(group)
	c.mu.Lock()
	if len(c.pending) > 0 {
		close(c.pending[0].lead)
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	return <-u.done
}

// runGroup runs the calls in one transaction and delivers their results.
func (db *DB) runGroup(group []*update) {
	for len(group) > 0 {
		failed, err := db.tryGroup(group)
		if failed < 0 {
			for _, u := range group {
				u.done <- err
			}
			return
		}
		// Call failed failed, and nothing was kept: it gets its error, the
		// others run again.
		group[failed].done <- err
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// tryGroup runs the calls in one transaction. If a call fails, it rolls
// back and returns the call's index and error. Otherwise it returns -1 and
// the result for every call: nil, or the error that stopped the commit.
func (db *DB) tryGroup(group []*update) (int, error) {
	// The transaction outlives any one caller's context.
	tx, err := db.w.BeginTx(context.Background(), nil)
	if err != nil {
		return -1, fmt.Errorf("begin write: %w", busy(err))
	}
	// Another process that committed since our last write may have
	// deleted records and reused their keys: then the cached keys are
	// stale. data_version changes exactly when another connection
	// commits (this process writes through this one connection only).
	var version int64
	if err := tx.QueryRow("PRAGMA data_version").Scan(&version); err != nil {
		return -1, errors.Join(fmt.Errorf("read data_version: %w", err), rollback(tx))
	}
	if version != db.dataVersion {
		db.refs.reset()
		db.dataVersion = version
		db.foreignCommits.Add(1)
	}
	w := &writer{tx: tx, now: time.Now(), st: db.st, shared: &db.refs}
	w.refs.init()
	defer w.close()
	for i, u := range group {
		err := u.ctx.Err()
		if err == nil {
			err = u.fn(w)
		}
		if err == nil {
			err = u.ctx.Err()
		}
		if err != nil {
			return i, errors.Join(err, rollback(tx))
		}
	}
	if err := w.finish(context.Background()); err != nil {
		return -1, errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		// What the cache was told may not be true any more.
		db.refs.reset()
		return -1, fmt.Errorf("commit: %w", busy(err))
	}
	db.refs.add(&w.refs)
	return -1, nil
}

// refs maps item and user ids to their integer keys.
type refs struct {
	items map[tailor.ItemID]int64
	users map[tailor.UserID]int64
}

func (r *refs) init() {
	if r.items == nil {
		r.items = make(map[tailor.ItemID]int64)
		r.users = make(map[tailor.UserID]int64)
	}
}

// refCache is the store-wide cache of integer keys. Keys enter it only
// after the transaction that found or made them has committed, and leave
// it as soon as a transaction deletes their record (forgetting is always
// safe). Writers consult it only while they hold the single write
// connection. It is safe for concurrent use.
type refCache struct {
	mu sync.Mutex
	r  refs
}

// maxCachedRefs bounds the cache; past it, the cache starts over.
const maxCachedRefs = 1 << 21

func (c *refCache) item(id tailor.ItemID) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ix, ok := c.r.items[id]
	return ix, ok
}

func (c *refCache) user(id tailor.UserID) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ix, ok := c.r.users[id]
	return ix, ok
}

func (c *refCache) forget(item tailor.ItemID, user tailor.UserID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.r.items, item)
	delete(c.r.users, user)
}

func (c *refCache) add(r *refs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.r.items)+len(c.r.users)+len(r.items)+len(r.users) > maxCachedRefs {
		c.r = refs{}
	}
	c.r.init()
	for id, ix := range r.items {
		c.r.items[id] = ix
	}
	for id, ix := range r.users {
		c.r.users[id] = ix
	}
}

func (c *refCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.r = refs{}
}
