// Package analytics analyses shopper behaviour from purchase events: RFM
// scores and segments, acquisition cohorts and retention, funnels between
// event types, customer lifetime value (the BG/NBD and Gamma-Gamma models)
// and purchase propensity. Its functions are pure: they take events or
// purchases and return tables.
package analytics

import (
	"time"

	"github.com/tailorhq/tailor"
)

// Purchase is one purchase line (or a return, with a negative amount).
type Purchase struct {
	User   string
	Order  string
	Item   string
	Time   time.Time
	Amount float64 // quantity × unit price; negative for returns
}

// Purchases extracts purchases and returns from events: a purchase of
// quantity q (the event's value, default 1) at unit price p counts q·p,
// a return −q·p. Events without a user are left out; so are the items
// skip reports (non-products such as postage).
func Purchases(events []tailor.Event, skip func(tailor.ItemID) bool) []Purchase {
	return AppendPurchases(nil, events, skip)
}

// AppendPurchases appends the purchases and returns of events to out, as
// Purchases extracts them, and returns the extended slice.
func AppendPurchases(out []Purchase, events []tailor.Event, skip func(tailor.ItemID) bool) []Purchase {
	for i := range events {
		e := &events[i]
		if e.UserID == "" || (e.Type != tailor.Purchase && e.Type != tailor.Return) || (skip != nil && skip(e.ItemID)) {
			continue
		}
		q := 1.0
		if e.Value != nil {
			q = *e.Value
		}
		amount := 0.0
		if e.UnitPrice != nil {
			amount = q * *e.UnitPrice
		}
		if e.Type == tailor.Return {
			amount = -amount
		}
		out = append(out, Purchase{User: string(e.UserID), Order: e.OrderID, Item: string(e.ItemID), Time: e.Timestamp, Amount: amount})
	}
	return out
}

// cmpID orders ids numerically when both are numbers, else as strings.
func cmpID(a, b string) int {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
