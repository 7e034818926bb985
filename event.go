package tailor

import "time"

// EventType names a kind of behaviour. The built-in types are listed below;
// shops may send their own (see Rules.AllowCustomTypes). How much each type
// counts for a model is configuration, not code.
type EventType string

// Built-in event types.
const (
	View           EventType = "view"
	Click          EventType = "click"
	AddToCart      EventType = "add_to_cart"
	RemoveFromCart EventType = "remove_from_cart"
	Purchase       EventType = "purchase"
	Return         EventType = "return"
	Rating         EventType = "rating"
)

// BuiltinEventTypes returns the built-in event types in a stable order.
func BuiltinEventTypes() []EventType {
	return []EventType{View, Click, AddToCart, RemoveFromCart, Purchase, Return, Rating}
}

// IsBuiltin reports whether t is one of the built-in event types.
func (t EventType) IsBuiltin() bool {
	switch t {
	case View, Click, AddToCart, RemoveFromCart, Purchase, Return, Rating:
		return true
	}
	return false
}

// Event is one thing a shopper did with an item.
type Event struct {
	// ID makes ingestion idempotent: an event whose ID is already stored is
	// not stored again. When the client sends none, one is generated.
	ID string `json:"id,omitempty"`
	// UserID is the registered shopper; empty for anonymous shoppers, whose
	// events carry SessionID instead. At least one of the two is set.
	UserID    UserID    `json:"user_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	ItemID    ItemID    `json:"item_id"`
	Type      EventType `json:"type"`
	// Value is the rating for rating events and the quantity for purchase,
	// return and cart events; nil when not given.
	Value *float64 `json:"value,omitempty"`
	// UnitPrice is the price of one unit at the time of the event; nil when
	// not given.
	UnitPrice *float64 `json:"unit_price,omitempty"`
	// OrderID groups the lines of one order (an invoice, a basket).
	OrderID string `json:"order_id,omitempty"`
	// RecommendationID links the event to the recommendation response that
	// led to it, for attribution.
	RecommendationID string `json:"recommendation_id,omitempty"`
	// Timestamp is when the event happened.
	Timestamp time.Time `json:"timestamp,omitzero"`
}
