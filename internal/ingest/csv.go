package ingest

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
)

// The csv format: a header row, then one record per row. The header decides
// what the file holds:
//   - events, when it has an item_id column: id, user_id, session_id,
//     item_id, type, value, unit_price, order_id, recommendation_id,
//     timestamp;
//   - items, when it has any of title, description, categories, brand,
//     price, currency, in_stock, stock, hidden, non_product, updated_at:
//     those and id, created_at;
//   - users otherwise: id, created_at.
//
// Items and users may add attributes as columns named attr.NAME (a string
// value) or num.NAME (a number). Lists (categories) are separated by "|".
// Times are RFC 3339 or Unix seconds. Booleans are true/false/1/0/yes/no.
// Empty cells are absent values.
var (
	eventColumns = []string{"id", "user_id", "session_id", "item_id", "type", "value", "unit_price", "order_id", "recommendation_id", "timestamp"}
	itemColumns  = []string{"id", "title", "description", "categories", "brand", "price", "currency", "in_stock", "stock", "hidden", "non_product", "created_at", "updated_at"}
	userColumns  = []string{"id", "created_at"}
)

// csvHeader maps column names to positions and checks them.
type csvHeader struct {
	kind  string
	index map[string]int
	attrs []int // positions of attr.* and num.* columns
	names []string
}

func parseCSVHeader(name string, header []string) (*csvHeader, error) {
	h := &csvHeader{index: map[string]int{}, names: header}
	for i, c := range header {
		c = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
		header[i] = c
		if c == "" {
			return nil, fmt.Errorf("%s:1: wrong header: column %d has no name", name, i+1)
		}
		if _, dup := h.index[c]; dup {
			return nil, fmt.Errorf("%s:1: wrong header: column %q appears twice", name, c)
		}
		h.index[c] = i
	}
	var known []string
	switch {
	case h.has("item_id"):
		h.kind, known = "event", eventColumns
	case h.hasAny("title", "description", "categories", "brand", "price", "currency", "in_stock", "stock", "hidden", "non_product", "updated_at"):
		h.kind, known = "item", itemColumns
	default:
		h.kind, known = "user", userColumns
	}
	for i, c := range header {
		if h.kind != "event" && (strings.HasPrefix(c, "attr.") || strings.HasPrefix(c, "num.")) && len(c) > 5 {
			h.attrs = append(h.attrs, i)
			continue
		}
		if !slices.Contains(known, c) {
			return nil, fmt.Errorf("%s:1: wrong header: unknown column %q for a file of %ss; the columns are %s "+
				"(a file of events has an item_id column, a file of items a title, price or similar column)", name, c, h.kind, strings.Join(known, ", "))
		}
	}
	required := []string{"id"}
	if h.kind == "event" {
		required = []string{"item_id", "type", "timestamp"}
		if !h.hasAny("user_id", "session_id") {
			return nil, fmt.Errorf("%s:1: wrong header: an event file needs a user_id or a session_id column", name)
		}
	}
	for _, c := range required {
		if !h.has(c) {
			return nil, fmt.Errorf("%s:1: wrong header: missing column %q", name, c)
		}
	}
	return h, nil
}

func (h *csvHeader) has(c string) bool { _, ok := h.index[c]; return ok }

func (h *csvHeader) hasAny(cs ...string) bool {
	return slices.ContainsFunc(cs, h.has)
}

// row reads cells of one record by column name.
type csvRow struct {
	h      *csvHeader
	rec    []string
	field  string // the first field that failed to parse
	reason string
}

func (r *csvRow) str(col string) string {
	i, ok := r.h.index[col]
	if !ok {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

func (r *csvRow) fail(col, reason string) {
	if r.field == "" {
		r.field, r.reason = col, reason
	}
}

func (r *csvRow) float(col string) *float64 {
	s := r.str(col)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		r.fail(col, fmt.Sprintf("%q is not a number", truncate(s, 32)))
		return nil
	}
	return &v
}

func (r *csvRow) int(col string) *int64 {
	s := r.str(col)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.fail(col, fmt.Sprintf("%q is not an integer", truncate(s, 32)))
		return nil
	}
	return &v
}

func (r *csvRow) bool(col string) *bool {
	s := strings.ToLower(r.str(col))
	var v bool
	switch s {
	case "":
		return nil
	case "true", "1", "yes":
		v = true
	case "false", "0", "no":
	default:
		r.fail(col, fmt.Sprintf("%q is not true or false", truncate(s, 32)))
		return nil
	}
	return &v
}

