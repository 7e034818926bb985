package tailor_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
)

func ptr[T any](v T) *T { return &v }

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func goodEvent() tailor.Event {
	return tailor.Event{ID: "e1", UserID: "u1", ItemID: "i1", Type: tailor.Purchase,
		Value: ptr(2.0), UnitPrice: ptr(3.5), Timestamp: now.Add(-time.Hour)}
}

func TestCheckEvent(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*tailor.Event)
		rules  func(*tailor.Rules)
		fields []string // fields expected to be reported, in order
	}{
		{name: "good", mod: func(*tailor.Event) {}},
		{name: "anonymous session", mod: func(e *tailor.Event) { e.UserID = ""; e.SessionID = "s1" }},
		{name: "no user nor session", mod: func(e *tailor.Event) { e.UserID = "" }, fields: []string{"user_id"}},
		{name: "missing item", mod: func(e *tailor.Event) { e.ItemID = "" }, fields: []string{"item_id"}},
		{name: "missing id", mod: func(e *tailor.Event) { e.ID = "" }, fields: []string{"id"}},
		{name: "oversized id", mod: func(e *tailor.Event) { e.ItemID = tailor.ItemID(strings.Repeat("x", 257)) }, fields: []string{"item_id"}},
		{name: "invalid utf8", mod: func(e *tailor.Event) { e.UserID = "a\xffb" }, fields: []string{"user_id"}},
		{name: "control char", mod: func(e *tailor.Event) { e.OrderID = "a\nb" }, fields: []string{"order_id"}},
		{name: "blank id", mod: func(e *tailor.Event) { e.ItemID = "  " }, fields: []string{"item_id"}},
		{name: "negative price", mod: func(e *tailor.Event) { e.UnitPrice = ptr(-1.0) }, fields: []string{"unit_price"}},
		{name: "nan value", mod: func(e *tailor.Event) { e.Value = ptr(math.NaN()) }, fields: []string{"value"}},
		{name: "zero quantity", mod: func(e *tailor.Event) { e.Value = ptr(0.0) }, fields: []string{"value"}},
		{name: "rating without value", mod: func(e *tailor.Event) { e.Type = tailor.Rating; e.Value = nil }, fields: []string{"value"}},
		{name: "missing type", mod: func(e *tailor.Event) { e.Type = "" }, fields: []string{"type"}},
		{name: "custom type allowed", mod: func(e *tailor.Event) { e.Type = "wishlist"; e.Value = nil }},
		{name: "custom type bad name", mod: func(e *tailor.Event) { e.Type = "Wish List" }, fields: []string{"type"}},
		{name: "custom type not allowed", mod: func(e *tailor.Event) { e.Type = "wishlist" },
			rules: func(r *tailor.Rules) { r.AllowCustomTypes = false }, fields: []string{"type"}},
		{name: "closed type list", mod: func(e *tailor.Event) { e.Type = tailor.View; e.Value = nil },
			rules: func(r *tailor.Rules) { r.EventTypes = []tailor.EventType{"purchase"} }, fields: []string{"type"}},
		{name: "missing timestamp", mod: func(e *tailor.Event) { e.Timestamp = time.Time{} }, fields: []string{"timestamp"}},
		{name: "timestamp before 1970", mod: func(e *tailor.Event) { e.Timestamp = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }, fields: []string{"timestamp"}},
		{name: "timestamp far future", mod: func(e *tailor.Event) { e.Timestamp = now.Add(48 * time.Hour) }, fields: []string{"timestamp"}},
		{name: "several problems", mod: func(e *tailor.Event) { e.ItemID = ""; e.UnitPrice = ptr(-2.0) }, fields: []string{"item_id", "unit_price"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tailor.DefaultRules()
			if tt.rules != nil {
				tt.rules(&r)
			}
			e := goodEvent()
			tt.mod(&e)
			errs := r.CheckEvent(&e, now)
			var got []string
			for _, fe := range errs {
				got = append(got, fe.Field)
				if fe.Reason == "" {
					t.Errorf("field %s has an empty reason", fe.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("fields = %v, want %v (errors %v)", got, tt.fields, errs)
			}
		})
	}
}

func TestCheckItem(t *testing.T) {
	tests := []struct {
		name   string
		item   tailor.Item
		fields []string
	}{
		{name: "good", item: tailor.Item{ID: "i1", Title: "Mug", Categories: []string{"Home/Kitchen"}, Price: ptr(2.5),
			Currency: "GBP", Stock: ptr(int64(3)), Attributes: map[string]any{"color": "red", "weight": 0.3}}},
		{name: "missing id", item: tailor.Item{Title: "x"}, fields: []string{"id"}},
		{name: "negative price", item: tailor.Item{ID: "i", Price: ptr(-0.01)}, fields: []string{"price"}},
		{name: "bad currency", item: tailor.Item{ID: "i", Currency: "pound"}, fields: []string{"currency"}},
		{name: "negative stock", item: tailor.Item{ID: "i", Stock: ptr(int64(-1))}, fields: []string{"stock"}},
		{name: "empty category", item: tailor.Item{ID: "i", Categories: []string{"a", " "}}, fields: []string{"categories[1]"}},
		{name: "bool attribute", item: tailor.Item{ID: "i", Attributes: map[string]any{"new": true}}, fields: []string{"attributes.new"}},
		{name: "long title", item: tailor.Item{ID: "i", Title: strings.Repeat("t", 1025)}, fields: []string{"title"}},
		{name: "bad utf8 description", item: tailor.Item{ID: "i", Description: "\xc3"}, fields: []string{"description"}},
		{name: "dot id", item: tailor.Item{ID: "."}, fields: []string{"id"}},
		{name: "dot-dot id", item: tailor.Item{ID: ".."}, fields: []string{"id"}},
		{name: "dots in an id", item: tailor.Item{ID: "a..b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tailor.DefaultRules()
			var got []string
			for _, fe := range r.CheckItem(&tt.item) {
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestCheckUser(t *testing.T) {
	r := tailor.DefaultRules()
	if errs := r.CheckUser(&tailor.User{ID: "u", Attributes: map[string]any{"country": "UK", "age": 31.0}}); errs != nil {
		t.Errorf("good user: %v", errs)
	}
	errs := r.CheckUser(&tailor.User{Attributes: map[string]any{"tags": []any{"a"}}})
	if len(errs) != 2 || errs[0].Field != "id" || errs[1].Field != "attributes.tags" {
		t.Errorf("bad user: %v", errs)
	}
}

func TestItemAvailable(t *testing.T) {
	tests := []struct {
		item tailor.Item
		want bool
	}{
		{tailor.Item{ID: "a"}, true},
		{tailor.Item{ID: "a", Hidden: true}, false},
		{tailor.Item{ID: "a", NonProduct: true}, false},
		{tailor.Item{ID: "a", InStock: ptr(false)}, false},
		{tailor.Item{ID: "a", Stock: ptr(int64(0))}, false},
		{tailor.Item{ID: "a", Stock: ptr(int64(2))}, true},
	}
	for i, tt := range tests {
		if got := tt.item.Available(); got != tt.want {
			t.Errorf("%d: Available() = %v, want %v", i, got, tt.want)
		}
	}
}
