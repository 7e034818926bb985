package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func run(t *testing.T, db *sqlite.DB, format string, paths ...string) *ingest.Report {
	t.Helper()
	var full []string
	for _, p := range paths {
		full = append(full, filepath.Join("testdata", p))
	}
	rep, err := ingest.Import(context.Background(), db, full, ingest.Options{Format: format, Now: now})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if rep.Read != rep.Accepted+rep.Rejected+rep.Duplicates {
		t.Errorf("read %d != accepted %d + rejected %d + duplicates %d", rep.Read, rep.Accepted, rep.Rejected, rep.Duplicates)
	}
	return rep
}

// counts is the part of a report the tests compare.
type counts struct {
	Read, Accepted, Rejected, Duplicates int
	ByReason                             map[string]int
	Items, Users, Events                 int
}

func summary(r *ingest.Report) counts {
	return counts{r.Read, r.Accepted, r.Rejected, r.Duplicates, r.RejectedByReason, r.Items, r.Users, r.Events}
}

func TestImportFormats(t *testing.T) {
	tests := []struct {
		name   string
		format string
		paths  []string
		want   counts
	}{
		{"online retail", "online-retail", []string{"online-retail-small.csv"}, counts{17, 10, 6, 1,
			map[string]int{"stock_adjustment": 2, "bad_date": 1, "bad_debt_adjustment": 1, "bad_quantity": 1, "ragged_row": 1}, 8, 3, 10}},
		{"online retail gzip", "online-retail", []string{"online-retail-small.csv.gz"}, counts{17, 10, 6, 1,
			map[string]int{"stock_adjustment": 2, "bad_date": 1, "bad_debt_adjustment": 1, "bad_quantity": 1, "ragged_row": 1}, 8, 3, 10}},
		{"ml-100k", "movielens", []string{"ml-100k"}, counts{13, 9, 4, 0,
			map[string]int{"ragged_row": 2, "invalid_age": 1, "invalid_rating": 1}, 3, 2, 4}},
		{"ml-latest-small", "movielens", []string{"ml-small"}, counts{7, 7, 0, 0, map[string]int{}, 3, 2, 4}},
		{"csv", "csv", []string{"items.csv", "users.csv", "events.csv"}, counts{15, 8, 6, 1,
			map[string]int{"invalid_num": 1, "invalid_price": 1, "invalid_timestamp": 1, "invalid_unit_price": 1, "invalid_value": 1, "ragged_row": 1}, 2, 2, 4}},
		{"jsonl", "jsonl", []string{"sample.jsonl"}, counts{11, 4, 6, 1,
			map[string]int{"malformed_json": 4, "missing_kind": 1, "unknown_kind": 1}, 1, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t)
			got := summary(run(t, db, tt.format, tt.paths...))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			// The store keeps the report as its latest import report.
			kept, err := db.Report(context.Background(), "import")
			if err != nil {
				t.Fatal(err)
			}
			var back ingest.Report
			if err := json.Unmarshal(kept.Body, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summary(&back)); diff != "" {
				t.Errorf("kept report (-want +got):\n%s", diff)
			}
			// Importing again stores no new event: each is a duplicate.
			again := run(t, db, tt.format, tt.paths...)
			if again.Events != got.Events || again.Written.Events != 0 || again.Duplicates != got.Events+got.Duplicates {
				t.Errorf("second import: %d events, %d new, %d duplicates; first: %+v", again.Events, again.Written.Events, again.Duplicates, got)
			}
		})
	}
}

