package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/analytics"
	"github.com/tailorhq/tailor/internal/demo"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/pricing"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/train"
)

// call sends a JSON request and decodes the JSON answer into out.
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

type apiErr struct {
	Error struct{ Code, Message string } `json:"error"`
}

func ids(r recommend.Response) []string {
	var out []string
	for _, it := range r.Items {
		out = append(out, string(it.ItemID))
	}
	return out
}

// importSample imports the demo's sample shop into a new data dir.
func importSample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	importSampleInto(t, dir, "--data-dir", dir)
	return dir
}

// importSampleInto writes the sample shop's file into dir and imports it
// into the store that storeArgs name (--data-dir DIR or --store URL).
func importSampleInto(t *testing.T, dir string, storeArgs ...string) {
	t.Helper()
	sample, err := demo.WriteSample(dir)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, append([]string{"import", sample, "--format", "online-retail"}, storeArgs...)...); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
}

// TestServingEndToEnd is the serving issue's scripted check: import the
// sample shop, train two versions, ask for recommendations, post a
// purchase and see the bought item gone and its neighbours rise, roll back
// to the older version under load without a failed request, and get clear
// errors for bad input.
func TestServingEndToEnd(t *testing.T) {
	dir := importSample(t)
	version := regexp.MustCompile(`Model version (\S+) \((\w+)\) saved and activated`)
	code, out, errOut := runMain(t, "train", "--data-dir", dir, "--model", "itemknn", "--skip-holdout")
	m := version.FindStringSubmatch(out)
	if code != 0 || m == nil || m[2] != "itemknn" {
		t.Fatalf("train itemknn: %d %s %s", code, out, errOut)
	}
	older := m[1]
	code, out, errOut = runMain(t, "train", "--data-dir", dir)
	m = version.FindStringSubmatch(out)
	if code != 0 || m == nil || m[2] != "ease" || !strings.Contains(out, "Holdout (temporal") {
		t.Fatalf("train (default): %d %s %s", code, out, errOut)
	}
	newer := m[1]

	base, _ := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")
	var models struct {
		Serving  recommend.Status     `json:"serving"`
		Versions []store.ModelVersion `json:"versions"`
	}
	if code := call(t, "GET", base+"/v1/models", "", &models); code != 200 || models.Serving.Version == nil ||
		models.Serving.Version.ID != newer || len(models.Versions) != 2 {
		t.Fatalf("models: %d %+v", code, models)
	}
	sameUnderLoad(t, base, users(t, base, 12))
	// A list's body is read into a reused buffer: one over the limit is
	// still refused as too large, and a bad one names its fault.
	var badBody map[string]any
	big := `{"items":["85123A"],"scenario":"` + strings.Repeat("x", 17<<20) + `"}`
	if code := call(t, "POST", base+"/v1/carts/recommendations", big, &badBody); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 17 MiB cart: %d %v", code, badBody)
	}
	if code := call(t, "POST", base+"/v1/carts/recommendations", `{"items":["85123A"],"n":"ten"}`, &badBody); code != http.StatusBadRequest ||
		!strings.Contains(fmt.Sprint(badBody), "n") {
		t.Errorf("a cart with n as a string: %d %v", code, badBody)
	}

	// A shopper with purchases gets personal recommendations with reasons.
	const user = "12350"
	var before recommend.Response
	if code := call(t, "GET", base+"/v1/users/"+user+"/recommendations?n=100", "", &before); code != 200 ||
		before.ModelVersion != newer || before.Fallback != "" || len(before.Items) != 100 || before.RecommendationID == "" {
		t.Fatalf("recommendations: %d %+v", code, before)
	}
	if !strings.HasPrefix(before.Items[0].Reason, "because you bought ") {
		t.Errorf("first reason %q", before.Items[0].Reason)
	}
	// Buy the top item: it goes, and the items most like it rise.
	bought := before.Items[0].ItemID
	var similar recommend.Response
	if code := call(t, "GET", base+"/v1/items/"+string(bought)+"/similar?n=10", "", &similar); code != 200 || len(similar.Items) == 0 {
		t.Fatalf("similar: %d %+v", code, similar)
	}
	rank := func(r recommend.Response, id string) int {
		if i := slices.Index(ids(r), id); i >= 0 {
			return i
		}
		return len(r.Items)
	}
	ev := fmt.Sprintf(`[{"user_id":%q,"item_id":%q,"type":"purchase","unit_price":1.25,"value":6}]`, user, bought)
	if code := call(t, "POST", base+"/v1/events", ev, nil); code != 200 {
		t.Fatalf("post purchase: %d", code)
	}
	var after recommend.Response
	if code := call(t, "GET", base+"/v1/users/"+user+"/recommendations?n=100", "", &after); code != 200 {
		t.Fatalf("recommendations after: %d", code)
	}
	if slices.Contains(ids(after), string(bought)) {
		t.Errorf("the bought item %s is still recommended", bought)
	}
	rose, fell := 0, 0
	for _, it := range similar.Items {
		b, a := rank(before, string(it.ItemID)), rank(after, string(it.ItemID))
		switch {
		case a < b:
			rose++
		case a > b:
			fell++
		}
	}
	t.Logf("bought %s; of the 10 most similar items %d rose, %d fell", bought, rose, fell)
	if rose <= fell {
		t.Errorf("of the 10 items most like the bought one, %d rose and %d fell", rose, fell)
	}

	// Roll back to the older version while requests run: none fails.
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(base + "/v1/users/" + user + "/recommendations?n=10")
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				done.Add(1)
			}
		}()
	}
	for _, id := range []string{older, newer, older} {
		if code := call(t, "POST", base+"/v1/models/"+id+"/activate", "", &models); code != 200 || models.Serving.Version.ID != id {
			t.Errorf("activate %s: %d %+v", id, code, models.Serving)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during three swaps, %d failed", done.Load(), failed.Load())
	if failed.Load() > 0 || done.Load() == 0 {
		t.Errorf("%d of %d requests failed during the swaps", failed.Load(), done.Load())
	}
	var rolled recommend.Response
	if code := call(t, "GET", base+"/v1/users/"+user+"/recommendations?n=5", "", &rolled); code != 200 || rolled.ModelVersion != older || rolled.Model != "itemknn" {
		t.Errorf("after rollback: %d %+v", code, rolled)
	}

	// A version that does not load is refused; the current one keeps serving.
	db, err := openStore(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := store.ModelVersion{ID: "01BADVERSION", Slot: "default", Model: "ease"}
	if err := db.SaveModel(context.Background(), bad, []byte("not a bundle")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var refused apiErr
	if code := call(t, "POST", base+"/v1/models/01BADVERSION/activate", "", &refused); code != 422 || refused.Error.Code != "model_refused" {
		t.Errorf("activating a broken version: %d %+v", code, refused)
	}
	if code := call(t, "GET", base+"/v1/models", "", &models); code != 200 || models.Serving.Version.ID != older || models.Serving.LoadFailures < 1 {
		t.Errorf("after the refusal: %d %+v", code, models.Serving)
	}

	// Scenarios: stored rules apply by name, with pins.
	pin := string(after.Items[5].ItemID)
	if code := call(t, "PUT", base+"/v1/scenarios/home", fmt.Sprintf(`{"pins":[{"item":%q,"position":1}],"max_per_category":2}`, pin), nil); code != 200 {
		t.Fatalf("put scenario: %d", code)
	}
	var scen recommend.Response
	if code := call(t, "GET", base+"/v1/users/"+user+"/recommendations?n=5&scenario=home", "", &scen); code != 200 ||
		len(scen.Items) != 5 || string(scen.Items[0].ItemID) != pin || scen.Items[0].Reason != "pinned" || scen.Scenario != "home" {
		t.Errorf("scenario home: %d %+v", code, scen)
	}
	// Sessions, rerank, trending and unknown shoppers.
	var sess recommend.Response
	if code := call(t, "POST", base+"/v1/sessions/recommendations", `{"items":["85123A","71053"],"n":5}`, &sess); code != 200 ||
		len(sess.Items) != 5 || slices.Contains(ids(sess), "85123A") || sess.Model != "vsknn" || sess.Items[0].Reason != "bought in sessions like this" ||
		!strings.HasSuffix(sess.RecommendationID, ".vsknn") {
		t.Errorf("session: %d %+v", code, sess)
	}
	cands := []string{string(after.Items[9].ItemID), string(after.Items[0].ItemID), string(after.Items[4].ItemID)}
	body, _ := json.Marshal(map[string]any{"items": cands})
	var rr recommend.Response
	if code := call(t, "POST", base+"/v1/users/"+user+"/rerank", string(body), &rr); code != 200 || len(rr.Items) != 3 {
		t.Errorf("rerank: %d %+v", code, rr)
	}
	// Search: a typo and an unfinished word, then personalized.
	var found recommend.Response
	if code := call(t, "GET", base+"/v1/search?q=white+hangin+heart+t-ligth&n=5", "", &found); code != 200 || len(found.Items) == 0 ||
		found.Items[0].ItemID != "85123A" || found.Fallback != "text" {
		t.Errorf("search: %d %+v", code, found)
	}
	var mine recommend.Response
	if code := call(t, "GET", base+"/v1/search?q=bag&n=10&user="+user, "", &mine); code != 200 || len(mine.Items) == 0 || mine.ModelVersion == "" {
		t.Errorf("personal search: %d %+v", code, mine)
	}
	for _, q := range []string{"", strings.Repeat("x", 300)} {
		var e apiErr
		if code := call(t, "GET", base+"/v1/search?q="+q, "", &e); code != 400 || !strings.Contains(e.Error.Message, "q:") {
			t.Errorf("search %q: %d %q", q, code, e.Error.Message)
		}
	}
	if code := call(t, "GET", base+"/v1/search?q=the+of", "", &found); code != 200 || len(found.Items) != 0 {
		t.Errorf("stop words only: %d %+v", code, found)
	}

	// A new item, with no interactions, has neighbours by content once the
	// background builder has seen the catalog change (within 5 s); until
	// then, trending items of its kind.
	if code := call(t, "POST", base+"/v1/items", `[{"id":"NEW1","title":"Jumbo bag green retrospot","price":1.95}]`, nil); code != 200 {
		t.Fatalf("post new item: %d", code)
	}
	var fresh recommend.Response
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code := call(t, "GET", base+"/v1/items/NEW1/similar?n=5", "", &fresh); code != 200 {
			t.Fatalf("similar to a new item: %d", code)
		}
		if fresh.Fallback == "content" || time.Now().After(deadline) {
			break
		}
	}
	if fresh.Fallback != "content" || len(fresh.Items) != 5 || !strings.HasPrefix(fresh.Items[0].Reason, "similar in description") {
		t.Errorf("similar to a new item: %+v", fresh)
	}
	// And it reaches the lists of shoppers who buy jumbo bags.
	if code := call(t, "POST", base+"/v1/events", `[{"user_id":"bagfan","item_id":"85099B","type":"purchase"},{"user_id":"bagfan","item_id":"22386","type":"purchase"},{"user_id":"bagfan","item_id":"21931","type":"purchase"}]`, nil); code != 200 {
		t.Fatalf("post bag purchases: %d", code)
	}
	var bagfan recommend.Response
	if code := call(t, "GET", base+"/v1/users/bagfan/recommendations?n=10", "", &bagfan); code != 200 ||
		!slices.ContainsFunc(bagfan.Items, func(it recommend.Item) bool { return it.ItemID == "NEW1" && it.Reason == "new, and like items you had" }) {
		t.Errorf("the new bag is not among the bag buyer's recommendations: %d %+v", code, bagfan.Items)
	}

	var cold recommend.Response
	if code := call(t, "GET", base+"/v1/users/never-seen/recommendations?n=3", "", &cold); code != 200 || cold.Fallback != "trending" || len(cold.Items) != 3 {
		t.Errorf("unknown shopper: %d %+v", code, cold)
	}
	// An A/B test splits shoppers stably between two versions, and events
	// that carry a recommendation id are attributed to scenario and version.
	if code := call(t, "PUT", base+"/v1/scenarios/ab", fmt.Sprintf(`{"ab_test":{"a":%q,"b":%q,"share_b":0.5}}`, older, newer), nil); code != 200 {
		t.Fatalf("put A/B scenario: %d", code)
	}
	var shoppers struct {
		Data []struct{ ID string } `json:"data"`
	}
	if code := call(t, "GET", base+"/v1/users?limit=60", "", &shoppers); code != 200 || len(shoppers.Data) != 60 {
		t.Fatalf("users: %d", code)
	}
	arms := map[string]int{}
	clicks, purchases, revenue := map[string]int{}, map[string]int{}, map[string]float64{}
	var events []map[string]any
	for i, u := range shoppers.Data {
		var r1, r2 recommend.Response
		call(t, "GET", base+"/v1/users/"+u.ID+"/recommendations?n=3&scenario=ab", "", &r1)
		call(t, "GET", base+"/v1/users/"+u.ID+"/recommendations?n=3&scenario=ab", "", &r2)
		if r1.ModelVersion != r2.ModelVersion && r1.Fallback == "" && r2.Fallback == "" {
			t.Errorf("shopper %s got versions %s and %s", u.ID, r1.ModelVersion, r2.ModelVersion)
		}
		if r1.Fallback != "" || len(r1.Items) == 0 {
			continue
		}
		arms[r1.ModelVersion]++
		events = append(events, map[string]any{"user_id": u.ID, "item_id": r1.Items[0].ItemID, "type": "click", "recommendation_id": r1.RecommendationID})
		clicks[r1.ModelVersion]++
		if i%3 == 0 {
			events = append(events, map[string]any{"user_id": u.ID, "item_id": r1.Items[0].ItemID, "type": "purchase",
				"recommendation_id": r1.RecommendationID, "value": 2, "unit_price": 1.5})
			purchases[r1.ModelVersion]++
			revenue[r1.ModelVersion] += 3
		}
	}
	if arms[older] == 0 || arms[newer] == 0 || len(arms) != 2 {
		t.Fatalf("A/B arms: %v", arms)
	}
	evBody, _ := json.Marshal(events)
	if code := call(t, "POST", base+"/v1/events", string(evBody), nil); code != 200 {
		t.Fatalf("post attributed events: %d", code)
	}
	var online recommend.OnlineReport
	if code := call(t, "GET", base+"/v1/metrics/online?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", "", &online); code != 200 {
		t.Fatalf("online metrics: %d", code)
	}
	for _, v := range []string{older, newer} {
		i := slices.IndexFunc(online.Groups, func(g recommend.OnlineGroup) bool { return g.Scenario == "ab" && g.ModelVersion == v })
		if i < 0 {
			t.Fatalf("no online group for ab/%s: %+v", v, online.Groups)
		}
		g := online.Groups[i]
		if g.Impressions != int64(2*arms[v]) || g.Clicks != int64(clicks[v]) || g.Purchases != int64(purchases[v]) ||
			g.Revenue != revenue[v] || g.CTR != float64(clicks[v])/float64(2*arms[v]) {
			t.Errorf("ab/%s: %+v, want %d impressions, %d clicks, %d purchases, revenue %v", v, g, 2*arms[v], clicks[v], purchases[v], revenue[v])
		}
	}
	if len(online.ABTests) != 1 || online.ABTests[0].A != older || !(online.ABTests[0].ConversionPValue > 0 && online.ABTests[0].ConversionPValue <= 1) {
		t.Errorf("A/B results: %+v", online.ABTests)
	}

	for _, tc := range []struct {
		method, path, body string
		status             int
		mention            string
	}{
		{"PUT", "/v1/scenarios/ab2", `{"ab_test":{"a":"` + older + `","b":"nope","share_b":0.5}}`, 400, "ab_test.b"},
		{"PUT", "/v1/scenarios/ab2", `{"ab_test":{"a":"` + older + `","b":"` + newer + `","share_b":1.5}}`, 400, "ab_test.share_b"},
		{"GET", "/v1/metrics/online?from=yesterday", "", 400, "from"},
		{"GET", "/v1/metrics/online?from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z", "", 400, "to"},
		{"GET", "/v1/users/" + user + "/recommendations?n=0", "", 400, "n:"},
		{"GET", "/v1/users/" + user + "/recommendations?n=ten", "", 400, "n:"},
		{"GET", "/v1/users/" + user + "/recommendations?offset=-1", "", 400, "offset"},
		{"GET", "/v1/users/" + user + "/recommendations?scenario=nope", "", 400, "scenario"},
		{"GET", "/v1/users/" + user + "/recommendations?min_price=abc", "", 400, "min_price"},
		{"GET", "/v1/users/" + user + "/recommendations?min_price=5&max_price=1", "", 400, "min_price"},
		{"GET", "/v1/items/no-such-item/similar", "", 404, "no-such-item"},
		{"POST", "/v1/sessions/recommendations", `{"items":["no-such-item"]}`, 404, "no-such-item"},
		{"POST", "/v1/sessions/recommendations", `{"items":[]}`, 400, "items"},
		{"POST", "/v1/users/" + user + "/rerank", `{"items":["85123A","ghost"]}`, 404, "ghost"},
		{"PUT", "/v1/scenarios/bad", `{"pins":[{"item":"ghost","position":0}]}`, 400, "pins[0].position"},
		{"PUT", "/v1/scenarios/bad", `{"boosts":[{"factor":2}]}`, 400, "boosts[0]"},
		{"PUT", "/v1/scenarios/bad", `{"max_per_categroy":2}`, 400, "max_per_categroy"},
		{"POST", "/v1/users/" + user + "/rerank", `{"items":["85123A"],"rules":{"pins":[{"item":"ghost","position":1}]}}`, 400, "pins[0].item"},
		{"POST", "/v1/models/no-such-version/activate", "", 404, "no-such-version"},
	} {
		var e apiErr
		if code := call(t, tc.method, base+tc.path, tc.body, &e); code != tc.status || !strings.Contains(e.Error.Message, tc.mention) {
			t.Errorf("%s %s: %d %q, want %d naming %q", tc.method, tc.path, code, e.Error.Message, tc.status, tc.mention)
		}
	}
}

// TestScheduledRetraining runs serve with a short retraining interval and
// waits for a new version to be trained, activated and served.
func TestScheduledRetraining(t *testing.T) {
	dir := importSample(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := openStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	so := serveOptions{retrainEvery: 300 * time.Millisecond,
		train: train.Options{Model: "itemknn", SkipHoldout: true, Weights: cfgWeights(cfg), Lookup: all.Lookup, Activate: true}}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, db, cfg, "127.0.0.1:0", io.Discard, io.Discard, so, func(a net.Addr) { ready <- "http://" + a.String() })
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var models struct {
			Serving  recommend.Status     `json:"serving"`
			Versions []store.ModelVersion `json:"versions"`
		}
		call(t, "GET", base+"/v1/models", "", &models)
		if len(models.Versions) >= 2 && models.Serving.Version != nil && models.Serving.Version.ID == models.Versions[0].ID {
			break // a second retraining happened and is served
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retrained version served after 60 s: %+v", models)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestAnalyticsEndpoints imports the sample shop and asks the analytics
// endpoints, good and bad.
func TestAnalyticsEndpoints(t *testing.T) {
	dir := importSample(t)
	base, _ := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")
	var rfm struct {
		Segments map[string]int  `json:"segments"`
		Shoppers []analytics.RFM `json:"shoppers"`
	}
	if code := call(t, "GET", base+"/v1/analytics/rfm", "", &rfm); code != 200 || len(rfm.Shoppers) < 500 || rfm.Segments["champions"] == 0 {
		t.Errorf("rfm: %d, %d shoppers, %v", code, len(rfm.Shoppers), rfm.Segments)
	}
	var cohorts []analytics.Cohort
	if code := call(t, "GET", base+"/v1/analytics/cohorts", "", &cohorts); code != 200 || len(cohorts) != 11 || cohorts[0].Retention[0] != 1 {
		t.Errorf("cohorts: %d %d", code, len(cohorts))
	}
	var funnel analytics.Funnel
	if code := call(t, "GET", base+"/v1/analytics/funnel?steps=purchase,return&window=2160h", "", &funnel); code != 200 || funnel.Steps[0].Reached == 0 {
		t.Errorf("funnel: %d %+v", code, funnel)
	}
	var clv analytics.CLVResult
	if code := call(t, "GET", base+"/v1/analytics/clv", "", &clv); code != 200 || clv.Repeaters == 0 || len(clv.Predictions) != clv.Customers {
		t.Errorf("clv: %d %d customers, %d repeaters", code, clv.Customers, clv.Repeaters)
	}
	var prop analytics.PropensityReport
	if code := call(t, "GET", base+"/v1/analytics/propensity", "", &prop); code != 200 || !(prop.Model.AUC > 0.5) {
		t.Errorf("propensity: %d %+v", code, prop.Model)
	}
	var profile struct {
		Segment       string         `json:"segment"`
		RFM           *analytics.RFM `json:"rfm"`
		LifetimeValue *float64       `json:"lifetime_value"`
		Propensity    *float64       `json:"propensity"`
		Churn         *float64       `json:"churn"`
	}
	if code := call(t, "GET", base+"/v1/users/12350/profile", "", &profile); code != 200 || profile.RFM == nil || profile.Segment == "none" ||
		profile.LifetimeValue == nil || profile.Propensity == nil || *profile.Churn != 1-*profile.Propensity {
		t.Errorf("profile: %d %+v", code, profile)
	}
	// The export holds the record, every event and the same profile.
	var export struct {
		User   struct{ ID string } `json:"user"`
		Events []struct {
			UserID string `json:"user_id"`
		} `json:"events"`
		Profile *struct{ Segment string } `json:"profile"`
	}
	var events struct {
		Data []struct{} `json:"data"`
	}
	call(t, "GET", base+"/v1/users/12350/events?limit=1000", "", &events)
	if code := call(t, "GET", base+"/v1/users/12350/export", "", &export); code != 200 || export.User.ID != "12350" ||
		len(export.Events) == 0 || len(export.Events) != len(events.Data) || export.Profile == nil || export.Profile.Segment != profile.Segment {
		t.Errorf("export: %d, %d events (of %d), profile %+v", code, len(export.Events), len(events.Data), export.Profile)
	}
	// Segments become shopper attributes, and a scenario routes by them.
	var segs struct {
		Shoppers int            `json:"shoppers"`
		Segments map[string]int `json:"segments"`
		Applied  bool           `json:"applied"`
	}
	if code := call(t, "POST", base+"/v1/analytics/segments", "", &segs); code != 200 || !segs.Applied || segs.Segments["at_risk"] == 0 {
		t.Fatalf("apply segments: %d %+v", code, segs)
	}
	var users struct {
		Data []struct {
			ID         string         `json:"id"`
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	call(t, "GET", base+"/v1/users?limit=1000", "", &users)
	bySeg := map[string]string{}
	for _, u := range users.Data {
		if s, ok := u.Attributes["segment"].(string); ok && bySeg[s] == "" {
			bySeg[s] = u.ID
		}
	}
	if bySeg["at_risk"] == "" || bySeg["champions"] == "" {
		t.Fatalf("no at-risk or champion shopper among %d: %v", len(users.Data), bySeg)
	}
	if code := call(t, "PUT", base+"/v1/scenarios/home_at_risk", `{"max_per_category":1}`, nil); code != 200 {
		t.Fatalf("put home_at_risk: %d", code)
	}
	if code := call(t, "PUT", base+"/v1/scenarios/home", `{"route":{"attribute":"segment","scenarios":{"at_risk":"home_at_risk"}}}`, nil); code != 200 {
		t.Fatalf("put home: %d", code)
	}
	for seg, want := range map[string]string{"at_risk": "home_at_risk", "champions": "home"} {
		var r recommend.Response
		if code := call(t, "GET", base+"/v1/users/"+bySeg[seg]+"/recommendations?n=3&scenario=home", "", &r); code != 200 || r.Scenario != want {
			t.Errorf("%s shopper: %d scenario %q, want %q", seg, code, r.Scenario, want)
		}
		// A click on it is attributed to the scenario and the segment.
		click := fmt.Sprintf(`[{"user_id":%q,"item_id":%q,"type":"click","recommendation_id":%q}]`, bySeg[seg], r.Items[0].ItemID, r.RecommendationID)
		if code := call(t, "POST", base+"/v1/events", click, nil); code != 200 {
			t.Fatalf("post click: %d", code)
		}
		var online recommend.OnlineReport
		call(t, "GET", base+"/v1/metrics/online?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", "", &online)
		i := slices.IndexFunc(online.BySegment, func(g recommend.OnlineGroup) bool { return g.Scenario == want && g.Segment == seg })
		if i < 0 || online.BySegment[i].Clicks != 1 || online.BySegment[i].Impressions != 1 {
			t.Errorf("%s/%s in the breakdown: %+v", want, seg, online.BySegment)
		}
	}
	for _, tc := range []struct {
		path    string
		status  int
		mention string
	}{
		{"/v1/analytics/rfm?at=yesterday", 400, "at:"},
		{"/v1/analytics/rfm?at=1990-01-01", 400, "reference date"},
		{"/v1/analytics/cohorts?period=year", 400, "period"},
		{"/v1/analytics/funnel?steps=purchase", 400, "at least two"},
		{"/v1/analytics/funnel?steps=purchase,teleport", 400, "teleport"},
		{"/v1/analytics/funnel?window=soon", 400, "window"},
		{"/v1/users/nobody/profile", 404, "nobody"},
	} {
		var e apiErr
		if code := call(t, "GET", base+tc.path, "", &e); code != tc.status || !strings.Contains(e.Error.Message, tc.mention) {
			t.Errorf("%s: %d %q, want %d naming %q", tc.path, code, e.Error.Message, tc.status, tc.mention)
		}
	}
	// Bought together: one item, a cart, and bad carts.
	// Bought together is a list like the others: a recommendation id, the
	// rules (in stock, a scenario's filters), reasons by title.
	var bt recommend.Response
	if code := call(t, "GET", base+"/v1/items/85123A/bought-together?n=5", "", &bt); code != 200 || len(bt.Items) == 0 ||
		!strings.HasPrefix(bt.Items[0].Reason, "often bought with WHITE HANGING HEART") || bt.RecommendationID == "" || bt.Model != "fbt" {
		t.Errorf("bought together: %d %+v", code, bt)
	}
	if code := call(t, "PUT", base+"/v1/scenarios/pdp", fmt.Sprintf(`{"exclude_items":[%q]}`, bt.Items[0].ItemID), nil); code != 200 {
		t.Fatalf("put scenario pdp: %d", code)
	}
	var btScen recommend.Response
	if code := call(t, "GET", base+"/v1/items/85123A/bought-together?n=5&in_stock=true&scenario=pdp", "", &btScen); code != 200 || len(btScen.Items) == 0 ||
		slices.ContainsFunc(btScen.Items, func(it recommend.Item) bool { return it.ItemID == bt.Items[0].ItemID }) || btScen.Scenario != "pdp" {
		t.Errorf("bought together under a scenario: %d %+v", code, btScen)
	}
	if v, sc, _, ok := recommend.ParseRecommendationID(btScen.RecommendationID); !ok || v != "fbt" || sc != "pdp" {
		t.Errorf("bought-together recommendation id %q", btScen.RecommendationID)
	}
	var cart recommend.Response
	if code := call(t, "POST", base+"/v1/carts/recommendations", `{"items":["85123A","71053"],"n":5}`, &cart); code != 200 || len(cart.Items) == 0 ||
		slices.ContainsFunc(cart.Items, func(it recommend.Item) bool { return it.ItemID == "85123A" || it.ItemID == "71053" }) || cart.RecommendationID == "" {
		t.Errorf("cart: %d %+v", code, cart)
	}
	for _, tc := range []struct {
		body, mention string
		status        int
	}{
		{`{"items":["85123A","ghost"]}`, "ghost", 404},
		{`{"items":[]}`, "items", 400},
		{`{"items":["85123A"],"n":1000}`, "n:", 400},
	} {
		var e apiErr
		if code := call(t, "POST", base+"/v1/carts/recommendations", tc.body, &e); code != tc.status || !strings.Contains(e.Error.Message, tc.mention) {
			t.Errorf("cart %s: %d %q", tc.body, code, e.Error.Message)
		}
	}

	var again recommend.Response
	if code := call(t, "GET", base+"/v1/users/12350/buy-again?n=3", "", &again); code != 200 || len(again.Items) != 3 || again.Items[0].Due == nil ||
		again.Items[0].Due.Times == 0 || again.RecommendationID == "" || again.Model != "rebuy" {
		t.Errorf("buy again: %d %+v", code, again)
	}
	if code := call(t, "GET", base+"/v1/users/never-seen/buy-again", "", &again); code != 200 || len(again.Items) != 0 {
		t.Errorf("buy again for a new shopper: %d %+v", code, again)
	}

	// Pricing: elasticities, one item, a set of items, and bad constraints.
	var els []pricing.Elasticity
	if code := call(t, "GET", base+"/v1/pricing/elasticities?n=5", "", &els); code != 200 || len(els) != 5 || els[0].Weeks == 0 {
		t.Errorf("elasticities: %d %+v", code, els)
	}
	var rec pricing.Recommendation
	if code := call(t, "GET", base+"/v1/items/85123A/pricing?cost=1&endings=0.49,0.95,0.99", "", &rec); code != 200 ||
		rec.CurrentPrice <= 0 || (rec.Action != "keep" && rec.Action != "change") || rec.Objective != "profit" {
		t.Errorf("item pricing: %d %+v", code, rec)
	}
	var recs []pricing.Recommendation
	if code := call(t, "POST", base+"/v1/pricing/recommendations", `{"constraints":{"max_change":0.05},"items":[{"item_id":"85123A","cost":1.2},{"item_id":"22423"}]}`, &recs); code != 200 ||
		len(recs) != 2 || recs[0].Objective != "profit" || recs[1].Objective != "revenue" {
		t.Errorf("pricing recommendations: %d %+v", code, recs)
	}
	for _, tc := range []struct {
		method, path, body, mention string
		status                      int
	}{
		{"GET", "/v1/items/85123A/pricing?cost=-1", "", "cost", 400},
		{"GET", "/v1/items/85123A/pricing?cost=2&min_margin=0.6", "", "min_margin", 400},
		{"GET", "/v1/items/85123A/pricing?max_change=2", "", "max_change", 400},
		{"GET", "/v1/items/no-such/pricing", "", "no-such", 404},
		{"GET", "/v1/pricing/elasticities?n=0", "", "n:", 400},
		{"POST", "/v1/pricing/recommendations", `{"items":[{"item_id":"85123A","cost":-3}]}`, "items[0].cost", 400},
		{"POST", "/v1/pricing/recommendations", `{"items":[]}`, "items", 400},
	} {
		var e apiErr
		if code := call(t, tc.method, base+tc.path, tc.body, &e); code != tc.status || !strings.Contains(e.Error.Message, tc.mention) {
			t.Errorf("%s %s: %d %q, want %d naming %q", tc.method, tc.path, code, e.Error.Message, tc.status, tc.mention)
		}
	}
	var e apiErr
	if code := call(t, "PUT", base+"/v1/scenarios/other", `{"route":{"attribute":"segment","scenarios":{"lost":"nowhere"}}}`, &e); code != 400 ||
		!strings.Contains(e.Error.Message, "route.scenarios.lost") {
		t.Errorf("route to a missing scenario: %d %q", code, e.Error.Message)
	}
}
