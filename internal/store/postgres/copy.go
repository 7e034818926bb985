package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
)

// eventRow is one row of the events table as COPY writes it (seq takes
// its default, in the order of the rows).
type eventRow struct {
	id, session, typ, order, rec string
	user, item, ts               int64
	hasUser                      bool
	value, price                 *float64
}

// eventColumns are the columns of eventRow, in the order copyEvents
// writes them.
var eventColumns = []string{"id", "user_ix", "session_id", "item_ix", "type", "value", "unit_price", "order_id", "recommendation_id", "ts"}

// copyEvents copies rows into table with COPY, in PostgreSQL's binary
// format written here directly into buf (returned for reuse): pgx's
// CopyFrom takes every row as a slice of interfaces, which cost about
// eight allocations a row and a fifth of the writer's time in an import.
// Text is checked before (checkEvent): valid UTF-8 without NUL.
func copyEvents(ctx context.Context, conn *pgx.Conn, table string, rows []eventRow, buf []byte) (int64, []byte, error) {
	buf = append(buf[:0], "PGCOPY\n\xff\r\n\x00"...)
	buf = binary.BigEndian.AppendUint32(buf, 0) // flags
	buf = binary.BigEndian.AppendUint32(buf, 0) // header extension
	text := func(s string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	nullText := func(s string) {
		if s == "" {
			buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32) // -1: NULL
			return
		}
		text(s)
	}
	int8 := func(v int64) {
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(v))
	}
	nullFloat8 := func(v *float64) {
		if v == nil {
			buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32)
			return
		}
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(*v))
	}
	for i := range rows {
		r := &rows[i]
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(eventColumns)))
		text(r.id)
		if r.hasUser {
			int8(r.user)
		} else {
			buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32)
		}
		nullText(r.session)
		int8(r.item)
		text(r.typ)
		nullFloat8(r.value)
		nullFloat8(r.price)
		nullText(r.order)
		nullText(r.rec)
		int8(r.ts)
	}
	buf = binary.BigEndian.AppendUint16(buf, math.MaxUint16) // -1: the end
	sql := "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(eventColumns, ", ") + ") FROM STDIN (FORMAT binary)"
	tag, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(buf), sql)
	return tag.RowsAffected(), buf, err
}

// copyIDs copies event ids into event_ids with COPY in the binary format,
// as copyEvents does.
func copyIDs(ctx context.Context, conn *pgx.Conn, ids []string, buf []byte) ([]byte, error) {
	buf = append(buf[:0], "PGCOPY\n\xff\r\n\x00"...)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	for _, id := range ids {
		buf = binary.BigEndian.AppendUint16(buf, 1)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(id)))
		buf = append(buf, id...)
	}
	buf = binary.BigEndian.AppendUint16(buf, math.MaxUint16)
	_, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(buf), "COPY event_ids (id) FROM STDIN (FORMAT binary)")
	return buf, err
}
