package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// PutReport replaces the report of its kind.
func (db *DB) PutReport(ctx context.Context, r store.Report) error {
	if err := store.CheckReport(r); err != nil {
		return err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	_, err := db.w.Exec(ctx, `INSERT INTO reports (kind, created_at, body) VALUES ($1, $2, $3)
		ON CONFLICT (kind) DO UPDATE SET created_at = excluded.created_at, body = excluded.body`,
		r.Kind, toNanos(r.CreatedAt), string(r.Body))
	if err != nil {
		return fmt.Errorf("put report %s: %w", r.Kind, err)
	}
	return nil
}

// Report returns the latest report of the kind.
func (db *DB) Report(ctx context.Context, kind string) (store.Report, error) {
	r := store.Report{Kind: kind}
	var (
		created int64
		body    string
	)
	err := db.w.QueryRow(ctx, `SELECT created_at, body FROM reports WHERE kind = $1`, kind).Scan(&created, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("report %q: %w", kind, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read report %q: %w", kind, err)
	}
	r.CreatedAt, r.Body = fromNanos(created), json.RawMessage(body)
	return r, nil
}

// Categories returns every category path and its ancestors with the number
// of offerable items under each. Each item counts once for each ancestor,
// however many of its paths pass through it.
func (db *DB) Categories(ctx context.Context) ([]store.CategoryCount, error) {
	rows, err := db.r.Query(ctx, `
WITH RECURSIVE paths(ix, path) AS (
	SELECT ix, c FROM items, unnest(categories) c
	WHERE categories IS NOT NULL AND NOT hidden AND NOT non_product AND c <> ''
	UNION
	SELECT ix, left(path, length(path) - strpos(reverse(path), '/')) FROM paths WHERE strpos(path, '/') > 0
)
SELECT path, count(DISTINCT ix) FROM paths WHERE path <> '' GROUP BY path ORDER BY path COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.CategoryCount, error) {
		var c store.CategoryCount
		err := r.Scan(&c.Category, &c.Items)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	return out, nil
}

// CategoryItems returns a page, in id order, of the offerable items (not
// hidden, not non-products) under a category path.
func (db *DB) CategoryItems(ctx context.Context, category string, p store.PageRequest) (store.Page[tailor.Item], error) {
	page, err := db.itemPage(ctx, p, `AND categories IS NOT NULL AND NOT hidden AND NOT non_product
		AND EXISTS (SELECT 1 FROM unnest(categories) c WHERE c = $3 OR starts_with(c, $3 || '/'))`, category)
	if err != nil {
		return page, fmt.Errorf("list items in %q: %w", category, err)
	}
	return page, nil
}

// EventsPerDay counts the events of each type on each day from since.
func (db *DB) EventsPerDay(ctx context.Context, since time.Time) ([]store.DayCount, error) {
	const day = int64(24 * time.Hour)
	rows, err := db.r.Query(ctx, `SELECT ts / $1 AS d, type, count(*) FROM events
		WHERE ts >= $2 GROUP BY d, type ORDER BY d, type COLLATE "C"`, day, toNanos(since.UTC().Truncate(24*time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("count events per day: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.DayCount, error) {
		var (
			d  int64
			dc store.DayCount
		)
		err := r.Scan(&d, &dc.Type, &dc.Events)
		dc.Day = fromNanos(d * day).Format(time.DateOnly)
		return dc, err
	})
	if err != nil {
		return nil, fmt.Errorf("count events per day: %w", err)
	}
	return out, nil
}
