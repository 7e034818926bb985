package demo

import (
	"compress/gzip"
	"encoding/csv"
	"os"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
)

func TestCollection(t *testing.T) {
	tests := []struct{ title, want string }{
		{"WHITE HANGING HEART T-LIGHT HOLDER", "Home/Candles & Lights"},
		{"JUMBO BAG PINK POLKADOT", "Bags & Accessories"},
		{"ROSES REGENCY TEACUP AND SAUCER", "Kitchen/Tea & Coffee"},
		{"PAPER CHAIN KIT 50'S CHRISTMAS", "Seasonal/Christmas"},
		{"lunch box i love london", "Kitchen/Lunch & Storage"},
		{"SET OF 3 CAKE TINS PANTRY DESIGN", "Kitchen/Baking"},
		{"ASSORTED COLOUR MINI CASES", "Kitchen/Baking"},
		{"SOMETHING ELSE ENTIRELY", "Gifts/Other"},
		{"", "Gifts/Other"},
	}
	for _, tt := range tests {
		if got := Collection(tt.title); got != tt.want {
			t.Errorf("Collection(%q) = %q, want %q", tt.title, got, tt.want)
		}
	}
}

func TestAssignCollections(t *testing.T) {
	items := []tailor.Item{
		{ID: "a", Title: "RED TEAPOT"},
		{ID: "b", Title: "GREEN MUG", Categories: []string{"Mine"}},
		{ID: "POST", Title: "POSTAGE", NonProduct: true},
		{ID: "c"},
	}
	got := AssignCollections(items)
	if len(got) != 1 || got[0].ID != "a" || len(got[0].Categories) != 1 || got[0].Categories[0] != "Kitchen/Tea & Coffee" {
		t.Errorf("changed = %+v", got)
	}
	if items[0].Categories != nil {
		t.Error("the input was changed")
	}
}

func TestWriteSampleEndingBy(t *testing.T) {
	dir := t.TempDir()
	end := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	path, weeks, err := WriteSampleEndingBy(dir, end)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	first, _ := time.Parse(dateLayout, rows[1][4])
	var last time.Time
	for _, r := range rows[1:] {
		d, err := time.Parse(dateLayout, r[4])
		if err != nil {
			t.Fatal(err)
		}
		if d.After(last) {
			last = d
		}
	}
	// The sample starts on Wednesday 2010-12-01 09:37 and ends on Monday
	// 2011-10-31; shifted by whole weeks, the weekday and hour stay.
	if want := time.Date(2010, 12, 1, 9, 37, 0, 0, time.UTC).AddDate(0, 0, 7*weeks); !first.Equal(want) {
		t.Errorf("first date %v, want %v (%d weeks)", first, want, weeks)
	}
	if last.After(end) || end.Sub(last) >= 7*24*time.Hour {
		t.Errorf("last date %v is not in the week before %v", last, end)
	}
	if first.Weekday() != time.Wednesday {
		t.Errorf("first date %v moved to a %v", first, first.Weekday())
	}
	// An end before the sample's last date moves nothing.
	if _, w, err := WriteSampleEndingBy(dir, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || w != 0 {
		t.Errorf("end in 2000: %d weeks, %v", w, err)
	}
}
