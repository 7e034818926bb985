package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// eventChunk is how many events go into one INSERT statement: multi-row
// statements amortize SQLite's per-statement cost (11 columns × 90 rows
// stays well under the 32,766 parameter limit).
const eventChunk = 90

// writer implements store.Writer inside one transaction. It prepares its
// statements on first use and remembers which item and user ids it has made
// sure exist, so a bulk load does not ask again for every event.
type writer struct {
	tx  *sql.Tx
	now time.Time

	upsertItem, upsertUser, ensureItem, ensureUser *sql.Stmt
	insertChunk                                    *sql.Stmt

	knownItems map[tailor.ItemID]struct{}
	knownUsers map[tailor.UserID]struct{}
}

func (w *writer) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{w.upsertItem, w.upsertUser, w.ensureItem, w.ensureUser, w.insertChunk} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

func (w *writer) prepare(ctx context.Context, s **sql.Stmt, query string) error {
	if *s != nil {
		return nil
	}
	st, err := w.tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	*s = st
	return nil
}

const upsertItemSQL = `
INSERT INTO items (` + itemColumns + `)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, COALESCE(?13, ?15), COALESCE(?14, ?15))
ON CONFLICT (id) DO UPDATE SET
	title = excluded.title, description = excluded.description, categories = excluded.categories,
	brand = excluded.brand, price = excluded.price, currency = excluded.currency,
	in_stock = excluded.in_stock, stock = excluded.stock, attributes = excluded.attributes,
	hidden = excluded.hidden, non_product = excluded.non_product,
	created_at = COALESCE(?13, items.created_at), updated_at = excluded.updated_at`

// UpsertItems inserts or replaces items.
func (w *writer) UpsertItems(ctx context.Context, items []tailor.Item) error {
	if err := w.prepare(ctx, &w.upsertItem, upsertItemSQL); err != nil {
		return fmt.Errorf("upsert items: %w", err)
	}
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
		_, err = w.upsertItem.ExecContext(ctx, string(it.ID), it.Title, it.Description, cats, it.Brand,
			floatOrNil(it.Price), it.Currency, inStock, intOrNil(it.Stock), attrs, it.Hidden, it.NonProduct,
			timeOrNil(it.CreatedAt), timeOrNil(it.UpdatedAt), now)
		if err != nil {
			return fmt.Errorf("upsert item %q: %w", it.ID, err)
		}
		w.remember(it.ID, "")
	}
	return nil
}

const upsertUserSQL = `
INSERT INTO users (id, attributes, created_at) VALUES (?1, ?2, COALESCE(?3, ?4))
ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, created_at = COALESCE(?3, users.created_at)`

// UpsertUsers inserts or replaces users.
func (w *writer) UpsertUsers(ctx context.Context, users []tailor.User) error {
	if err := w.prepare(ctx, &w.upsertUser, upsertUserSQL); err != nil {
		return fmt.Errorf("upsert users: %w", err)
	}
	now := toNanos(w.now)
	for i := range users {
		u := &users[i]
		attrs, err := jsonOrNil(len(u.Attributes) > 0, u.Attributes)
		if err != nil {
			return fmt.Errorf("upsert user %q: attributes: %w", u.ID, err)
		}
		if _, err := w.upsertUser.ExecContext(ctx, string(u.ID), attrs, timeOrNil(u.CreatedAt), now); err != nil {
			return fmt.Errorf("upsert user %q: %w", u.ID, err)
		}
		w.remember("", u.ID)
	}
	return nil
}

func (w *writer) remember(item tailor.ItemID, user tailor.UserID) {
	if w.knownItems == nil {
		w.knownItems = make(map[tailor.ItemID]struct{})
		w.knownUsers = make(map[tailor.UserID]struct{})
	}
	if item != "" {
		w.knownItems[item] = struct{}{}
	}
	if user != "" {
		w.knownUsers[user] = struct{}{}
	}
}

// ensureRefs creates bare item and user rows for ids the events refer to.
func (w *writer) ensureRefs(ctx context.Context, events []tailor.Event) error {
	if err := w.prepare(ctx, &w.ensureItem, "INSERT INTO items (id, created_at, updated_at) VALUES (?1, ?2, ?2) ON CONFLICT (id) DO NOTHING"); err != nil {
		return err
	}
	if err := w.prepare(ctx, &w.ensureUser, "INSERT INTO users (id, created_at) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING"); err != nil {
		return err
	}
	now := toNanos(w.now)
	for i := range events {
		e := &events[i]
		if _, ok := w.knownItems[e.ItemID]; !ok {
			if _, err := w.ensureItem.ExecContext(ctx, string(e.ItemID), now); err != nil {
				return fmt.Errorf("create item %q: %w", e.ItemID, err)
			}
			w.remember(e.ItemID, "")
		}
		if e.UserID == "" {
			continue
		}
		if _, ok := w.knownUsers[e.UserID]; !ok {
			if _, err := w.ensureUser.ExecContext(ctx, string(e.UserID), now); err != nil {
				return fmt.Errorf("create user %q: %w", e.UserID, err)
			}
			w.remember("", e.UserID)
		}
	}
	return nil
}

func insertEventsSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO events (id, user_id, session_id, item_id, type, value, unit_price, order_id, recommendation_id, ts) VALUES ")
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
		if events[i].ID == "" || events[i].Timestamp.IsZero() {
			return res, fmt.Errorf("insert events: event %d has no id or no timestamp", i)
		}
	}
	if w.knownItems == nil {
		w.remember("", "")
	}
	if err := w.ensureRefs(ctx, events); err != nil {
		return res, fmt.Errorf("insert events: %w", err)
	}
	if err := w.prepare(ctx, &w.insertChunk, insertEventsSQL(eventChunk)); err != nil {
		return res, fmt.Errorf("insert events: %w", err)
	}
	args := make([]any, 0, 10*eventChunk)
	for len(events) > 0 {
		n := min(len(events), eventChunk)
		args = args[:0]
		for i := 0; i < n; i++ {
			e := &events[i]
			args = append(args, e.ID, nullString(string(e.UserID)), nullString(e.SessionID), string(e.ItemID), string(e.Type),
				floatOrNil(e.Value), floatOrNil(e.UnitPrice), nullString(e.OrderID), nullString(e.RecommendationID), toNanos(e.Timestamp))
		}
		var (
			r   sql.Result
			err error
		)
		if n == eventChunk {
			r, err = w.insertChunk.ExecContext(ctx, args...)
		} else {
			r, err = w.tx.ExecContext(ctx, insertEventsSQL(n), args...)
		}
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

// Interface guard.
var _ store.Writer = (*writer)(nil)
