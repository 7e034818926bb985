package dataset

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

var t0 = time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)

// events: u2 buys c and a in order o1 (c first), u1 views b and buys a in
// o2, an anonymous session buys b and c in o3, u2 rates a.
func events() []tailor.Event {
	v := func(x float64) *float64 { return &x }
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	return []tailor.Event{
		{ID: "1", UserID: "u2", ItemID: "c", Type: tailor.Purchase, Value: v(2), UnitPrice: v(1.5), OrderID: "o1", Timestamp: at(0)},
		{ID: "2", UserID: "u2", ItemID: "a", Type: tailor.Purchase, Value: v(1), UnitPrice: v(4), OrderID: "o1", Timestamp: at(0)},
		{ID: "3", UserID: "u1", ItemID: "b", Type: tailor.View, Timestamp: at(5)},
		{ID: "4", UserID: "u1", ItemID: "a", Type: tailor.Purchase, OrderID: "o2", Timestamp: at(6)},
		{ID: "5", SessionID: "s1", ItemID: "b", Type: tailor.Purchase, OrderID: "o3", Timestamp: at(3)},
		{ID: "6", SessionID: "s1", ItemID: "c", Type: tailor.Purchase, OrderID: "o3", Timestamp: at(3)},
		{ID: "7", SessionID: "s1", ItemID: "c", Type: tailor.Purchase, OrderID: "o3", Timestamp: at(3)},
		{ID: "8", UserID: "u2", ItemID: "a", Type: tailor.Rating, Value: v(5), Timestamp: at(9)},
	}
}

var catalog = []tailor.Item{{ID: "a", Title: "Apple"}, {ID: "z", Title: "Zebra mug", Categories: []string{"mugs"}}, {ID: "b", NonProduct: true}}

func TestFromEventsAndViews(t *testing.T) {
	d := FromEvents(events(), catalog)
	if !slices.Equal(d.Users, []string{"u2", "u1"}) || !slices.Equal(d.Items, []string{"c", "a", "b", "z"}) {
		t.Fatalf("index: users %v items %v (first seen, catalog-only items after)", d.Users, d.Items)
	}
	if d.Catalog[3].Title != "Zebra mug" || d.Catalog[0].ID != "c" || !d.NonProduct(2) || d.Categories("z")[0] != "mugs" {
		t.Errorf("catalog: %+v", d.Catalog)
	}
	if e := d.Events[0]; e.User != 0 || e.Item != 0 || e.Value != 2 || e.Price != 1.5 || e.Session != -1 || e.Order != 0 || !e.At().Equal(t0) {
		t.Errorf("first event: %+v", e)
	}
	if e := d.Events[2]; e.HasValue() || e.Order != -1 {
		t.Errorf("a view: %+v", e)
	}
	if e := d.Events[4]; e.User != -1 || e.Session != 0 {
		t.Errorf("an anonymous event: %+v", e)
	}
	// The matrix of user rows: a pair weighs its events, anonymous events
	// are left out.
	m, err := d.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	if m.NumUsers() != 2 || m.NNZ() != 4 {
		t.Fatalf("matrix: %d users, %d pairs", m.NumUsers(), m.NNZ())
	}
	items, weights := m.Row(0)
	if !slices.Equal(items, []int32{0, 1}) || !slices.Equal(weights, []float32{1, 2}) {
		t.Errorf("u2's row: %v %v (a has a purchase and a rating)", items, weights)
	}
	// Orders: by time (o1 at 9:00, o3 at 9:03, o2 at 9:06), items distinct
	// in line order.
	o := d.Orders()
	if o.Len() != 3 || !slices.Equal(o.Items(0), []int32{0, 1}) || !slices.Equal(o.Items(1), []int32{2, 0}) || !slices.Equal(o.Items(2), []int32{1}) ||
		d.OrderIDs[o.ID[1]] != "o3" || o.User[1] != -1 || o.User[0] != 0 {
		t.Errorf("orders: %+v", o)
	}
	p := d.Purchases()
	if items, times := p.Of(0); !slices.Equal(items, []int32{0, 1}) || times[0] != t0.UnixNano() {
		t.Errorf("u2's purchases: %v %v", items, times)
	}
	if items, _ := p.Of(1); !slices.Equal(items, []int32{1}) {
		t.Errorf("u1's purchases: %v", items)
	}
	// The matrix of order rows.
	byOrder := d.Derive(d.Events, ByOrder, nil)
	om, err := byOrder.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	if om.NumUsers() != 3 || om.NNZ() != 5 || om.Users[1] != "o3" {
		t.Errorf("order matrix: %d rows, %d pairs, rows %v", om.NumUsers(), om.NNZ(), om.Users)
	}
	if i, ok := d.ItemIndex("z"); !ok || i != 3 {
		t.Errorf("ItemIndex(z) = %d, %v", i, ok)
	}
	if _, ok := d.UserIndex("nobody"); ok {
		t.Error("an unknown user has an index")
	}
}

