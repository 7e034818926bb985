package recommend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tailorhq/tailor"
)

// Rules are the business rules of a request or a stored scenario. The zero
// value changes nothing (hidden and non-product items are never
// recommended, whatever the rules).
type Rules struct {
	// Categories keeps only items in at least one of these categories or
	// below one (a category path "Kitchen" takes in "Kitchen/Baking").
	Categories []string `json:"categories,omitempty"`
	// ExcludeCategories drops items in any of these categories or below
	// one.
	ExcludeCategories []string `json:"exclude_categories,omitempty"`
	// MinPrice and MaxPrice keep items priced within [MinPrice, MaxPrice];
	// items without a price are dropped when either is set.
	MinPrice *float64 `json:"min_price,omitempty"`
	MaxPrice *float64 `json:"max_price,omitempty"`
	// InStockOnly drops items known to be out of stock.
	InStockOnly bool `json:"in_stock_only,omitempty"`
	// Attributes keeps items whose attribute equals one of the listed
	// values (compared as JSON), for every attribute listed.
	Attributes map[string][]any `json:"attributes,omitempty"`
	// ExcludeSeen drops items the shopper had events of these types with
	// within the window.
	ExcludeSeen *SeenRule `json:"exclude_seen,omitempty"`
	// ExcludeTypes, when set, replaces the configured event types whose
	// items a shopper is not recommended again
	// (events.exclude_from_recommendations; by default purchases and
	// ratings): an empty list recommends bought items again. Returned
	// items stay excluded.
	ExcludeTypes *[]tailor.EventType `json:"exclude_types,omitempty"`
	// ExcludeItems drops these items.
	ExcludeItems []tailor.ItemID `json:"exclude_items,omitempty"`
	// Boosts multiply the score of matching items.
	Boosts []Boost `json:"boosts,omitempty"`
	// Pins put items at fixed positions (1-based) of the list.
	Pins []Pin `json:"pins,omitempty"`
	// MaxPerCategory keeps at most this many items of any one (first)
	// category in the list; 0 means no limit.
	MaxPerCategory int `json:"max_per_category,omitempty"`
	// MMRLambda, when in (0, 1), re-ranks by maximal marginal relevance:
	// λ·relevance − (1−λ)·(largest category overlap with the items
	// already chosen), relevance scaled to [0, 1].
	MMRLambda float64 `json:"mmr_lambda,omitempty"`
	// LLMRerank has the configured chat model order the list (its first
	// page) from the items and the shopper's history; off by default, and
	// the recommender's order is kept on any error or timeout.
	LLMRerank bool `json:"llm_rerank,omitempty"`
	// FreshDays and FreshBoost multiply the score of items created within
	// the last FreshDays days by FreshBoost.
	FreshDays  float64 `json:"fresh_days,omitempty"`
	FreshBoost float64 `json:"fresh_boost,omitempty"`
	// ABTest, in a stored scenario, splits its traffic between two model
	// versions.
	ABTest *ABTest `json:"ab_test,omitempty"`
	// Route, in a stored scenario, sends shoppers to another scenario by
	// the value of one of their attributes (such as the "segment" that
	// 'tailor analyze segments --apply' stores: at-risk shoppers get their
	// own rules).
	Route *Route `json:"route,omitempty"`
}

// Route picks a scenario by a shopper attribute's value.
type Route struct {
	Attribute string            `json:"attribute"`
	Scenarios map[string]string `json:"scenarios"`
}

// SeenRule names event types and a window.
type SeenRule struct {
	Types  []tailor.EventType `json:"types"`
	Within Duration           `json:"within"`
}

// Boost multiplies the score of the items that match by Factor.
type Boost struct {
	Categories []string        `json:"categories,omitempty"`
	Items      []tailor.ItemID `json:"items,omitempty"`
	Brand      string          `json:"brand,omitempty"`
	Factor     float64         `json:"factor"`
}

// Pin puts an item at a position (1-based).
type Pin struct {
	Item     tailor.ItemID `json:"item"`
	Position int           `json:"position"`
}

// Duration is a time.Duration written as a Go duration string ("720h").
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"720h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"720h\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// FieldError is a rule that is not valid, naming its field.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ParseRules decodes rules from JSON, rejecting unknown fields, and
// validates them.
func ParseRules(b []byte) (Rules, error) {
	var r Rules
	if len(bytes.TrimSpace(b)) == 0 {
		return r, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, &FieldError{Field: "rules", Reason: err.Error()}
	}
	return r, r.Validate()
}

