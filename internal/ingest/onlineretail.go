package ingest

import (
	"context"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
)

// The online-retail format reads the UCI Online Retail CSV (plain or gzip):
// InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
// CustomerID, Country. What it does with each line:
//   - a line of an invoice starting with C (a cancellation) becomes a return
//     event with the returned quantity as its value;
//   - any other line with a positive quantity becomes a purchase event
//     (value = quantity, unit_price = price, order_id = invoice);
//   - a line without a customer belongs to an anonymous shopper whose
//     session is the invoice;
//   - customer ids written as floats ("17850.0") become "17850";
//   - InvoiceDate is UK local time (Europe/London) and is stored in UTC;
//   - rejected: "A" invoices (bad-debt adjustments), lines with a negative
//     quantity outside a cancellation and anonymous lines at price 0 (both
//     stock adjustments, not sales), negative prices, unreadable numbers or
//     dates;
//   - event ids are "or-INVOICE-N", N counting the distinct lines of the
//     invoice in file order, so importing the file again stores nothing
//     new, and exact duplicate lines get the same id and are dropped as
//     duplicates.
//
// Items are stock codes: their title is the latest description of a sale,
// their price the latest sale price (GBP), their created_at and updated_at
// the first and last time they were seen. Non-product codes (postage,
// fees, discounts, manual lines, samples, vouchers) are stored marked
// non_product and hidden. Users are customers, with their latest country.
var onlineRetailHeader = []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"}

// nonProductCodes are the Online Retail stock codes that are not products.
var nonProductCodes = []string{"POST", "DOT", "C2", "M", "D", "S", "B", "CRUK", "PADS", "AMAZONFEE", "BANK CHARGES"}

// NonProductCode reports whether an Online Retail stock code is a
// non-product line: postage, fees, discounts, manual lines, samples,
// vouchers.
func NonProductCode(code string) bool {
	u := strings.ToUpper(strings.TrimSpace(code))
	return slices.Contains(nonProductCodes, u) || strings.HasPrefix(u, "GIFT_0001") || strings.HasPrefix(u, "DCGS")
}

// retailItem accumulates what the lines say about one stock code.
type retailItem struct {
	title      string
	titleAt    time.Time
	anyTitle   string
	price      float64
	priceAt    time.Time
	hasPrice   bool
	first      time.Time
	last       time.Time
	nonProduct bool
}

type retailUser struct {
	country   string
	countryAt time.Time
	first     time.Time
}

