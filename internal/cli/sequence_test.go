package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/recommend"
)

// TestSequenceModelsServe trains each sequence model on the sample shop
// and serves it: a shopper's recommendations come from their live
// sequence (a new purchase changes them), an anonymous session is
// answered by the model itself in the session's order (not by the shop's
// session model), under the same rules and attribution as every list; a
// shopper with no events gets the said fallback.
func TestSequenceModelsServe(t *testing.T) {
	dir := importSample(t)
	version := regexp.MustCompile(`Model version (\S+) \((\w+)\) saved and activated`)
	for _, name := range []string{"sasrec", "gru4rec"} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runMain(t, "train", "--data-dir", dir, "--model", name, "--skip-holdout",
				"--params", `{"dims":16,"epochs":1,"max_len":20}`)
			m := version.FindStringSubmatch(out)
			if code != 0 || m == nil || m[2] != name {
				t.Fatalf("train %s: %d %s %s", name, code, out, errOut)
			}
			v := m[1]
			base, _ := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")

			const user = "12350"
			var before recommend.Response
			if code := call(t, "GET", base+"/v1/users/"+user+"/recommendations?n=10", "", &before); code != 200 ||
				before.Model != name || before.ModelVersion != v || before.Fallback != "" || len(before.Items) != 10 || before.RecommendationID == "" {
				t.Fatalf("recommendations: %d %+v", code, before)
			}
			// A purchase of the first item: gone from the list, which
			// now follows the longer sequence.
			bought := string(before.Items[0].ItemID)
			body := fmt.Sprintf(`[{"user_id":%q,"item_id":%q,"type":"purchase"}]`, user, bought)
			if code := call(t, "POST", base+"/v1/events", body, nil); code != 200 {
				t.Fatalf("post event: %d", code)
			}
			var after recommend.Response
			if code := call(t, "GET", base+"/v1/users/"+user+"/recommendations?n=10", "", &after); code != 200 ||
				slices.Contains(ids(after), bought) || after.Model != name || slices.Equal(ids(after), ids(before)[1:]) {
				t.Errorf("after buying %s: %d %v (before %v)", bought, code, ids(after), ids(before))
			}

			// Sessions: answered by the model, in the session's order.
			session := func(items ...string) recommend.Response {
				t.Helper()
				b, _ := json.Marshal(map[string]any{"items": items, "n": 10})
				var r recommend.Response
				if code := call(t, "POST", base+"/v1/sessions/recommendations", string(b), &r); code != 200 || r.Model != name ||
					r.Fallback != "" || len(r.Items) != 10 || r.RecommendationID == "" {
					t.Fatalf("session %v: %d %+v", items, code, r)
				}
				for _, it := range items {
					if slices.Contains(ids(r), it) {
						t.Errorf("session %v: recommends its own item %s", items, it)
					}
				}
				return r
			}
			ab, ba := session("85123A", "71053", "84406B"), session("84406B", "71053", "85123A")
			// An item newer than the version is left out and counted.
			newItem := "new-" + name
			if code := call(t, "POST", base+"/v1/items", `[{"id":"`+newItem+`","title":"A new mug","price":2.5}]`, nil); code != 200 {
				t.Fatalf("post item: %d", code)
			}
			unknown := metric(t, base, "tailor_history_items_unknown_total")
			session("85123A", newItem)
			if got := metric(t, base, "tailor_history_items_unknown_total"); got != unknown+1 {
				t.Errorf("unknown items counted %v, then %v", unknown, got)
			}
			if slices.Equal(ids(ab), ids(ba)) {
				t.Errorf("the session's order makes no difference: %v", ids(ab))
			}
			// Rules apply: a price bound.
			var cheap recommend.Response
			if code := call(t, "GET", base+"/v1/users/"+user+"/recommendations?n=5&max_price=1&details=true", "", &cheap); code != 200 || len(cheap.Items) == 0 {
				t.Errorf("max_price: %d %+v", code, cheap)
			}
			for _, it := range cheap.Items {
				if it.Details == nil || it.Details.Price == nil || *it.Details.Price > 1 {
					t.Errorf("max_price=1 gave %s: %+v", it.ItemID, it.Details)
				}
			}
			// No events: the fallback, said.
			var cold recommend.Response
			if code := call(t, "GET", base+"/v1/users/nobody-"+name+"/recommendations?n=5", "", &cold); code != 200 || cold.Fallback == "" ||
				!strings.Contains(cold.Fallback, "trending") {
				t.Errorf("cold shopper: %d %+v", code, cold)
			}
		})
	}
}

// TestEvalReportsEpochs: the evaluation table says how many epochs a
// model trained in epochs ran, and the time of one.
func TestEvalReportsEpochs(t *testing.T) {
	rep := eval.Report{Dataset: "d", Protocol: "loo", Folds: 1, Results: []eval.Result{
		{Model: "ease", Metrics: map[string]float64{}, TrainSeconds: 1},
		{Model: "sasrec", Metrics: map[string]float64{}, TrainSeconds: 30, Epochs: 12},
	}}
	var b strings.Builder
	printEval(&b, rep, []int{10})
	if !strings.Contains(b.String(), "sasrec: 12 epochs on the first fold (the last ones without a better validation score), 2.5 s an epoch") ||
		strings.Contains(b.String(), "ease: ") {
		t.Errorf("table:\n%s", b.String())
	}
}
