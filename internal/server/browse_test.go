package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/server"
	"github.com/tailorhq/tailor/internal/store"
)

func TestCategoriesAndCategoryItems(t *testing.T) {
	f := newFixture(t, server.Options{})
	var body server.CategoriesBody
	if code := f.do("GET", "/v1/categories", "", &body); code != 200 || body.Categories == nil || len(body.Categories) != 0 {
		t.Fatalf("categories of an empty store: %d %+v", code, body)
	}
	items := `[{"id":"a","categories":["Tea/Teapots"]},{"id":"b","categories":["Tea/Cups","Gifts"]},
		{"id":"c","categories":["Tea"],"hidden":true},{"id":"d","categories":["Teaware"]}]`
	if code := f.do("POST", "/v1/items", items, nil); code != 200 {
		t.Fatal(code)
	}
	f.do("GET", "/v1/categories", "", &body)
	want := []store.CategoryCount{{Category: "Gifts", Items: 1}, {Category: "Tea", Items: 2}, {Category: "Tea/Cups", Items: 1},
		{Category: "Tea/Teapots", Items: 1}, {Category: "Teaware", Items: 1}}
	if fmt.Sprint(body.Categories) != fmt.Sprint(want) {
		t.Errorf("categories = %v, want %v", body.Categories, want)
	}
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"?category=Tea", "a b"},
		{"?category=Tea&limit=1", "a"},
		{"?category=Tea%2FCups", "b"},
		{"?category=Nope", ""},
		{"", "a b c d"},
	} {
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if code := f.do("GET", "/v1/items"+tc.query, "", &page); code != 200 {
			t.Fatalf("%s: %d", tc.query, code)
		}
		var ids []string
		for _, it := range page.Data {
			ids = append(ids, it.ID)
		}
		if got := strings.Join(ids, " "); got != tc.want {
			t.Errorf("items%s = %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestStats(t *testing.T) {
	f := newFixture(t, server.Options{})
	var st server.Stats
	if code := f.do("GET", "/v1/stats", "", &st); code != 200 || st.Events != 0 || st.EventsPerDay == nil {
		t.Fatalf("stats of an empty store: %d %+v", code, st)
	}
	events := `[{"user_id":"u1","item_id":"i1","type":"view","timestamp":"2026-11-01T10:00:00Z"},
		{"user_id":"u1","item_id":"i1","type":"view","timestamp":"2026-11-27T10:00:00Z"},
		{"user_id":"u1","item_id":"i1","type":"purchase","value":1,"timestamp":"2026-11-27T11:00:00Z"},
		{"user_id":"u2","item_id":"i2","type":"view","timestamp":"2026-11-28T09:00:00Z"}]`
	if code := f.do("POST", "/v1/events", events, nil); code != 200 {
		t.Fatal(code)
	}
	if code := f.do("GET", "/v1/stats?days=2", "", &st); code != 200 {
		t.Fatal(code)
	}
	if st.Items != 2 || st.Users != 2 || st.Events != 4 || st.From != "2026-11-27" || st.To != "2026-11-28" ||
		len(st.EventsPerDay) != 3 || st.EventsByType["view"] != 2 || st.EventsByType["purchase"] != 1 {
		t.Errorf("stats over 2 days = %+v", st)
	}
	f.do("GET", "/v1/stats", "", &st)
	if st.From != "2026-11-01" || st.EventsByType["view"] != 3 {
		t.Errorf("stats over 400 days = %+v", st)
	}
	for _, q := range []string{"days=0", "days=3661", "days=x", "dayz=3"} {
		var e errResp
		if code := f.do("GET", "/v1/stats?"+q, "", &e); code != 400 || e.Error.Message == "" {
			t.Errorf("stats?%s: %d %+v", q, code, e)
		}
	}
}

func TestReports(t *testing.T) {
	f := newFixture(t, server.Options{})
	var e errResp
	if code := f.do("GET", "/v1/reports/import", "", &e); code != 404 {
		t.Errorf("missing report: %d %+v", code, e)
	}
	if code := f.do("GET", "/v1/reports/secrets", "", &e); code != 400 || !strings.Contains(e.Error.Message, "kind") {
		t.Errorf("bad kind: %d %+v", code, e)
	}
	if err := f.db.PutReport(context.Background(), store.Report{Kind: "import", Body: json.RawMessage(`{"events":3}`)}); err != nil {
		t.Fatal(err)
	}
	var rep store.Report
	if code := f.do("GET", "/v1/reports/import", "", &rep); code != 200 || rep.Kind != "import" || string(rep.Body) != `{"events":3}` {
		t.Errorf("import report: %d %+v", code, rep)
	}
}

func TestStorefrontEvents(t *testing.T) {
	f := newFixture(t, server.Options{})
	good := `[{"user_id":"u1","item_id":"i1","type":"view","recommendation_id":"r1"},
		{"session_id":"s1","item_id":"i2","type":"add_to_cart"},
		{"user_id":"u1","item_id":"i2","type":"purchase","value":1,"unit_price":2.5,"order_id":"o1"}]`
	var res server.EventsResult
	if code := f.do("POST", "/v1/storefront/events", good, &res, "Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"); code != 200 || res.Inserted != 3 {
		t.Fatalf("good batch: %d %+v", code, res)
	}
	var page store.Page[struct {
		RecommendationID string `json:"recommendation_id"`
		Timestamp        string `json:"timestamp"`
	}]
	f.do("GET", "/v1/users/u1/events?type=view", "", &page)
	if len(page.Data) != 1 || page.Data[0].RecommendationID != "r1" || page.Data[0].Timestamp != "2026-11-28T12:00:00Z" {
		t.Errorf("stored view = %+v", page.Data)
	}
	tests := []struct {
		name, body string
		header     []string
		status     int
		want       string
	}{
		{"return", `[{"user_id":"u1","item_id":"i1","type":"view"},{"user_id":"u1","item_id":"i1","type":"return"}]`, nil, 400, "type"},
		{"custom type", `[{"user_id":"u1","item_id":"i1","type":"wishlist"}]`, nil, 400, "type"},
		{"timestamp", `[{"user_id":"u1","item_id":"i1","type":"view","timestamp":"2020-01-01T00:00:00Z"}]`, nil, 400, "timestamp"},
		{"no shopper", `[{"item_id":"i1","type":"view"}]`, nil, 400, "user_id"},
		{"cross-site", `[{"user_id":"u1","item_id":"i1","type":"view"}]`, []string{"Sec-Fetch-Site", "cross-site"}, 403, "Sec-Fetch-Site"},
		{"other origin", `[{"user_id":"u1","item_id":"i1","type":"view"}]`, []string{"Origin", "https://evil.test"}, 403, "Origin"},
		{"too many", "[" + strings.Repeat(`{"user_id":"u1","item_id":"i1","type":"view"},`, 100) + `{"user_id":"u1","item_id":"i1","type":"view"}]`, nil, 400, "at most 100"},
	}
	before := f.counts()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e errResp
			if code := f.do("POST", "/v1/storefront/events", tt.body, &e, tt.header...); code != tt.status {
				t.Errorf("status %d, want %d (%+v)", code, tt.status, e)
			}
			if got, _ := json.Marshal(e.Error); !strings.Contains(string(got), tt.want) {
				t.Errorf("error %s does not name %q", got, tt.want)
			}
		})
	}
	if c := f.counts(); c != before {
		t.Errorf("refused batches wrote: %+v, want %+v", c, before)
	}
}

