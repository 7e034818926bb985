package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
	_, err := db.w.ExecContext(ctx, `INSERT INTO reports (kind, created_at, body) VALUES (?, ?, ?)
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
	err := db.r.QueryRowContext(ctx, `SELECT created_at, body FROM reports WHERE kind = ?`, kind).Scan(&created, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("report %q: %w", kind, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read report %q: %w", kind, err)
	}
	r.CreatedAt, r.Body = fromNanos(created), json.RawMessage(body)
	return r, nil
}

// Categories returns every category path and its ancestors with the number
// of offerable items under each.
func (db *DB) Categories(ctx context.Context) ([]store.CategoryCount, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT categories FROM items
		WHERE categories IS NOT NULL AND hidden = 0 AND non_product = 0`)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	seen := map[string]bool{}
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			return nil, fmt.Errorf("list categories: %w", err)
		}
		var cats []string
		if err := json.Unmarshal([]byte(js), &cats); err != nil {
			return nil, fmt.Errorf("list categories: decode %q: %w", js, err)
		}
		clear(seen)
		for _, c := range cats {
			// Each ancestor counts the item once, however many of its
			// paths pass through it.
			for p := c; p != ""; {
				if !seen[p] {
					seen[p] = true
					counts[p]++
				}
				i := strings.LastIndexByte(p, '/')
				if i < 0 {
					break
				}
				p = p[:i]
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	out := make([]store.CategoryCount, 0, len(counts))
	for c, n := range counts {
		out = append(out, store.CategoryCount{Category: c, Items: n})
	}
	slices.SortFunc(out, func(a, b store.CategoryCount) int { return strings.Compare(a.Category, b.Category) })
	return out, nil
}

// CategoryItems returns a page, in id order, of the offerable items (not
// hidden, not non-products) under a category path.
func (db *DB) CategoryItems(ctx context.Context, category string, p store.PageRequest) (store.Page[tailor.Item], error) {
	page, err := db.itemPage(ctx, p, `AND categories IS NOT NULL AND hidden = 0 AND non_product = 0
		AND EXISTS (SELECT 1 FROM json_each(items.categories) c WHERE c.value = ? OR substr(c.value, 1, length(?) + 1) = ? || '/')`,
		category, category, category)
	if err != nil {
		return page, fmt.Errorf("list items in %q: %w", category, err)
	}
	return page, nil
}

// EventsPerDay counts the events of each type on each day from since.
func (db *DB) EventsPerDay(ctx context.Context, since time.Time) ([]store.DayCount, error) {
	const day = int64(24 * time.Hour)
	rows, err := db.r.QueryContext(ctx, `SELECT ts / ?1 AS d, type, count(*) FROM events
		WHERE ts >= ?2 GROUP BY d, type ORDER BY d, type`, day, toNanos(since.UTC().Truncate(24*time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("count events per day: %w", err)
	}
	defer rows.Close()
	var out []store.DayCount
	for rows.Next() {
		var (
			d  int64
			dc store.DayCount
		)
		if err := rows.Scan(&d, &dc.Type, &dc.Events); err != nil {
			return nil, fmt.Errorf("count events per day: %w", err)
		}
		dc.Day = fromNanos(d * day).Format(time.DateOnly)
		out = append(out, dc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count events per day: %w", err)
	}
	return out, nil
}
