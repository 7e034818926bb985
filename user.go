package tailor

import "time"

// UserID identifies a registered shopper. It is chosen by the shop.
type UserID string

// User is a registered shopper. Anonymous shoppers have no User; their
// events carry a session id instead.
type User struct {
	ID UserID `json:"id"`
	// Attributes holds free-form properties such as country or segment.
	// Values are strings or numbers (float64 after decoding JSON).
	Attributes map[string]any `json:"attributes,omitempty"`
	// CreatedAt is when the shopper registered; the store sets it on first
	// insert when it is zero.
	CreatedAt time.Time `json:"created_at,omitzero"`
}
