package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/server"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

type fixture struct {
	t   *testing.T
	db  *sqlite.DB
	srv *server.Server
}

func newFixture(t *testing.T, opts server.Options) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	}
	srv, err := server.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, db: db, srv: srv}
}

// do sends a request and decodes the JSON response into out (if not nil).
func (f *fixture) do(method, path, body string, out any, header ...string) int {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			f.t.Fatalf("%s %s: decode %q: %v", method, path, rec.Body.String(), err)
		}
	}
	return rec.Code
}

func (f *fixture) counts() store.Counts {
	f.t.Helper()
	c, err := f.db.Counts(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

type errResp struct {
	Error server.Error `json:"error"`
}

const goodEvents = `[
 {"id":"e1","user_id":"u1","item_id":"i1","type":"view","timestamp":"2026-11-28T10:00:00Z"},
 {"id":"e2","user_id":"u1","item_id":"i2","type":"purchase","value":2,"unit_price":3.5,"order_id":"o1","timestamp":"2026-11-28T10:05:00Z"},
 {"session_id":"s1","item_id":"i1","type":"view"}
]`

func TestPostEvents(t *testing.T) {
	f := newFixture(t, server.Options{})
	var res server.EventsResult
	if code := f.do("POST", "/v1/events", goodEvents, &res); code != 200 {
		t.Fatalf("status %d", code)
	}
	if res.Inserted != 3 || res.Duplicates != 0 || len(res.IDs) != 3 || res.IDs[0] != "e1" || len(res.IDs[2]) != 26 {
		t.Errorf("result = %+v", res)
	}
	// The same ids again are duplicates; the generated one is new.
	f.do("POST", "/v1/events", goodEvents, &res)
	if res.Inserted != 1 || res.Duplicates != 2 {
		t.Errorf("second post = %+v", res)
	}
	if c := f.counts(); c != (store.Counts{Items: 2, Users: 1, Events: 4}) {
		t.Errorf("counts = %+v", c)
	}
	// A missing timestamp is the time of receipt.
	var page store.Page[tailor.Event]
	f.do("GET", "/v1/sessions/s1/events", "", &page)
	if len(page.Data) != 2 || !page.Data[0].Timestamp.Equal(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("session events = %+v", page.Data)
	}
}

func TestBadBatchWritesNothing(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		code   string
		rows   []string // "index field" of each reported row
	}{
		{"one bad event among good ones", "/v1/events", `[
			{"id":"a","user_id":"u1","item_id":"i1","type":"view"},
			{"id":"b","user_id":"u1","item_id":"i1","type":"purchase","unit_price":-2},
			{"id":"c","user_id":"u1","item_id":"i1","type":"view"}]`, 400, "invalid_batch", []string{"1 unit_price"}},
		{"every problem of every row", "/v1/events", `[
			{"user_id":"u1","type":"view"},
			{"user_id":"u1","item_id":"i1","type":"view","timestamp":"last week"},
			{"user_id":"u1","item_id":"i1","type":"view","value":"high"},
			{"user_id":"u1","item_id":"i1","type":"view","colour":"red"},
			{"item_id":"i1","type":"purchase","value":-1}]`, 400, "invalid_batch",
			[]string{"0 item_id", "1 timestamp", "2 value", "3 colour", "4 user_id", "4 value"}},
		{"timestamp out of range", "/v1/events", `[{"user_id":"u1","item_id":"i1","type":"view","timestamp":"1960-01-01T00:00:00Z"},
			{"user_id":"u1","item_id":"i1","type":"view","timestamp":"2030-01-01T00:00:00Z"}]`, 400, "invalid_batch", []string{"0 timestamp", "1 timestamp"}},
		{"oversized id", "/v1/events", `[{"user_id":"` + strings.Repeat("u", 300) + `","item_id":"i1","type":"view"}]`, 400, "invalid_batch", []string{"0 user_id"}},
		{"invalid utf-8", "/v1/events", "[{\"user_id\":\"u\xff\",\"item_id\":\"i1\",\"type\":\"view\"}]", 400, "invalid_batch", []string{"0 "}},
		{"not an object", "/v1/events", `[{"user_id":"u1","item_id":"i1","type":"view"}, 7]`, 400, "invalid_batch", []string{"1 "}},
		{"malformed json", "/v1/events", `[{"user_id":"u1",`, 400, "bad_request", nil},
		{"not an array", "/v1/events", `{"user_id":"u1"}`, 400, "bad_request", nil},
		{"empty batch", "/v1/events", `[]`, 400, "bad_request", nil},
		{"trailing data", "/v1/events", `[] []`, 400, "bad_request", nil},
		{"negative item price", "/v1/items", `[{"id":"i9","price":1},{"id":"i10","price":-1}]`, 400, "invalid_batch", []string{"1 price"}},
		{"item without id", "/v1/items", `[{"title":"x"}]`, 400, "invalid_batch", []string{"0 id"}},
		{"wrong attribute type", "/v1/users", `[{"id":"u9","attributes":{"vip":true}}]`, 400, "invalid_batch", []string{"0 attributes.vip"}},
		{"wrong field type", "/v1/items", `[{"id":"i9","categories":"Home"}]`, 400, "invalid_batch", []string{"0 categories"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, server.Options{})
			f.do("POST", "/v1/events", goodEvents, nil)
			before := f.counts()
			var er errResp
			if code := f.do("POST", tt.path, tt.body, &er); code != tt.status {
				t.Errorf("status %d, want %d (%+v)", code, tt.status, er)
			}
			if er.Error.Code != tt.code || er.Error.Message == "" {
				t.Errorf("error = %+v, want code %s", er.Error, tt.code)
			}
			var rows []string
			for _, r := range er.Error.Rows {
				rows = append(rows, fmt.Sprintf("%d %s", r.Index, r.Field))
				if r.Reason == "" {
					t.Errorf("row %d has no reason", r.Index)
				}
			}
			if diff := cmp.Diff(tt.rows, rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s\n%+v", diff, er.Error.Rows)
			}
			if after := f.counts(); after != before {
				t.Errorf("store changed from %+v to %+v", before, after)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t, server.Options{MaxBodyBytes: 2048, MaxBatch: 3})
	var er errResp
	big := `[{"id":"i1","description":"` + strings.Repeat("x", 4096) + `"}]`
	if code := f.do("POST", "/v1/items", big, &er); code != http.StatusRequestEntityTooLarge || er.Error.Code != "body_too_large" {
		t.Errorf("large body: %d %+v", code, er)
	}
	four := `[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"}]`
	if code := f.do("POST", "/v1/items", four, &er); code != http.StatusBadRequest || er.Error.Code != "batch_too_large" {
		t.Errorf("large batch: %d %+v", code, er)
	}
	if c := f.counts(); c.Items != 0 {
		t.Errorf("items stored: %+v", c)
	}
	f = newFixture(t, server.Options{Rules: func() tailor.Rules { r := tailor.DefaultRules(); r.AllowCustomTypes = false; return r }()})
	if code := f.do("POST", "/v1/events", `[{"user_id":"u","item_id":"i","type":"wishlist"}]`, &er); code != 400 || er.Error.Rows[0].Field != "type" {
		t.Errorf("custom type: %d %+v", code, er)
	}
}

func TestCatalogAndUsers(t *testing.T) {
	f := newFixture(t, server.Options{})
	var up server.UpsertResult
	items := `[{"id":"i1","title":"Tea mug","categories":["Home/Kitchen"],"price":4.5,"currency":"EUR","stock":3,"attributes":{"color":"white","volume_ml":300}},
	           {"id":"i2","title":"Teapot"},{"id":"i3","title":"Cup","hidden":true}]`
	if code := f.do("POST", "/v1/items", items, &up); code != 200 || up.Upserted != 3 {
		t.Fatalf("post items: %d %+v", code, up)
	}
	var it tailor.Item
	if code := f.do("GET", "/v1/items/i1", "", &it); code != 200 || it.Title != "Tea mug" || *it.Stock != 3 || it.Attributes["volume_ml"] != 300.0 {
		t.Errorf("get item: %d %+v", code, it)
	}
	var page store.Page[tailor.Item]
	f.do("GET", "/v1/items?limit=2", "", &page)
	if len(page.Data) != 2 || page.NextCursor == "" {
		t.Fatalf("first page = %+v", page)
	}
	var page2 store.Page[tailor.Item]
	f.do("GET", "/v1/items?limit=2&cursor="+page.NextCursor, "", &page2)
	if len(page2.Data) != 1 || page2.Data[0].ID != "i3" || page2.NextCursor != "" {
		t.Errorf("second page = %+v", page2)
	}
	var er errResp
	for _, tc := range []struct{ path, want string }{
		{"/v1/items?limit=0", "limit"}, {"/v1/items?limit=5000", "limit"}, {"/v1/items?cursor=@@", "cursor"},
	} {
		if code := f.do("GET", tc.path, "", &er); code != 400 || !strings.Contains(er.Error.Message, tc.want) {
			t.Errorf("%s: %d %+v", tc.path, code, er)
		}
	}
	if code := f.do("GET", "/v1/items/nope", "", &er); code != 404 || er.Error.Code != "not_found" {
		t.Errorf("missing item: %d %+v", code, er)
	}

	f.do("POST", "/v1/users", `[{"id":"u1","attributes":{"country":"France"}}]`, &up)
	var u tailor.User
	if code := f.do("GET", "/v1/users/u1", "", &u); code != 200 || u.Attributes["country"] != "France" {
		t.Errorf("get user: %d %+v", code, u)
	}
	var users store.Page[tailor.User]
	f.do("GET", "/v1/users", "", &users)
	if len(users.Data) != 1 {
		t.Errorf("users = %+v", users)
	}

	// An id with a slash is one path segment when escaped.
	f.do("POST", "/v1/items", `[{"id":"a/b","title":"slash"}]`, &up)
	if code := f.do("GET", "/v1/items/a%2Fb", "", &it); code != 200 || it.ID != "a/b" {
		t.Errorf("escaped id: %d %+v", code, it)
	}
}

func TestEventListingAndDelete(t *testing.T) {
	f := newFixture(t, server.Options{})
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 30; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		typ := "view"
		if i%3 == 0 {
			typ = "purchase"
		}
		fmt.Fprintf(&b, `{"id":"e%02d","user_id":"u1","item_id":"i%d","type":"%s","timestamp":"2026-11-01T10:%02d:00Z"}`, i, i%4, typ, i)
	}
	b.WriteString(`,{"id":"other","user_id":"u2","item_id":"i1","type":"view","timestamp":"2026-11-01T11:00:00Z"}]`)
	f.do("POST", "/v1/events", b.String(), nil)

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		var page store.Page[tailor.Event]
		if code := f.do("GET", "/v1/users/u1/events?limit=7&cursor="+cursor, "", &page); code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, e := range page.Data {
			seen = append(seen, e.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 30 || seen[0] != "e29" || seen[29] != "e00" {
		t.Errorf("paged events = %v", seen)
	}
	var page, itemPage store.Page[tailor.Event]
	f.do("GET", "/v1/users/u1/events?type=purchase&since=2026-11-01T10:10:00Z&until=2026-11-01T10:20:00Z", "", &page)
	var got []string
	for _, e := range page.Data {
		got = append(got, e.ID)
	}
	if diff := cmp.Diff([]string{"e18", "e15", "e12"}, got); diff != "" {
		t.Errorf("filtered (-want +got):\n%s", diff)
	}
	f.do("GET", "/v1/items/i1/events?limit=100", "", &itemPage)
	if len(itemPage.Data) != 9 {
		t.Errorf("item i1 has %d events, want 9", len(itemPage.Data))
	}
	var er errResp
	if code := f.do("GET", "/v1/users/u1/events?since=yesterday", "", &er); code != 400 || !strings.Contains(er.Error.Message, "since") {
		t.Errorf("bad since: %d %+v", code, er)
	}
	if code := f.do("GET", "/v1/users/nobody/events", "", &er); code != 404 {
		t.Errorf("unknown user: %d", code)
	}

	var del server.DeleteResult
	if code := f.do("DELETE", "/v1/users/u1", "", &del); code != 200 || del.EventsDeleted != 30 {
		t.Errorf("delete user: %d %+v", code, del)
	}
	if c := f.counts(); c.Events != 1 || c.Users != 1 {
		t.Errorf("after delete: %+v", c)
	}
	if code := f.do("DELETE", "/v1/users/u1", "", &er); code != 404 {
		t.Errorf("second delete: %d", code)
	}
	if code := f.do("DELETE", "/v1/items/i1", "", &del); code != 200 || del.EventsDeleted != 1 {
		t.Errorf("delete item: %d %+v", code, del)
	}
}

func TestAuth(t *testing.T) {
	keys := map[string]string{"read": "read-key-0123456789", "write": "write-key-0123456789", "admin": "admin-key-0123456789"}
	var ks []server.Key
	for role, k := range keys {
		r, _ := server.ParseRole(role)
		ks = append(ks, server.Key{Name: role, Role: r, SHA256: sha(k)})
	}
	f := newFixture(t, server.Options{Keys: ks})
	f.do("POST", "/v1/events", goodEvents, nil, "X-API-Key", keys["write"])
	tests := []struct {
		method, path, body, key string
		want                    int
	}{
		{"GET", "/healthz", "", "", 200},
		{"GET", "/openapi.json", "", "", 200},
		{"GET", "/v1/items", "", "", 401},
		{"GET", "/v1/items", "", "wrong-key-0123456789", 401},
		{"GET", "/v1/items", "", "read", 200},
		{"GET", "/v1/items/i1", "", "read", 200},
		{"GET", "/v1/users", "", "read", 403},
		{"GET", "/v1/users/u1/events", "", "read", 403},
		{"POST", "/v1/events", goodEvents, "read", 403},
		{"POST", "/v1/events", goodEvents, "write", 200},
		{"GET", "/v1/users/u1/events", "", "write", 200},
		{"DELETE", "/v1/users/u1", "", "write", 403},
		{"DELETE", "/v1/users/u1", "", "admin", 200},
		{"POST", "/v1/items", `[{"id":"x"}]`, "admin", 200},
	}
	for _, tt := range tests {
		var header []string
		if k, ok := keys[tt.key]; ok {
			header = []string{"Authorization", "Bearer " + k}
		} else if tt.key != "" {
			header = []string{"X-API-Key", tt.key}
		}
		var er errResp
		if code := f.do(tt.method, tt.path, tt.body, &er, header...); code != tt.want {
			t.Errorf("%s %s with %q: status %d, want %d (%+v)", tt.method, tt.path, tt.key, code, tt.want, er)
		}
	}
}

func TestRoutingErrors(t *testing.T) {
	f := newFixture(t, server.Options{})
	var er errResp
	if code := f.do("GET", "/v2/nothing", "", &er); code != 404 || er.Error.Code != "not_found" {
		t.Errorf("unknown path: %d %+v", code, er)
	}
	if code := f.do("PUT", "/v1/events", "[]", &er); code != 405 || er.Error.Code != "method_not_allowed" {
		t.Errorf("wrong method: %d %+v", code, er)
	}
	req := httptest.NewRequest("POST", "/v1/items", strings.NewReader(`[{"id":"x"}]`))
	req.Header.Set("Content-Type", "text/csv")
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("wrong content type: %d", rec.Code)
	}
}

// TestOpenAPI checks that the document describes exactly the routes the
// server answers, and the domain types field by field.
func TestOpenAPI(t *testing.T) {
	f := newFixture(t, server.Options{})
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if code := f.do("GET", "/openapi.json", "", &doc); code != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi: %d %q", code, doc.OpenAPI)
	}
	n := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			n++
			url := strings.NewReplacer("{id}", "x", "{name}", "x").Replace(path)
			req := httptest.NewRequest(strings.ToUpper(method), url, strings.NewReader("[]"))
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			if rec.Code == 405 || (rec.Code == 404 && !strings.Contains(path, "{")) {
				t.Errorf("%s %s is documented but not served (%d)", method, path, rec.Code)
			}
		}
	}
	if n < 14 {
		t.Errorf("only %d operations documented", n)
	}
	wantFields := map[string][]string{
		"Event": {"id", "user_id", "session_id", "item_id", "type", "value", "unit_price", "order_id", "recommendation_id", "timestamp"},
		"Item": {"id", "title", "description", "categories", "brand", "price", "currency", "in_stock", "stock", "attributes",
			"hidden", "non_product", "created_at", "updated_at"},
		"User": {"id", "attributes", "created_at"},
	}
	for name, fields := range wantFields {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("no schema %s", name)
			continue
		}
		if len(s.Properties) != len(fields) {
			t.Errorf("%s has %d properties, want %d", name, len(s.Properties), len(fields))
		}
		for _, fl := range fields {
			if _, ok := s.Properties[fl]; !ok {
				t.Errorf("%s lacks %s", name, fl)
			}
		}
	}
	if req := doc.Components.Schemas["Event"].Required; !cmp.Equal(req, []string{"item_id", "type"}) {
		t.Errorf("Event requires %v", req)
	}
}

