package tailor

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FieldError says what is wrong with one field of a record.
type FieldError struct {
	// Field is the JSON name of the field, with a path for nested values
	// ("attributes.color", "categories[2]"); empty when the record as a
	// whole is wrong.
	Field string `json:"field,omitempty"`
	// Reason is a short, human-readable explanation.
	Reason string `json:"reason"`
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Rules are the limits and policies records are checked against before they
// are stored. The zero value is not useful; start from DefaultRules.
type Rules struct {
	// MaxIDLen is the longest id in bytes (items, users, events, sessions,
	// orders, recommendations).
	MaxIDLen int
	// MaxTextLen is the longest short text in bytes: titles, brands,
	// categories, attribute keys and string values.
	MaxTextLen int
	// MaxDescriptionLen is the longest item description in bytes.
	MaxDescriptionLen int
	// MaxCategories is the most categories an item may have.
	MaxCategories int
	// MaxAttributes is the most attributes an item or user may have.
	MaxAttributes int
	// AllowCustomTypes admits event types other than the built-in ones.
	// A custom type is 1 to 64 characters of a-z, 0-9 and _, starting with
	// a letter.
	AllowCustomTypes bool
	// EventTypes, when not empty, is the closed list of accepted event
	// types and overrides AllowCustomTypes.
	EventTypes []EventType
	// MinTime is the earliest accepted timestamp.
	MinTime time.Time
	// MaxFuture is how far after the current time a timestamp may lie.
	MaxFuture time.Duration
}

// DefaultRules returns the rules used when nothing is configured: ids up to
// 256 bytes, texts up to 1,024 bytes, descriptions up to 64 KiB, 64
// categories, 256 attributes, custom event types allowed, timestamps from
// 1970-01-01 UTC to one day after now.
func DefaultRules() Rules {
	return Rules{
		MaxIDLen:          256,
		MaxTextLen:        1024,
		MaxDescriptionLen: 64 << 10,
		MaxCategories:     64,
		MaxAttributes:     256,
		AllowCustomTypes:  true,
		MinTime:           time.Unix(0, 0).UTC(),
		MaxFuture:         24 * time.Hour,
	}
}

// CheckItem returns every problem with it; nil means it may be stored.
func (r *Rules) CheckItem(it *Item) []FieldError {
	var errs []FieldError
	add := func(field, reason string) { errs = append(errs, FieldError{field, reason}) }
	if reason := r.checkID(string(it.ID), true); reason != "" {
		add("id", reason)
	}
	r.checkText(add, "title", it.Title, r.MaxTextLen)
	r.checkText(add, "description", it.Description, r.MaxDescriptionLen)
	r.checkText(add, "brand", it.Brand, r.MaxTextLen)
	if len(it.Categories) > r.MaxCategories {
		add("categories", fmt.Sprintf("has %d entries; at most %d are allowed", len(it.Categories), r.MaxCategories))
	}
	for i, c := range it.Categories {
		field := fmt.Sprintf("categories[%d]", i)
		if strings.TrimSpace(c) == "" {
			add(field, "must not be empty")
			continue
		}
		r.checkText(add, field, c, r.MaxTextLen)
	}
	if it.Price != nil {
		if reason := checkAmount(*it.Price); reason != "" {
			add("price", reason)
		}
	}
	if it.Currency != "" && !isCurrencyCode(it.Currency) {
		add("currency", fmt.Sprintf("%q is not a three-letter ISO 4217 code such as EUR", it.Currency))
	}
	if it.Stock != nil && *it.Stock < 0 {
		add("stock", "must not be negative")
	}
	r.checkAttributes(add, it.Attributes)
	r.checkTime(add, "created_at", it.CreatedAt, time.Now())
	r.checkTime(add, "updated_at", it.UpdatedAt, time.Now())
	return errs
}

// CheckUser returns every problem with u; nil means it may be stored.
func (r *Rules) CheckUser(u *User) []FieldError {
	var errs []FieldError
	add := func(field, reason string) { errs = append(errs, FieldError{field, reason}) }
	if reason := r.checkID(string(u.ID), true); reason != "" {
		add("id", reason)
	}
	r.checkAttributes(add, u.Attributes)
	r.checkTime(add, "created_at", u.CreatedAt, time.Now())
	return errs
}

// CheckEvent returns every problem with e; nil means it may be stored. now
// is the current time, against which MaxFuture is applied. The event's ID
// and Timestamp must have been filled in already.
func (r *Rules) CheckEvent(e *Event, now time.Time) []FieldError {
	var errs []FieldError
	add := func(field, reason string) { errs = append(errs, FieldError{field, reason}) }
	if reason := r.checkID(e.ID, true); reason != "" {
		add("id", reason)
	}
	if e.UserID == "" && e.SessionID == "" {
		add("user_id", "required unless session_id is given")
	}
	if reason := r.checkID(string(e.UserID), false); reason != "" {
		add("user_id", reason)
	}
	if reason := r.checkID(e.SessionID, false); reason != "" {
		add("session_id", reason)
	}
	if reason := r.checkID(string(e.ItemID), true); reason != "" {
		add("item_id", reason)
	}
	if reason := r.checkType(e.Type); reason != "" {
		add("type", reason)
	}
	if e.Value != nil {
		v := *e.Value
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			add("value", "must be a finite number")
		case (e.Type == Purchase || e.Type == Return || e.Type == AddToCart || e.Type == RemoveFromCart) && v <= 0:
			add("value", fmt.Sprintf("is the quantity of a %s event and must be positive, got %v", e.Type, v))
		}
	} else if e.Type == Rating {
		add("value", "required for rating events (the rating)")
	}
	if e.UnitPrice != nil {
		if reason := checkAmount(*e.UnitPrice); reason != "" {
			add("unit_price", reason)
		}
	}
	if reason := r.checkID(e.OrderID, false); reason != "" {
		add("order_id", reason)
	}
	if reason := r.checkID(e.RecommendationID, false); reason != "" {
		add("recommendation_id", reason)
	}
	if e.Timestamp.IsZero() {
		add("timestamp", "required")
	} else {
		r.checkTime(add, "timestamp", e.Timestamp, now)
	}
	return errs
}

