package tailor

import "time"

// ItemID identifies an item (a product) within a shop. It is chosen by the
// shop: a SKU, a stock code or any other string.
type ItemID string

// Item is a product of the shop's catalog.
//
// Optional numbers are pointers so that "not known" and zero stay distinct:
// a nil Price means the price is unknown, a Price of 0 means the item is free.
type Item struct {
	ID          ItemID `json:"id"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Categories lists the categories the item belongs to. Each entry is a
	// path whose levels are separated by "/", e.g. "Home/Kitchen/Mugs".
	Categories []string `json:"categories,omitempty"`
	Brand      string   `json:"brand,omitempty"`
	// Price is the current unit price in Currency; nil when unknown.
	Price *float64 `json:"price,omitempty"`
	// Currency is an ISO 4217 code such as "EUR" or "GBP".
	Currency string `json:"currency,omitempty"`
	// InStock says whether the item can be bought now; nil when unknown.
	InStock *bool `json:"in_stock,omitempty"`
	// Stock is the number of units available; nil when not tracked.
	Stock *int64 `json:"stock,omitempty"`
	// Attributes holds free-form properties. Values are strings or numbers
	// (float64 after decoding JSON); nothing else is accepted.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Hidden items are kept in the catalog but never recommended.
	Hidden bool `json:"hidden,omitempty"`
	// NonProduct marks catalog entries that are not sellable products:
	// postage, fees, discounts, vouchers. Models ignore them.
	NonProduct bool `json:"non_product,omitempty"`
	// CreatedAt is when the item entered the catalog; the store sets it on
	// first insert when it is zero.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// UpdatedAt is when the item was last changed; the store sets it on
	// every write when it is zero.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Available reports whether the item may be offered to a shopper: it is
// not hidden, not a non-product, and not known to be out of stock.
func (it *Item) Available() bool {
	if it.Hidden || it.NonProduct {
		return false
	}
	if it.InStock != nil && !*it.InStock {
		return false
	}
	if it.Stock != nil && *it.Stock <= 0 {
		return false
	}
	return true
}
