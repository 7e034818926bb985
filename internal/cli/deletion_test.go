package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// TestDeletionReachesTheAnalyses deletes a shopper and an item through the
// API of a served shop and checks, within 15 s, every analysis, pricing and
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
	// Alone the analyses are refreshed without them in 1–2.5 s (logged);
	// with other packages' tests on the same two cores a run took over 5,
	// so the bound is 15 s: the README's "within seconds".
	deleted := time.Now()
	deadline := deleted.Add(15 * time.Second)
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
			t.Logf("gone from every answer %s after the deletion", time.Since(deleted).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after deleting shopper %s and item %s, they are still in: %s", shopper, item, strings.Join(left, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDeletionReachesTheModelVersions deletes a shopper through the API of
// a served shop whose stored model versions (one with shopper vectors,
// one without) hold the shopper: within 5 s no artifact holds their id,
// and every version still loads.
func TestDeletionReachesTheModelVersions(t *testing.T) {
	ctx := context.Background()
	dir := importSample(t)
	const shopper = "shopper-to-delete-9d2c41"
	db, err := openStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	items, err := db.Items(ctx, store.PageRequest{Limit: 8})
	if err != nil || len(items.Data) < 8 {
		t.Fatalf("items: %v", err)
	}
	var events []tailor.Event
	for k, it := range items.Data {
		events = append(events, tailor.Event{ID: fmt.Sprint("del-", k), UserID: shopper, ItemID: it.ID, Type: tailor.Purchase,
			Timestamp: time.Date(2011, 10, 1, 9, k, 0, 0, time.UTC)})
	}
	if err := db.Update(ctx, func(w store.Writer) error { _, err := w.InsertEvents(ctx, events); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, m := range []string{"ials", "ease"} {
		if code, out, errOut := runMain(t, "train", "--data-dir", dir, "--model", m, "--skip-holdout"); code != 0 {
			t.Fatalf("train %s: %d %s %s", m, code, out, errOut)
		}
	}
	base, _ := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")
	// A second handle on the store, as another process would have.
	db, err = openStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holding := func() []string {
		versions, err := db.ModelVersions(ctx, "")
		if err != nil || len(versions) != 2 {
			t.Fatalf("versions: %d, %v", len(versions), err)
		}
		var out []string
		for _, v := range versions {
			b, err := db.ModelArtifact(ctx, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(shopper)) {
				out = append(out, v.Model)
			}
		}
		return out
	}
	if got := holding(); len(got) != 2 {
		t.Fatalf("before the deletion only %v hold the shopper: the test shows nothing", got)
	}
	if code := call(t, "DELETE", base+"/v1/users/"+shopper, "", nil); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(holding()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the deletion, %v still hold %s", holding(), shopper)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Both versions still load and serve.
	var models struct {
		Versions []store.ModelVersion `json:"versions"`
	}
	call(t, "GET", base+"/v1/models", "", &models)
	for _, v := range models.Versions {
		if code := call(t, "POST", base+"/v1/models/"+v.ID+"/activate", "", nil); code != 200 {
			t.Errorf("activate the scrubbed %s version: %d", v.Model, code)
		}
	}
}