func TestAuthRoute(t *testing.T) {
	var body server.AuthBody
	if code := newFixture(t, server.Options{}).do("GET", "/v1/auth", "", &body); code != 200 || !body.Open || body.Role != "admin" {
		t.Errorf("open server: %d %+v", code, body)
	}
	f := newFixture(t, server.Options{Keys: []server.Key{
		{Name: "shop", Role: server.RoleRead, SHA256: config.HashKey("k-read")},
		{Name: "ops", Role: server.RoleAdmin, SHA256: config.HashKey("k-admin")},
	}})
	for key, want := range map[string]string{"k-read": "shop read", "k-admin": "ops admin"} {
		body = server.AuthBody{}
		if code := f.do("GET", "/v1/auth", "", &body, "Authorization", "Bearer "+key); code != 200 || body.Open || body.Name+" "+body.Role != want {
			t.Errorf("key %s: %d %+v, want %s", key, code, body, want)
		}
	}
	var e errResp
	if code := f.do("GET", "/v1/auth", "", &e, "Authorization", "Bearer nope"); code != 401 {
		t.Errorf("a bad key: %d %+v", code, e)
	}
}

func TestExportUser(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, server.Options{})
	// 1,500 events (more than one page of the store) for u1, a few for u2.
	var b strings.Builder
	b.WriteString("[")
	for i := range 1500 {
		fmt.Fprintf(&b, `{"id":"e%d","user_id":"u1","item_id":"i%d","type":"view","timestamp":"2026-10-%02dT10:00:00Z"},`, i, i%7, 1+i%28)
	}
	b.WriteString(`{"id":"x1","user_id":"u2","item_id":"i1","type":"view","timestamp":"2026-10-01T10:00:00Z"}]`)
	if code := f.do("POST", "/v1/events", b.String(), nil); code != 200 {
		t.Fatal(code)
	}
	if code := f.do("POST", "/v1/users", `[{"id":"u1","attributes":{"email":"u1@example.org"}}]`, nil); code != 200 {
		t.Fatal(code)
	}
	for _, v := range []store.ModelVersion{
		{ID: "before", Slot: "default", Model: "ease", DataUntil: time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)},
		{ID: "after", Slot: "default", Model: "ease", DataUntil: time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC)},
	} {
		if err := f.db.SaveModel(ctx, v, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var out server.UserExport
	if code := f.do("GET", "/v1/users/u1/export", "", &out); code != 200 {
		t.Fatalf("export: %d", code)
	}
	if out.User.ID != "u1" || out.User.Attributes["email"] != "u1@example.org" || len(out.Events) != 1500 ||
		fmt.Sprint(out.ModelVersions) != "[after]" || out.ExportedAt.IsZero() {
		t.Errorf("export: user %+v, %d events, versions %v", out.User, len(out.Events), out.ModelVersions)
	}
	seen := map[string]bool{}
	for _, e := range out.Events {
		if e.UserID != "u1" || seen[e.ID] {
			t.Fatalf("event %+v is another shopper's or listed twice", e)
		}
		seen[e.ID] = true
	}
	var e errResp
	if code := f.do("GET", "/v1/users/nobody/export", "", &e); code != 404 {
		t.Errorf("unknown shopper: %d %+v", code, e)
	}
	// After the deletion nothing is left to export.
	if code := f.do("DELETE", "/v1/users/u1", "", nil); code != 200 {
		t.Fatal(code)
	}
	if code := f.do("GET", "/v1/users/u1/export", "", &e); code != 404 {
		t.Errorf("export after deletion: %d", code)
	}
}

func TestDeleteModelVersion(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, server.Options{})
	until := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"v1", "v2", "v3", "v4"} {
		if err := f.db.SaveModel(ctx, store.ModelVersion{ID: id, Slot: "default", Model: "ease", DataUntil: until}, []byte("artifact "+id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.ActivateModel(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if err := f.db.PutScenario(ctx, "home", json.RawMessage(`{"ab_test":{"a":"v2","b":"v3","share_b":0.5}}`)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id     string
		status int
		want   string
	}{
		{"v2", 409, "v2 is active"},
		{"v3", 409, "A/B test of scenario home"},
		{"nope", 404, "nope"},
		{"v1", 200, ""},
		{"v1", 404, "v1"},
	}
	for _, tt := range tests {
		var e errResp
		if code := f.do("DELETE", "/v1/models/"+tt.id, "", &e); code != tt.status || !strings.Contains(e.Error.Message, tt.want) {
			t.Errorf("DELETE %s: %d %q, want %d %q", tt.id, code, e.Error.Message, tt.status, tt.want)
		}
	}
	vs, err := f.db.ModelVersions(ctx, "")
	if err != nil || len(vs) != 3 {
		t.Fatalf("versions after the deletions: %+v, %v", vs, err)
	}
	// Once the A/B test is gone, its arm may go too.
	if err := f.db.DeleteScenario(ctx, "home"); err != nil {
		t.Fatal(err)
	}
	var del server.DeleteResult
	if code := f.do("DELETE", "/v1/models/v3", "", &del); code != 200 || del.Deleted != "v3" {
		t.Errorf("DELETE v3 after the scenario: %d %+v", code, del)
	}
}

func TestRateLimitPerKey(t *testing.T) {
	f := newFixture(t, server.Options{Keys: []server.Key{
		{Name: "shop", Role: server.RoleRead, SHA256: config.HashKey("k-limited"), RateLimit: 0.5, Burst: 3},
		{Name: "ops", Role: server.RoleAdmin, SHA256: config.HashKey("k-free")},
	}})
	get := func(key string) (int, string, errResp) {
		req := httptest.NewRequest("GET", "/v1/categories", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		var e errResp
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		return rec.Code, rec.Header().Get("Retry-After"), e
	}
	// The burst passes, the next is refused with when to come back.
	for i := range 3 {
		if code, _, e := get("k-limited"); code != 200 {
			t.Fatalf("request %d of the burst: %d %+v", i+1, code, e)
		}
	}
	code, after, e := get("k-limited")
	if code != 429 || e.Error.Code != "rate_limited" || !strings.Contains(e.Error.Message, `key "shop" may make 0.5 requests a second (bursts of 3)`) {
		t.Errorf("past the burst: %d %+v", code, e)
	}
	if after != "2" {
		t.Errorf("Retry-After %q, want 2 (a token every 2 s)", after)
	}
	// Another key is not limited by it, nor at all.
	for range 20 {
		if code, _, e := get("k-free"); code != 200 {
			t.Fatalf("the unlimited key: %d %+v", code, e)
		}
	}
	// A wrong key is refused as before, not counted against anyone.
	if code, _, _ := get("k-wrong"); code != 401 {
		t.Errorf("a wrong key: %d", code)
	}
}