func TestSelect(t *testing.T) {
	d := FromEvents(events(), catalog)
	purchases := func(e *Event) bool { return e.Kind == KindPurchase }
	first := d.Select(SelectOptions{Keep: purchases})
	if !slices.Equal(first.Items, []string{"c", "a", "b"}) || len(first.Events) != 6 || !slices.Equal(first.Users, []string{"u2", "u1"}) {
		t.Errorf("first seen: items %v users %v, %d events", first.Items, first.Users, len(first.Events))
	}
	byID := d.Select(SelectOptions{Keep: purchases, Order: ByID, Catalog: true})
	if !slices.Equal(byID.Items, []string{"a", "b", "c", "z"}) || !slices.Equal(byID.Users, []string{"u1", "u2"}) {
		t.Errorf("by id with the catalog: items %v users %v", byID.Items, byID.Users)
	}
	for _, e := range byID.Events {
		if e.Kind != KindPurchase {
			t.Fatal("a kept event is not a purchase")
		}
	}
	// Indices are remapped: the first purchase is u2's c.
	if e := byID.Events[0]; byID.Users[e.User] != "u2" || byID.Items[e.Item] != "c" || byID.Catalog[e.Item].ID != "c" {
		t.Errorf("first event remapped: %+v", e)
	}
	sub := byID.Subset(func(e *Event) bool { return e.User >= 0 }, ByUser)
	if len(sub.Events) != 3 || !slices.Equal(sub.Items, byID.Items) {
		t.Errorf("subset: %d events over %v", len(sub.Events), sub.Items)
	}
}

func TestLoadAndStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join("..", "ingest", "testdata", "online-retail-small.csv")
	d, err := Load(ctx, "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(ctx, "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != len(recs.Events) || len(d.Events) == 0 || d.Format != "online-retail" {
		t.Fatalf("Load read %d events, ReadRecords %d", len(d.Events), len(recs.Events))
	}
	// Exact duplicate lines are read once.
	seen := map[string]bool{}
	for _, e := range recs.Events {
		if seen[e.ID] {
			t.Fatalf("event %s read twice", e.ID)
		}
		seen[e.ID] = true
	}
	if i, ok := d.ItemIndex("85123A"); !ok || d.Catalog[i].Title != "WHITE HANGING HEART T-LIGHT HOLDER" {
		t.Errorf("85123A: %v %+v", ok, d.Catalog[i])
	}
	for _, bad := range []string{"nothing", "xml:f", "csv:/no/such/file"} {
		if _, err := Load(ctx, bad); err == nil {
			t.Errorf("Load(%q): no error", bad)
		}
		if _, err := ReadRecords(ctx, bad); err == nil {
			t.Errorf("ReadRecords(%q): no error", bad)
		}
	}
	// The same records through a store.
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := FromStore(ctx, db); err == nil {
		t.Error("an empty store read as a dataset")
	}
	err = db.Update(ctx, func(w store.Writer) error {
		if err := w.UpsertItems(ctx, recs.Catalog()); err != nil {
			return err
		}
		_, err := w.InsertEvents(ctx, recs.Events)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fromStore, err := FromStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromStore.Events) != len(d.Events) || fromStore.NumItems() != d.NumItems() || fromStore.Format != "store" {
		t.Errorf("from the store: %d events, %d items; from the file %d, %d", len(fromStore.Events), fromStore.NumItems(), len(d.Events), d.NumItems())
	}
	r2, err := RecordsFromStore(ctx, db)
	if err != nil || len(r2.Events) != len(recs.Events) || len(r2.Items) != len(recs.Items) {
		t.Errorf("records from the store: %v", err)
	}
}