// Validate checks every field and returns the first problem.
func (r *Rules) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for field, list := range map[string][]string{"categories": r.Categories, "exclude_categories": r.ExcludeCategories} {
		for i, c := range list {
			if strings.TrimSpace(c) == "" {
				return bad(fmt.Sprintf("%s[%d]", field, i), "must not be blank")
			}
		}
	}
	if r.MinPrice != nil && (!finite(*r.MinPrice) || *r.MinPrice < 0) {
		return bad("min_price", "%v must be a number of 0 or more", *r.MinPrice)
	}
	if r.MaxPrice != nil && (!finite(*r.MaxPrice) || *r.MaxPrice < 0) {
		return bad("max_price", "%v must be a number of 0 or more", *r.MaxPrice)
	}
	if r.MinPrice != nil && r.MaxPrice != nil && *r.MinPrice > *r.MaxPrice {
		return bad("min_price", "%v is above max_price %v", *r.MinPrice, *r.MaxPrice)
	}
	for k, vs := range r.Attributes {
		if k == "" {
			return bad("attributes", "an attribute name is empty")
		}
		if len(vs) == 0 {
			return bad("attributes."+k, "lists no values")
		}
	}
	if r.ExcludeTypes != nil {
		for i, t := range *r.ExcludeTypes {
			if !tailor.ValidTypeName(string(t)) {
				return bad(fmt.Sprintf("exclude_types[%d]", i), "%q is not an event type name", t)
			}
		}
	}
	if r.ExcludeSeen != nil {
		if len(r.ExcludeSeen.Types) == 0 {
			return bad("exclude_seen.types", "lists no event types")
		}
		for i, t := range r.ExcludeSeen.Types {
			if !tailor.ValidTypeName(string(t)) {
				return bad(fmt.Sprintf("exclude_seen.types[%d]", i), "%q is not an event type name", t)
			}
		}
		if r.ExcludeSeen.Within <= 0 {
			return bad("exclude_seen.within", "must be a positive duration such as \"720h\"")
		}
	}
	for i, b := range r.Boosts {
		if !finite(b.Factor) || b.Factor <= 0 {
			return bad(fmt.Sprintf("boosts[%d].factor", i), "%v must be a positive number", b.Factor)
		}
		if len(b.Categories) == 0 && len(b.Items) == 0 && b.Brand == "" {
			return bad(fmt.Sprintf("boosts[%d]", i), "matches nothing: give categories, items or brand")
		}
	}
	seen := map[int]bool{}
	for i, p := range r.Pins {
		if p.Item == "" {
			return bad(fmt.Sprintf("pins[%d].item", i), "is empty")
		}
		if p.Position < 1 || p.Position > MaxN {
			return bad(fmt.Sprintf("pins[%d].position", i), "%d must be from 1 to %d", p.Position, MaxN)
		}
		if seen[p.Position] {
			return bad(fmt.Sprintf("pins[%d].position", i), "%d is pinned twice", p.Position)
		}
		seen[p.Position] = true
	}
	if r.MaxPerCategory < 0 {
		return bad("max_per_category", "%d must be 0 (no limit) or more", r.MaxPerCategory)
	}
	if !finite(r.MMRLambda) || r.MMRLambda < 0 || r.MMRLambda >= 1 {
		return bad("mmr_lambda", "%v must be in [0, 1) (0: off)", r.MMRLambda)
	}
	if !finite(r.FreshDays) || r.FreshDays < 0 {
		return bad("fresh_days", "%v must be 0 or more", r.FreshDays)
	}
	if !finite(r.FreshBoost) || r.FreshBoost < 0 || (r.FreshDays > 0 && r.FreshBoost == 0) {
		return bad("fresh_boost", "%v must be a positive number when fresh_days is set", r.FreshBoost)
	}
	if r.Route != nil {
		if r.Route.Attribute == "" {
			return bad("route.attribute", "names no attribute")
		}
		if len(r.Route.Scenarios) == 0 {
			return bad("route.scenarios", "maps no value to a scenario")
		}
		for v, name := range r.Route.Scenarios {
			if !tailor.ValidTypeName(name) {
				return bad("route.scenarios."+v, "%q is not a scenario name", name)
			}
		}
	}
	if r.ABTest != nil {
		return r.ABTest.validate()
	}
	return nil
}

