package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDeletionReachesTheAnalyses deletes a shopper and an item through the
// API of a served shop and checks, within 5 s, every analysis, pricing and
// search answer that named them: none does any more.
func TestDeletionReachesTheAnalyses(t *testing.T) {
	dir := importSample(t)
	base, _ := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")

	// A repeat buyer, and the best seller with an elasticity.
	var rfm struct {
		Shoppers []struct {
			User      string `json:"user_id"`
			Frequency int    `json:"frequency"`
		} `json:"shoppers"`
	}
	call(t, "GET", base+"/v1/analytics/rfm", "", &rfm)
	var shopper string
	for _, s := range rfm.Shoppers {
		if s.Frequency >= 3 {
			shopper = s.User
			break
		}
	}
	var elasticities []struct {
		Item string `json:"item_id"`
	}
	call(t, "GET", base+"/v1/pricing/elasticities?n=10000", "", &elasticities)
	if shopper == "" || len(elasticities) == 0 {
		t.Fatalf("no repeat buyer (%d shoppers) or no elasticity", len(rfm.Shoppers))
	}
	item := elasticities[0].Item
	var it struct {
		Title string `json:"title"`
	}
	call(t, "GET", base+"/v1/items/"+item, "", &it)

	// What names them, and how to tell.
	mentions := []struct {
		what, path string
		names      string // a JSON string the answer holds while they are in it
	}{
		{"RFM", "/v1/analytics/rfm", `"user_id":"` + shopper + `"`},
		{"CLV", "/v1/analytics/clv", `"user_id":"` + shopper + `"`},
		{"elasticities", "/v1/pricing/elasticities?n=10000", `"item_id":"` + item + `"`},
		{"search", "/v1/search?n=100&q=" + strings.ReplaceAll(it.Title, " ", "+"), `"item_id":"` + item + `"`},
		{"trending", "/v1/trending?n=100", `"item_id":"` + item + `"`},
	}
	get := func(path string) (int, string) {
		var raw json.RawMessage
		code := call(t, "GET", base+path, "", &raw)
		return code, string(raw)
	}
	for _, m := range mentions {
		if code, body := get(m.path); code != 200 || !strings.Contains(body, m.names) {
			t.Fatalf("%s does not name them before the deletion (%d): pick others", m.what, code)
		}
	}
	var segs struct {
		Shoppers int `json:"shoppers"`
	}
	call(t, "GET", base+"/v1/analytics/segments", "", &segs)

	for _, path := range []string{"/v1/users/" + shopper, "/v1/items/" + item} {
		if code := call(t, "DELETE", base+path, "", nil); code != 200 {
			t.Fatalf("DELETE %s: %d", path, code)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for _, m := range mentions {
			if code, body := get(m.path); code != 200 || strings.Contains(body, m.names) {
				left = append(left, fmt.Sprintf("%s (%d)", m.what, code))
			}
		}
		var now struct {
			Shoppers int `json:"shoppers"`
		}
		call(t, "GET", base+"/v1/analytics/segments", "", &now)
		if now.Shoppers != segs.Shoppers-1 {
			left = append(left, fmt.Sprintf("segments (%d shoppers, was %d)", now.Shoppers, segs.Shoppers))
		}
		for _, path := range []string{"/v1/users/" + shopper + "/profile", "/v1/users/" + shopper + "/export", "/v1/items/" + item + "/pricing", "/v1/users/" + shopper + "/events"} {
			if code := call(t, "GET", base+path, "", nil); code != 404 {
				left = append(left, fmt.Sprintf("%s (%d)", path, code))
			}
		}
		var buyAgain struct {
			Items []any `json:"items"`
		}
		if call(t, "GET", base+"/v1/users/"+shopper+"/buy-again?n=50", "", &buyAgain); len(buyAgain.Items) > 0 {
			left = append(left, fmt.Sprintf("buy again (%d items)", len(buyAgain.Items)))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after deleting shopper %s and item %s, they are still in: %s", shopper, item, strings.Join(left, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