func (r *csvRow) time(col string) time.Time {
	s := r.str(col)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC()
	}
	r.fail(col, fmt.Sprintf("%q is neither an RFC 3339 time nor Unix seconds", truncate(s, 40)))
	return time.Time{}
}

func (r *csvRow) attributes() map[string]any {
	var attrs map[string]any
	for _, i := range r.h.attrs {
		col := r.h.names[i]
		v := strings.TrimSpace(r.rec[i])
		if v == "" {
			continue
		}
		if attrs == nil {
			attrs = map[string]any{}
		}
		if name, ok := strings.CutPrefix(col, "num."); ok {
			if p := r.float(col); p != nil {
				attrs[name] = *p
			}
			continue
		}
		attrs[strings.TrimPrefix(col, "attr.")] = v
	}
	return attrs
}

func parseCSV(ctx context.Context, rd io.Reader, name string, s *Sink) error {
	cr := csv.NewReader(rd)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s: empty file: expected a header row", name)
	}
	if err != nil {
		return fmt.Errorf("%s:1: wrong header: %w", name, err)
	}
	h, err := parseCSVHeader(name, slices.Clone(header))
	if err != nil {
		return err
	}
	cr.FieldsPerRecord = len(header)
	return eachRecord(cr, name, s, func(line int, rec []string) error {
		loc := Loc{File: name, Line: line}
		row := &csvRow{h: h, rec: rec}
		switch h.kind {
		case "event":
			e := tailor.Event{
				ID: row.str("id"), UserID: tailor.UserID(row.str("user_id")), SessionID: row.str("session_id"),
				ItemID: tailor.ItemID(row.str("item_id")), Type: tailor.EventType(row.str("type")),
				Value: row.float("value"), UnitPrice: row.float("unit_price"), OrderID: row.str("order_id"),
				RecommendationID: row.str("recommendation_id"), Timestamp: row.time("timestamp"),
			}
			if row.field != "" {
				s.Reject(loc, "invalid_"+baseField(row.field), row.field, row.reason)
				return nil
			}
			_, err := s.Event(loc, e)
			return err
		case "item":
			it := tailor.Item{
				ID: tailor.ItemID(row.str("id")), Title: row.str("title"), Description: row.str("description"),
				Brand: row.str("brand"), Price: row.float("price"), Currency: row.str("currency"),
				InStock: row.bool("in_stock"), Stock: row.int("stock"), Attributes: row.attributes(),
				CreatedAt: row.time("created_at"), UpdatedAt: row.time("updated_at"),
			}
			if cats := row.str("categories"); cats != "" {
				for _, c := range strings.Split(cats, "|") {
					it.Categories = append(it.Categories, strings.TrimSpace(c))
				}
			}
			if b := row.bool("hidden"); b != nil {
				it.Hidden = *b
			}
			if b := row.bool("non_product"); b != nil {
				it.NonProduct = *b
			}
			if row.field != "" {
				s.Reject(loc, "invalid_"+baseField(row.field), row.field, row.reason)
				return nil
			}
			return s.Item(loc, it)
		}
		u := tailor.User{ID: tailor.UserID(row.str("id")), Attributes: row.attributes(), CreatedAt: row.time("created_at")}
		if row.field != "" {
			s.Reject(loc, "invalid_"+baseField(row.field), row.field, row.reason)
			return nil
		}
		return s.User(loc, u)
	})
}

// eachRecord calls fn with every record cr reads, and the line it starts
// on. Records encoding/csv cannot read (ragged or badly quoted) are
// rejected and skipped.
func eachRecord(cr *csv.Reader, name string, s *Sink, fn func(line int, rec []string) error) error {
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if !rejectCSVError(s, name, err) {
				return fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if err := fn(line, rec); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
}

// rejectCSVError counts a row encoding/csv could not read as rejected and
// reports whether reading may go on.
func rejectCSVError(s *Sink, name string, err error) bool {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return false
	}
	loc := Loc{File: name, Line: pe.StartLine}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		s.Reject(loc, "ragged_row", "", fmt.Sprintf("has a different number of fields than the header (%v)", pe.Err))
		return true
	}
	s.Reject(loc, "malformed_csv", "", fmt.Sprintf("column %d: %v", pe.Column, pe.Err))
	return true
}
