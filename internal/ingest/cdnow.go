package ingest

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
)

// The cdnow format reads the CDNOW purchase data of Fader & Hardie
// (CDNOW_sample.txt: master id, sample id, date, CDs, dollars; or
// CDNOW_master.txt: a header line, then customer id, date, CDs, dollars),
// the standard benchmark of the BG/NBD and Gamma-Gamma models. Each line
// becomes a purchase by the customer (the sample id when there is one,
// without leading zeros, as the published summaries number them) of the
// one item "CD": the number of CDs is the quantity and the dollars divided
// by it the unit price, so quantity × unit price is the line's dollars.
// Lines of one customer and day share an order id. Event ids are
// "cdnow-CUSTOMER-LINE".
func parseCDNOW(ctx context.Context, r io.Reader, name string, s *Sink) error {
	if err := s.DeriveItem(tailor.Item{ID: "CD", Title: "CDs"}); err != nil {
		return err
	}
	return eachLine(r, "\x00", func(line int, f []string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		loc := Loc{File: name, Line: line}
		fields := strings.Fields(f[0])
		if line == 1 && len(fields) > 0 && fields[0] == "customer_id" {
			return nil // lifetimes' header
		}
		var cust, date, cds, dollars string
		switch len(fields) {
		case 5:
			cust, date, cds, dollars = fields[1], fields[2], fields[3], fields[4]
		case 4:
			cust, date, cds, dollars = fields[0], fields[1], fields[2], fields[3]
		default:
			s.Reject(loc, "ragged_row", "", fmt.Sprintf("has %d fields, expected [master id,] customer id, date, CDs, dollars", len(fields)))
			return nil
		}
		id, err := strconv.ParseUint(cust, 10, 64)
		if err != nil {
			s.Reject(loc, "invalid_user_id", "user_id", fmt.Sprintf("%q is not a customer number", truncate(cust, 32)))
			return nil
		}
		t, err := time.Parse("20060102", date)
		if err != nil {
			s.Reject(loc, "invalid_timestamp", "timestamp", fmt.Sprintf("%q is not a date YYYYMMDD", truncate(date, 32)))
			return nil
		}
		n, err := strconv.Atoi(cds)
		if err != nil || n < 0 {
			s.Reject(loc, "invalid_value", "value", fmt.Sprintf("%q is not a number of CDs", truncate(cds, 32)))
			return nil
		}
		amount, err := strconv.ParseFloat(dollars, 64)
		if err != nil || amount < 0 {
			s.Reject(loc, "invalid_unit_price", "unit_price", fmt.Sprintf("%q is not an amount of dollars", truncate(dollars, 32)))
			return nil
		}
		q := float64(max(n, 1))
		price := amount / q
		user := strconv.FormatUint(id, 10)
		_, err = s.Event(loc, tailor.Event{ID: fmt.Sprintf("cdnow-%s-%d", user, line), UserID: tailor.UserID(user), ItemID: "CD",
			Type: tailor.Purchase, Value: &q, UnitPrice: &price, OrderID: "cdnow-" + user + "-" + date, Timestamp: t})
		return err
	})
}
