package search

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/tailorhq/tailor"
)

func catalog() []tailor.Item {
	return []tailor.Item{
		{ID: "1", Title: "White hanging heart T-light holder", Categories: []string{"candles"}},
		{ID: "2", Title: "Red retrospot jumbo bag", Categories: []string{"bags"}},
		{ID: "3", Title: "Jumbo bag pink polkadot", Categories: []string{"bags"}},
		{ID: "4", Title: "Vintage doily cake cases", Description: "Pack of 60 paper cases for baking"},
		{ID: "5", Title: "Postage", NonProduct: true},
		{ID: "6", Title: "Hand warmer union jack", Brand: "Heritage"},
	}
}

func ids(hs []Hit) string {
	return fmt.Sprint(func() []tailor.ItemID {
		var o []tailor.ItemID
		for _, h := range hs {
			o = append(o, h.Item)
		}
		return o
	}())
}

func TestSearch(t *testing.T) {
	x := Build(catalog())
	if x.Len() != 5 {
		t.Fatalf("indexed %d items, want 5 (not the non-product)", x.Len())
	}
	for _, tc := range []struct {
		q    string
		want string
	}{
		{"jumbo bags ", "[2 3]"},    // stemmed plural
		{"red jumbo bag ", "[2 3]"}, // both words count
		{"hanging hearts ", "[1]"},  // stemmed
		{"jumbo bga ", "[2 3]"},     // a typo (transposition = two edits, "bag" is too short): jumbo alone
		{"retrospt ", "[2]"},        // one letter missing
		{"vintge doilly ", "[4]"},   // two typos
		{"baking ", "[4]"},          // the description
		{"heritage ", "[6]"},        // the brand
		{"warm", "[6]"},             // unfinished: "warmer" by its prefix
		{"the of and ", "[]"},       // only stop words
		{"postage ", "[]"},          // non-products are not indexed
		{"", "[]"},
	} {
		if got := ids(x.Search(tc.q, 10, nil)); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.q, got, tc.want)
		}
	}
	if got := ids(x.Search("bag ", 10, func(id tailor.ItemID) bool { return id != "2" })); got != "[3]" {
		t.Errorf("filtered: %s", got)
	}
	if editDistance("kitten", "sitting", 3) != 3 || editDistance("abc", "abc", 1) != 0 || editDistance("abcdef", "a", 2) != 3 {
		t.Error("edit distance")
	}
}

// TestPersonalize checks the blend of text and shopper scores: scaled over
// the hits, an item the shopper's scores do not know counting as 0.
func TestPersonalize(t *testing.T) {
	hits := []Hit{{"a", 1.0}, {"b", 0.9}, {"c", 0.8}}
	personal := map[tailor.ItemID]float64{"b": -1, "c": 1} // a: unknown
	suits := Personalize(hits, func(k int) (float64, bool) {
		v, ok := personal[hits[k].Item]
		return v, ok
	}, 0.5)
	// a: 0.5·1 + 0.5·0.5 = 0.75; b: 0.5·0.9 + 0 = 0.45; c: 0.5·0.8 + 0.5·1 = 0.9.
	want := []Hit{{"c", 0.9}, {"a", 0.75}, {"b", 0.45}}
	for k := range want {
		if hits[k].Item != want[k].Item || math.Abs(hits[k].Score-want[k].Score) > 1e-12 {
			t.Fatalf("personalized %v, want %v", hits, want)
		}
	}
	if !slices.Equal(suits, []bool{true, false, false}) {
		t.Errorf("suits %v", suits)
	}
	if Personalize(nil, nil, 0.5) != nil {
		t.Error("no hits: something suits")
	}
}