// TestConcurrentPosts exercises the write path from many goroutines (run
// with -race).
func TestConcurrentPosts(t *testing.T) {
	f := newFixture(t, server.Options{})
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				body := fmt.Sprintf(`[{"id":"c%d-%d","user_id":"u%d","item_id":"i%d","type":"view"}]`, c, i, c, i%5)
				resp, err := http.Post(ts.URL+"/v1/events", "application/json", bytes.NewBufferString(body))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c := f.counts(); c.Events != 160 || c.Users != 8 || c.Items != 5 {
		t.Errorf("counts = %+v", c)
	}
}

// TestMetrics checks that GET /metrics serves the Prometheus text format
// with the request histogram of the routes just called and the events
// ingested.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, server.Options{Registerer: reg, Gatherer: reg})
	f.do("POST", "/v1/events", `[{"id":"e1","user_id":"u","item_id":"i","type":"view"},{"id":"e1","user_id":"u","item_id":"i","type":"view"}]`, nil)
	f.do("GET", "/v1/items/i", "", nil)
	f.do("GET", "/v1/items/nope", "", nil)
	req := httptest.NewRequest("GET", "/metrics", nil)
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		`tailor_http_requests_total{code="200",route="GET /v1/items/{id}"} 1`,
		`tailor_http_requests_total{code="404",route="GET /v1/items/{id}"} 1`,
		`tailor_http_request_duration_seconds_bucket{code="200",route="POST /v1/events",le="+Inf"} 1`,
		`tailor_http_request_duration_seconds_count{code="200",route="GET /v1/items/{id}"} 1`,
		`tailor_events_ingested_total{result="inserted"} 1`,
		`tailor_events_ingested_total{result="duplicate"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Without a gatherer the route says so.
	g := newFixture(t, server.Options{})
	var e errResp
	if code := g.do("GET", "/metrics", "", &e); code != 503 || e.Error.Code != "unavailable" {
		t.Errorf("no gatherer: %d %+v", code, e)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// TestOpenAPIGolden compares the document with testdata/openapi.golden.json
// (go test ./internal/server -run OpenAPIGolden -update rewrites it), so
// that every change to the API shows in review, and checks that every
// query parameter a route reads is in it: attr.NAME included.
func TestOpenAPIGolden(t *testing.T) {
	f := newFixture(t, server.Options{})
	req := httptest.NewRequest("GET", "/openapi.json", nil)
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	got := rec.Body.Bytes()
	path := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the OpenAPI document differs from %s; if the change is meant, run go test ./internal/server -run OpenAPIGolden -update and review the diff", path)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct{ Name, In string } `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	params := func(path, method string) []string {
		var out []string
		for _, p := range doc.Paths[path][method].Parameters {
			out = append(out, p.Name)
		}
		return out
	}
	for _, want := range []string{"attr.NAME", "n", "in_stock", "scenario", "category"} {
		if !slices.Contains(params("/v1/users/{id}/recommendations", "get"), want) {
			t.Errorf("recommendations lack the parameter %s", want)
		}
		if !slices.Contains(params("/v1/items/{id}/bought-together", "get"), want) {
			t.Errorf("bought-together lacks the parameter %s", want)
		}
	}
	if ps := params("/v1/search", "get"); !slices.Contains(ps, "q") || !slices.Contains(ps, "user") {
		t.Errorf("search parameters %v", ps)
	}
	// A parameter no route declares is refused, naming it.
	var e errResp
	if code := f.do("GET", "/v1/items?limt=5", "", &e); code != 400 || !strings.Contains(e.Error.Message, "limt") {
		t.Errorf("an undeclared parameter: %d %+v", code, e)
	}
}