func (r *Rules) checkType(t EventType) string {
	if t == "" {
		return "required"
	}
	if len(r.EventTypes) > 0 {
		for _, allowed := range r.EventTypes {
			if t == allowed {
				return ""
			}
		}
		return fmt.Sprintf("unknown event type %q; this server accepts %s", truncate(string(t), 64), joinTypes(r.EventTypes))
	}
	if t.IsBuiltin() {
		return ""
	}
	if !r.AllowCustomTypes {
		return fmt.Sprintf("unknown event type %q; custom types are not allowed, use one of %s", truncate(string(t), 64), joinTypes(BuiltinEventTypes()))
	}
	if !ValidTypeName(string(t)) {
		return fmt.Sprintf("custom event type %q must be 1 to 64 characters of a-z, 0-9 and _, starting with a letter", truncate(string(t), 64))
	}
	return ""
}

// ValidTypeName reports whether s may name a custom event type: 1 to 64
// characters of a-z, 0-9 and _, starting with a letter.
func ValidTypeName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func joinTypes(ts []EventType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// checkID returns why id is not acceptable, or "".
func (r *Rules) checkID(id string, required bool) string {
	if id == "" {
		if required {
			return "required"
		}
		return ""
	}
	if len(id) > r.MaxIDLen {
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(id), r.MaxIDLen)
	}
	if !utf8.ValidString(id) {
		return "is not valid UTF-8"
	}
	if strings.TrimSpace(id) == "" {
		return "must not be blank"
	}
	if id == "." || id == ".." {
		return fmt.Sprintf("%q cannot be used: a URL path would read it as a folder (/v1/items/%s)", id, id)
	}
	for _, c := range id {
		if unicode.IsControl(c) {
			return fmt.Sprintf("contains the control character %U", c)
		}
	}
	return ""
}

func (r *Rules) checkText(add func(string, string), field, s string, max int) {
	if len(s) > max {
		add(field, fmt.Sprintf("is %d bytes long; at most %d are allowed", len(s), max))
		return
	}
	if !utf8.ValidString(s) {
		add(field, "is not valid UTF-8")
	}
}

func (r *Rules) checkAttributes(add func(string, string), attrs map[string]any) {
	if len(attrs) > r.MaxAttributes {
		add("attributes", fmt.Sprintf("has %d entries; at most %d are allowed", len(attrs), r.MaxAttributes))
		return
	}
	for k, v := range attrs {
		field := "attributes." + truncate(k, 64)
		if k == "" {
			add("attributes", "has an empty key")
			continue
		}
		if len(k) > r.MaxTextLen || !utf8.ValidString(k) {
			add("attributes", "has a key that is too long or not valid UTF-8")
			continue
		}
		switch v := v.(type) {
		case string:
			r.checkText(add, field, v, r.MaxTextLen)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				add(field, "must be a finite number")
			}
		case int:
		case int64:
		default:
			add(field, fmt.Sprintf("must be a string or a number, got %s", jsonKind(v)))
		}
	}
}

func (r *Rules) checkTime(add func(string, string), field string, t, now time.Time) {
	if t.IsZero() {
		return
	}
	if t.Before(r.MinTime) {
		add(field, fmt.Sprintf("%s is before the earliest accepted time %s", t.Format(time.RFC3339), r.MinTime.Format(time.RFC3339)))
		return
	}
	if limit := now.Add(r.MaxFuture); t.After(limit) {
		add(field, fmt.Sprintf("%s is more than %s in the future", t.Format(time.RFC3339), r.MaxFuture))
	}
}

func checkAmount(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "must be a finite number"
	case v < 0:
		return fmt.Sprintf("must not be negative, got %v", v)
	}
	return ""
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
