package orders

import (
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
)

func TestSplit(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2011, 1, d, 0, 0, 0, 0, time.UTC) }
	line := func(order string, item tailor.ItemID, at time.Time, typ tailor.EventType) tailor.Event {
		return tailor.Event{UserID: "u", OrderID: order, ItemID: item, Type: typ, Timestamp: at}
	}
	events := []tailor.Event{
		line("b", "pan", day(3), tailor.Purchase),
		line("a", "tent", day(1), tailor.Purchase),
		line("a", "stove", day(1), tailor.Purchase),
		line("a", "tent", day(1), tailor.Purchase), // a repeated line: once, where it first appears
		line("a", "POST", day(1), tailor.Purchase), // skipped
		line("a", "lamp", day(1), tailor.View),     // not a purchase
		line("", "mat", day(2), tailor.Purchase),   // no order id
		line("c", "cup", day(10), tailor.Purchase), // from the cutoff on
		line("b", "plate", day(3), tailor.Purchase),
	}
	before, after := Split(events, day(10), func(id tailor.ItemID) bool { return id == "POST" })
	want := [][]tailor.ItemID{{"tent", "stove"}, {"pan", "plate"}}
	if !slices.EqualFunc(before, want, slices.Equal) {
		t.Errorf("before the cutoff: %v, want %v", before, want)
	}
	if len(after) != 1 || !slices.Equal(after[0], []tailor.ItemID{"cup"}) {
		t.Errorf("from the cutoff: %v", after)
	}
	if b, a := Split(nil, day(1), nil); b != nil || a != nil {
		t.Errorf("no events: %v, %v", b, a)
	}
}