// Merge returns r with the fields set in over replacing its own: request
// parameters over a scenario's rules.
func (r Rules) Merge(over Rules) Rules {
	if over.Categories != nil {
		r.Categories = over.Categories
	}
	if over.ExcludeCategories != nil {
		r.ExcludeCategories = over.ExcludeCategories
	}
	if over.MinPrice != nil {
		r.MinPrice = over.MinPrice
	}
	if over.MaxPrice != nil {
		r.MaxPrice = over.MaxPrice
	}
	r.InStockOnly = r.InStockOnly || over.InStockOnly
	r.LLMRerank = r.LLMRerank || over.LLMRerank
	if over.Attributes != nil {
		r.Attributes = over.Attributes
	}
	if over.ExcludeSeen != nil {
		r.ExcludeSeen = over.ExcludeSeen
	}
	if over.ExcludeTypes != nil {
		r.ExcludeTypes = over.ExcludeTypes
	}
	r.ExcludeItems = append(slices.Clip(r.ExcludeItems), over.ExcludeItems...)
	r.Boosts = append(slices.Clip(r.Boosts), over.Boosts...)
	if over.Pins != nil {
		r.Pins = over.Pins
	}
	if over.MaxPerCategory != 0 {
		r.MaxPerCategory = over.MaxPerCategory
	}
	if over.MMRLambda != 0 {
		r.MMRLambda = over.MMRLambda
	}
	if over.FreshDays != 0 {
		r.FreshDays, r.FreshBoost = over.FreshDays, over.FreshBoost
	}
	if over.ABTest != nil {
		r.ABTest = over.ABTest
	}
	return r
}

// meta is what the rules need to know about an item.
type meta struct {
	id         tailor.ItemID
	known      bool // in the catalog
	available  bool // not hidden, not a non-product
	inStock    bool // not known to be out of stock
	categories []string
	brand      string
	title      string
	desc       string
	price      float64
	hasPrice   bool
	created    time.Time
	attrs      map[string]any
	// said holds the reasons that name this item, made once (nil: made
	// on each use).
	said *said
}

// said is an item's reasons as other items' lists name it: the catalog
// entry does not change once published (an update replaces it), so
// neither do they.
type said struct {
	boughtWith, goesWith atomic.Pointer[string]
	because              [len(becauseYou)]atomic.Pointer[string] // by verbOf's code
}

func metaOf(it *tailor.Item) meta {
	m := meta{id: it.ID, known: true, available: !it.Hidden && !it.NonProduct,
		inStock:    !(it.InStock != nil && !*it.InStock) && !(it.Stock != nil && *it.Stock <= 0),
		categories: it.Categories, brand: it.Brand, title: it.Title, desc: it.Description, created: it.CreatedAt, attrs: it.Attributes, said: new(said)}
	if it.Price != nil {
		m.price, m.hasPrice = *it.Price, true
	}
	return m
}

// keep reports whether the item passes the filters of r.
func (r *Rules) keep(m *meta) bool {
	if !m.available {
		return false
	}
	if r.InStockOnly && !m.inStock {
		return false
	}
	if len(r.Categories) > 0 && !overlaps(m.categories, r.Categories) {
		return false
	}
	if len(r.ExcludeCategories) > 0 && overlaps(m.categories, r.ExcludeCategories) {
		return false
	}
	if r.MinPrice != nil && (!m.hasPrice || m.price < *r.MinPrice) {
		return false
	}
	if r.MaxPrice != nil && (!m.hasPrice || m.price > *r.MaxPrice) {
		return false
	}
	if len(r.Attributes) == 0 {
		return len(r.ExcludeItems) == 0 || !slices.Contains(r.ExcludeItems, m.id)
	}
	for k, want := range r.Attributes {
		v, ok := m.attrs[k]
		if !ok || !slices.ContainsFunc(want, func(w any) bool { return sameValue(v, w) }) {
			return false
		}
	}
	return !slices.Contains(r.ExcludeItems, m.id)
}

// factor returns the product of the boosts that match and the freshness
// boost.
func (r *Rules) factor(m *meta, now time.Time) float64 {
	f := 1.0
	for _, b := range r.Boosts {
		if overlaps(m.categories, b.Categories) || slices.Contains(b.Items, m.id) || (b.Brand != "" && b.Brand == m.brand) {
			f *= b.Factor
		}
	}
	if r.FreshDays > 0 && !m.created.IsZero() && now.Sub(m.created) <= time.Duration(r.FreshDays*24*float64(time.Hour)) {
		f *= r.FreshBoost
	}
	return f
}

// boosted applies a factor to a score so that a larger factor always
// ranks higher, whatever the score's sign.
func boosted(score float32, f float64) float32 {
	if f == 1 {
		return score
	}
	if score >= 0 {
		return score * float32(f)
	}
	return score / float32(f)
}

// overlaps reports whether one of the item's category paths (a) is one
// of the rule's categories (b) or below one: a rule's "Kitchen" takes in
// "Kitchen/Baking", not "Kitchenware".
func overlaps(a, b []string) bool {
	for _, x := range a {
		for _, c := range b {
			if x == c || (len(x) > len(c) && x[len(c)] == '/' && strings.HasPrefix(x, c)) {
				return true
			}
		}
	}
	return false
}

// sameValue compares an attribute value with a wanted one: equal JSON, or
// equal as strings.
func sameValue(v, w any) bool {
	if fmt.Sprint(v) == fmt.Sprint(w) {
		return true
	}
	a, _ := json.Marshal(v)
	b, _ := json.Marshal(w)
	return bytes.Equal(a, b)
}