func TestOnlineRetailRecords(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	rep := run(t, db, "online-retail", "online-retail-small.csv")
	want := map[string]int{"customer_id_float_normalized": 8, "anonymous_order_session": 2, "non_product_marked": 2, "cancellation_to_return": 1}
	if diff := cmp.Diff(want, rep.Transformed); diff != "" {
		t.Errorf("transformed (-want +got):\n%s", diff)
	}
	if ex := rep.Examples["bad_quantity"]; len(ex) != 1 || ex[0].Line != 15 || ex[0].Field != "Quantity" {
		t.Errorf("bad_quantity examples = %+v", ex)
	}

	// The latest sale sets the item's title and price.
	it, err := db.Item(ctx, "85123A")
	if err != nil {
		t.Fatal(err)
	}
	london, _ := time.LoadLocation("Europe/London")
	if it.Title != "WHITE HANGING HEART T-LIGHT HOLDER" || it.Price == nil || *it.Price != 2.95 || it.Currency != "GBP" ||
		!it.CreatedAt.Equal(time.Date(2010, 12, 1, 8, 26, 0, 0, london)) || !it.UpdatedAt.Equal(time.Date(2011, 6, 1, 12, 0, 0, 0, london)) {
		t.Errorf("item 85123A = %+v", it)
	}
	for _, code := range []tailor.ItemID{"POST", "gift_0001_20"} {
		it, err := db.Item(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if !it.NonProduct || !it.Hidden {
			t.Errorf("%s is not marked non-product and hidden: %+v", code, it)
		}
	}
	u, err := db.User(ctx, "13047")
	if err != nil {
		t.Fatal(err)
	}
	if u.Attributes["country"] != "France" {
		t.Errorf("user 13047 = %+v", u)
	}

	page, err := db.Events(ctx, store.EventQuery{UserID: "17850"}, store.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Data {
		got = append(got, string(e.Type)+" "+string(e.ItemID)+" "+e.OrderID+" "+e.ID)
	}
	wantEvents := []string{
		"return 85123A C536379 or-C536379-1",
		"purchase 22633 536366 or-536366-1",
		"purchase 71053 536365 or-536365-2",
		"purchase 85123A 536365 or-536365-1",
	}
	if diff := cmp.Diff(wantEvents, got); diff != "" {
		t.Errorf("events of 17850 (-want +got):\n%s", diff)
	}
	ret := page.Data[0]
	if *ret.Value != 2 || *ret.UnitPrice != 2.55 || !ret.Timestamp.Equal(time.Date(2010, 12, 2, 9, 41, 0, 0, time.UTC)) {
		t.Errorf("return event = %+v", ret)
	}
	anon, err := db.Events(ctx, store.EventQuery{SessionID: "536544"}, store.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(anon.Data) != 2 || anon.Data[0].UserID != "" {
		t.Errorf("anonymous order session = %+v", anon.Data)
	}
}

func TestMovieLensRecords(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	run(t, db, "movielens", "ml-100k")
	it, err := db.Item(ctx, "3")
	if err != nil {
		t.Fatal(err)
	}
	if it.Title != "Café au lait (1993)" || !cmp.Equal(it.Categories, []string{"Comedy"}) || it.Attributes["release_date"] != "1993-01-01" {
		t.Errorf("Latin-1 item = %+v", it)
	}
	u, err := db.User(ctx, "2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"age": 53.0, "gender": "F", "occupation": "other", "zip_code": "T8H1N"}, u.Attributes); diff != "" {
		t.Errorf("user attributes (-want +got):\n%s", diff)
	}
	page, _ := db.Events(ctx, store.EventQuery{UserID: "1", ItemID: "1"}, store.PageRequest{})
	if len(page.Data) != 1 || page.Data[0].Type != tailor.Rating || *page.Data[0].Value != 5 ||
		page.Data[0].ID != "ml-1-1-874965758" || page.Data[0].Timestamp.Unix() != 874965758 {
		t.Errorf("rating = %+v", page.Data)
	}

	db2 := openDB(t)
	run(t, db2, "movielens", "ml-small")
	it, _ = db2.Item(ctx, "2")
	if it.Title != "American President, The (1995)" || len(it.Categories) != 3 {
		t.Errorf("movies.csv item = %+v", it)
	}
	it, _ = db2.Item(ctx, "3")
	if it.Categories != nil {
		t.Errorf("(no genres listed) became %v", it.Categories)
	}
	u, _ = db2.User(ctx, "5")
	if !u.CreatedAt.Equal(time.Unix(847434962, 0)) {
		t.Errorf("derived user = %+v", u)
	}
}

func TestImportFailsWholly(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, format string
		paths        []string
		strict       bool
		want         string
	}{
		{"wrong header", "csv", []string{"items.csv", "wrong-header.csv"}, false, `wrong-header.csv:1: wrong header: unknown column "user"`},
		{"strict with bad rows", "csv", []string{"items.csv"}, true, "2 of 4 rows were rejected"},
		{"missing file", "jsonl", []string{"nope.jsonl"}, false, "no such file"},
		{"file for a folder format", "movielens", []string{"items.csv"}, false, "takes a folder"},
		{"not a movielens folder", "movielens", []string{"."}, false, "not a MovieLens folder"},
		{"retail header", "online-retail", []string{"items.csv"}, false, "wrong header"},
		{"unknown format", "xml", []string{"items.csv"}, false, "unknown format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t)
			run(t, db, "jsonl", "sample.jsonl")
			before, _ := db.Counts(ctx)
			var paths []string
			for _, p := range tt.paths {
				paths = append(paths, filepath.Join("testdata", p))
			}
			_, err := ingest.Import(ctx, db, paths, ingest.Options{Format: tt.format, Strict: tt.strict, Now: now})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if tt.strict && !errors.Is(err, ingest.ErrStrict) {
				t.Errorf("strict error %v is not ErrStrict", err)
			}
			after, _ := db.Counts(ctx)
			if after != before {
				t.Errorf("store changed from %+v to %+v", before, after)
			}
		})
	}
}

func TestNonProductCode(t *testing.T) {
	for code, want := range map[string]bool{
		"POST": true, "DOT": true, "M": true, "m": true, "BANK CHARGES": true, "AMAZONFEE": true, "gift_0001_40": true,
		"DCGSSBOY": true, "C2": true, "85123A": false, "22633": false, "MUG": false,
	} {
		if got := ingest.NonProductCode(code); got != want {
			t.Errorf("NonProductCode(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestContentID(t *testing.T) {
	v := 1.0
	a := tailor.Event{UserID: "u", ItemID: "i", Type: "view", Value: &v, Timestamp: now}
	b := a
	if ingest.ContentID(&a) != ingest.ContentID(&b) {
		t.Error("equal events have different ids")
	}
	b.Value = nil
	if ingest.ContentID(&a) == ingest.ContentID(&b) {
		t.Error("events differing in value share an id")
	}
	b = a
	b.UserID, b.SessionID = "", "u"
	if ingest.ContentID(&a) == ingest.ContentID(&b) {
		t.Error("a user id and an equal session id give the same id")
	}
}

func TestCDNOW(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		file          string
		events, users int
		user          string
	}{{"cdnow/sample.txt", 4, 2, "1"}, {"cdnow/master.txt", 2, 2, "1"}} {
		db := openDB(t)
		rep := run(t, db, "cdnow", tc.file)
		if rep.Accepted != tc.events || rep.Events != tc.events || rep.Users != tc.users {
			t.Fatalf("%s: %+v", tc.file, summary(rep))
		}
		page, _ := db.Events(ctx, store.EventQuery{UserID: tailor.UserID(tc.user)}, store.PageRequest{})
		e := page.Data[len(page.Data)-1] // the oldest
		if e.Type != tailor.Purchase || e.ItemID != "CD" || e.Timestamp.Year() != 1997 || e.OrderID == "" {
			t.Errorf("%s: oldest event of %s = %+v", tc.file, tc.user, e)
		}
		if amount := *e.Value * *e.UnitPrice; amount < 11.76 || amount > 29.34 {
			t.Errorf("%s: amount %v", tc.file, amount)
		}
	}
}
