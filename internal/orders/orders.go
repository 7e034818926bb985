// Package orders groups a shop's purchase lines into orders: the
// sessions that session-based models learn from and the baskets that
// bought-together rules are mined from.
package orders

import (
	"cmp"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
)

// Split groups purchase events into orders by order id (lines without one
// are left out), each order's items in the order of its lines (each item
// once, where it first appears), the orders in time order (ties by id):
// those placed before the cutoff, and those from it on. skip, if not nil,
// leaves out items such as non-products.
func Split(events []tailor.Event, cutoff time.Time, skip func(tailor.ItemID) bool) (train, test [][]tailor.ItemID) {
	type order struct {
		id    string
		at    time.Time
		items []tailor.ItemID
	}
	orders := map[string]*order{}
	for i := range events {
		e := &events[i]
		if e.Type != tailor.Purchase || e.OrderID == "" || (skip != nil && skip(e.ItemID)) {
			continue
		}
		o := orders[e.OrderID]
		if o == nil {
			o = &order{id: e.OrderID, at: e.Timestamp}
			orders[e.OrderID] = o
		}
		if !slices.Contains(o.items, e.ItemID) {
			o.items = append(o.items, e.ItemID)
		}
	}
	all := make([]*order, 0, len(orders))
	for _, o := range orders {
		all = append(all, o)
	}
	slices.SortFunc(all, func(a, b *order) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.id, b.id)) })
	for _, o := range all {
		if o.at.Before(cutoff) {
			train = append(train, o.items)
		} else {
			test = append(test, o.items)
		}
	}
	return train, test
}