func parseOnlineRetail(ctx context.Context, r io.Reader, name string, s *Sink) error {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return fmt.Errorf("online-retail needs the Europe/London time zone: %w", err)
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s: empty file: expected the header %s", name, strings.Join(onlineRetailHeader, ","))
	}
	if err != nil {
		return fmt.Errorf("%s:1: wrong header: %v", name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	if strings.Join(header, ",") != strings.Join(onlineRetailHeader, ",") {
		return fmt.Errorf("%s:1: wrong header: got %q, expected %q", name, truncate(strings.Join(header, ","), 200), strings.Join(onlineRetailHeader, ","))
	}
	cr.FieldsPerRecord = len(onlineRetailHeader)

	items := map[string]*retailItem{}
	users := map[string]*retailUser{}
	var itemOrder, userOrder []string
	var floatIDs, returns, anonymous int
	ids := lineIDs{seen: map[uint64]string{}, lines: map[string]int{}}
	dates := retailDates{loc: london}
	err = eachRecord(cr, name, s, func(line int, rec []string) error {
		loc := Loc{File: name, Line: line}
		invoice, code := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		desc := strings.TrimSpace(rec[2])
		if invoice == "" {
			s.Reject(loc, "missing_invoice", "InvoiceNo", "empty")
			return nil
		}
		if code == "" {
			s.Reject(loc, "missing_stock_code", "StockCode", "empty")
			return nil
		}
		if strings.HasPrefix(invoice, "A") {
			s.Reject(loc, "bad_debt_adjustment", "InvoiceNo", fmt.Sprintf("invoice %s is an accounting adjustment, not a sale", truncate(invoice, 16)))
			return nil
		}
		qty, err := strconv.ParseInt(strings.TrimSpace(rec[3]), 10, 64)
		if err != nil {
			s.Reject(loc, "bad_quantity", "Quantity", fmt.Sprintf("%q is not an integer", truncate(rec[3], 32)))
			return nil
		}
		price, err := strconv.ParseFloat(strings.TrimSpace(rec[5]), 64)
		if err != nil || math.IsNaN(price) || math.IsInf(price, 0) {
			s.Reject(loc, "bad_price", "UnitPrice", fmt.Sprintf("%q is not a number", truncate(rec[5], 32)))
			return nil
		}
		at, err := dates.parse(strings.TrimSpace(rec[4]))
		if err != nil {
			s.Reject(loc, "bad_date", "InvoiceDate", fmt.Sprintf("%q is not a time like 2011-01-31 14:05:00", truncate(rec[4], 32)))
			return nil
		}
		customer, isFloat, ok := normalizeCustomer(strings.TrimSpace(rec[6]))
		if !ok {
			s.Reject(loc, "bad_customer_id", "CustomerID", fmt.Sprintf("%q is not a customer number", truncate(rec[6], 32)))
			return nil
		}
		cancel := strings.HasPrefix(invoice, "C")
		switch {
		case price < 0:
			s.Reject(loc, "negative_price", "UnitPrice", fmt.Sprintf("%v is negative", price))
			return nil
		case qty == 0:
			s.Reject(loc, "zero_quantity", "Quantity", "is 0")
			return nil
		case cancel && qty > 0:
			s.Reject(loc, "bad_quantity", "Quantity", fmt.Sprintf("%d is positive on cancellation invoice %s", qty, invoice))
			return nil
		case !cancel && qty < 0:
			s.Reject(loc, "stock_adjustment", "Quantity", fmt.Sprintf("%d is negative outside a cancellation: a stock adjustment, not a sale", qty))
			return nil
		case customer == "" && price == 0:
			s.Reject(loc, "stock_adjustment", "UnitPrice", "price 0 without a customer: a stock adjustment, not a sale")
			return nil
		}
		q := math.Abs(float64(qty))
		e := tailor.Event{ItemID: tailor.ItemID(code), Type: tailor.Purchase, Value: &q, UnitPrice: &price,
			OrderID: invoice, Timestamp: at.UTC()}
		if cancel {
			e.Type = tailor.Return
		}
		if customer != "" {
			e.UserID = tailor.UserID(customer)
		} else {
			e.SessionID = invoice
		}
		e.ID = ids.id(invoice, rec)
		accepted, err := s.Event(loc, e)
		if err != nil {
			return err
		}
		if !accepted {
			return nil
		}
		if isFloat {
			floatIDs++
		}
		if cancel {
			returns++
		}
		if customer == "" {
			anonymous++
		}
		it := items[code]
		if it == nil {
			it = &retailItem{first: at, nonProduct: NonProductCode(code)}
			items[code] = it
			itemOrder = append(itemOrder, code)
		}
		it.first, it.last = minTime(it.first, at), maxTime(it.last, at)
		if desc != "" && it.anyTitle == "" {
			it.anyTitle = desc
		}
		if !cancel && price > 0 && !at.Before(it.priceAt) {
			it.price, it.priceAt, it.hasPrice = price, at, true
			if desc != "" {
				it.title, it.titleAt = desc, at
			}
		}
		if customer != "" {
			u := users[customer]
			if u == nil {
				u = &retailUser{first: at}
				users[customer] = u
				userOrder = append(userOrder, customer)
			}
			u.first = minTime(u.first, at)
			if country := strings.TrimSpace(rec[7]); country != "" && !at.Before(u.countryAt) {
				u.country, u.countryAt = country, at
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.Transformed("customer_id_float_normalized", floatIDs)
	s.Transformed("cancellation_to_return", returns)
	s.Transformed("anonymous_order_session", anonymous)
	nonProducts := 0
	for _, code := range itemOrder {
		ri := items[code]
		title := ri.title
		if title == "" {
			title = ri.anyTitle
		}
		it := tailor.Item{ID: tailor.ItemID(code), Title: title, Currency: "GBP", CreatedAt: ri.first.UTC(), UpdatedAt: ri.last.UTC()}
		if ri.hasPrice {
			p := ri.price
			it.Price = &p
		}
		if ri.nonProduct {
			it.NonProduct, it.Hidden = true, true
			nonProducts++
		}
		if err := s.DeriveItem(it); err != nil {
			return err
		}
	}
	s.Transformed("non_product_marked", nonProducts)
	for _, id := range userOrder {
		ru := users[id]
		u := tailor.User{ID: tailor.UserID(id), CreatedAt: ru.first.UTC()}
		if ru.country != "" {
			u.Attributes = map[string]any{"country": ru.country}
		}
		if err := s.DeriveUser(u); err != nil {
			return err
		}
	}
	return nil
}

// lineIDs gives Online Retail lines their event ids: "or-INVOICE-N" for
// the N-th distinct line of the invoice (1-based). Lines are told apart by a
// 64-bit hash of all their fields; equal lines share an id.
type lineIDs struct {
	seen  map[uint64]string // line hash → id
	lines map[string]int    // invoice → distinct lines so far
}

func (l *lineIDs) id(invoice string, rec []string) string {
	h := fnv.New64a()
	for _, f := range rec {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	sum := h.Sum64()
	if id, ok := l.seen[sum]; ok {
		return id
	}
	l.lines[invoice]++
	id := "or-" + invoice + "-" + strconv.Itoa(l.lines[invoice])
	l.seen[sum] = id
	return id
}

// normalizeCustomer turns "17850.0" or "17850" into "17850" and reports
// whether it was written as a float. An empty id is valid (anonymous).
func normalizeCustomer(s string) (id string, wasFloat, ok bool) {
	if s == "" {
		return "", false, true
	}
	if whole, frac, found := strings.Cut(s, "."); found {
		if strings.Trim(frac, "0") != "" {
			return "", false, false
		}
		s, wasFloat = whole, true
	}
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return "", false, false
	}
	return s, wasFloat, true
}

// retailDates parses InvoiceDate values, remembering the last one: the
// lines of an invoice share it.
type retailDates struct {
	loc  *time.Location
	last string
	t    time.Time
}

func (d *retailDates) parse(s string) (time.Time, error) {
	if s == d.last && s != "" {
		return d.t, nil
	}
	t, err := parseRetailTime(s, d.loc)
	if err != nil {
		return t, err
	}
	d.last, d.t = s, t
	return t, nil
}

var retailLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "1/2/2006 15:04", "1/2/2006 15:04:05"}

func parseRetailTime(s string, loc *time.Location) (time.Time, error) {
	var err error
	for _, layout := range retailLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
