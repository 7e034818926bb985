package ingest

import (
	"strings"
	"testing"

	"github.com/tailorhq/tailor"
)

// TestStrictJSON checks that a batch is refused, naming the row and the
// field, where encoding/json alone would accept it: duplicate keys,
// field names in another case, half surrogate pairs; and that what is
// valid (a whole pair, free-form attribute names in any case, the same
// name in different objects) is accepted.
func TestStrictJSON(t *testing.T) {
	const ok = `{"id":"e0","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`
	for _, tc := range []struct {
		name, row string
		field     string // "" for an accepted row
		reason    string
	}{
		{"valid", `{"id":"e1","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "", ""},
		{"whole surrogate pair", `{"id":"e\ud83d\ude00","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "", ""},
		{"escaped key", `{"\u0069d":"e2","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "", ""},
		{"duplicate key", `{"id":"e3","item_id":"i","item_id":"j","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "item_id", "twice"},
		{"duplicate by escape", `{"id":"e4","\u0069d":"e5","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "id", "twice"},
		{"other case", `{"id":"e6","Item_ID":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "Item_ID", "case-sensitive"},
		{"lone high surrogate", `{"id":"x\ud800","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "", "surrogate"},
		{"lone low surrogate", `{"id":"x\udfff","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "", "surrogate"},
		{"zero time", `{"id":"e7","item_id":"i","type":"view","timestamp":"0001-01-01T00:00:00Z"}`, "timestamp", "no time at all"},
		{"zero time with an offset", `{"id":"e8","item_id":"i","type":"view","timestamp" : "0001-01-01T00:00:00.000Z"}`, "timestamp", "no time at all"},
		{"no time", `{"id":"e9","item_id":"i","type":"view"}`, "", ""},
		{"high then not low", `{"id":"x\ud800\u0041","item_id":"i","type":"view","timestamp":"2024-05-01T12:00:00Z"}`, "", "surrogate"},
	} {
		_, bad, err := DecodeArray[tailor.Event](strings.NewReader("["+ok+",\n"+tc.row+"]"), 10)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.reason == "" {
			if len(bad) != 0 {
				t.Errorf("%s: refused: %+v", tc.name, bad)
			}
			continue
		}
		if len(bad) != 1 || bad[0].Index != 1 || bad[0].Field != tc.field || !strings.Contains(bad[0].Reason, tc.reason) {
			t.Errorf("%s: %+v, want row 1, field %q, a reason with %q", tc.name, bad, tc.field, tc.reason)
		}
	}
	items := `[{"id":"a","attributes":{"Color":"red","color":"blue","size":1}},{"id":"b","attributes":{"size":2}}]`
	if _, bad, err := DecodeArray[tailor.Item](strings.NewReader(items), 10); err != nil || len(bad) != 0 {
		t.Errorf("attribute names in any case: %+v, %v", bad, err)
	}
	dup := `[{"id":"a","attributes":{"size":1,"size":2}}]`
	if _, bad, _ := DecodeArray[tailor.Item](strings.NewReader(dup), 10); len(bad) != 1 || bad[0].Field != "size" {
		t.Errorf("a duplicate attribute: %+v", bad)
	}
}
