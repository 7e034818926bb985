package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/pricing"
	"github.com/tailorhq/tailor/internal/server"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// nanPricer answers with estimates that are not numbers, as the analyses
// do for items their data cannot identify, and, for item "broken", with a
// number no JSON can carry in a field that should never hold one.
type nanPricer struct{}

func (nanPricer) Elasticities(context.Context) ([]*pricing.Elasticity, error) {
	return []*pricing.Elasticity{
		{Item: "a", Raw: -1.2, RawSE: 0.3, Estimate: -1.1, SE: 0.2, CI95: [2]float64{-1.5, -0.7}, Reliable: true},
		{Item: "b", Raw: math.NaN(), RawSE: math.NaN(), Estimate: -0.9, SE: 0.5, CI95: [2]float64{-1.9, 0.1}, Reason: "too uncertain"},
	}, nil
}

func (nanPricer) PriceRecommendation(_ context.Context, item tailor.ItemID, _ pricing.Constraints) (*pricing.Recommendation, error) {
	r := &pricing.Recommendation{Item: item, Action: "keep", Elasticity: math.NaN(), ElasticitySE: math.NaN(), Reason: "the item has no sales to learn from"}
	if item == "broken" {
		r.ExpectedUnits = math.Inf(1)
	}
	return r, nil
}

// TestResponsesAreWholeOrErrors checks that estimates that are not
// numbers reach JSON as null, and that a response that cannot be encoded
// is a 500 with the error body, never a 200 with a broken body.
func TestResponsesAreWholeOrErrors(t *testing.T) {
	f := newFixture(t, server.Options{Pricer: nanPricer{}})
	err := f.db.Update(context.Background(), func(w store.Writer) error {
		return w.UpsertItems(context.Background(), []tailor.Item{{ID: "none"}, {ID: "broken"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	var es []map[string]any
	if code := f.do("GET", "/v1/pricing/elasticities?n=5", "", &es); code != http.StatusOK || len(es) != 2 {
		t.Fatalf("elasticities: %d, %v", code, es)
	}
	if es[1]["raw"] != nil || es[1]["estimate"] != -0.9 || es[0]["raw"] != -1.2 {
		t.Errorf("elasticities: %v", es)
	}
	var rec map[string]any
	if code := f.do("GET", "/v1/items/none/pricing", "", &rec); code != http.StatusOK || rec["elasticity"] != nil || rec["action"] != "keep" {
		t.Errorf("pricing of an item without sales: %d, %v", code, rec)
	}
	var e errResp
	if code := f.do("GET", "/v1/items/broken/pricing", "", &e); code != http.StatusInternalServerError || e.Error.Code != "internal" {
		t.Errorf("a response that cannot be encoded: %d, %+v", code, e)
	}
}

// TestStrictBodies checks that bodies are JSON as this API reads it: the
// media type application/json only, one value and nothing after it, no
// key twice, names in their case; the error names what is wrong, and
// nothing is written.
func TestStrictBodies(t *testing.T) {
	f := newFixture(t, server.Options{Pricer: nanPricer{}})
	event := `[{"id":"e1","user_id":"u1","item_id":"i1","type":"view","timestamp":"2026-11-28T10:00:00Z"}]`
	for _, tc := range []struct {
		name, path, body, ctype string
		code                    int
		says                    string
	}{
		{"json with charset", "/v1/events", event, "application/json; charset=utf-8", http.StatusOK, ""},
		{"jsonx", "/v1/events", event, "application/jsonx", http.StatusUnsupportedMediaType, "application/json"},
		{"latin-1", "/v1/events", event, "application/json; charset=latin-1", http.StatusUnsupportedMediaType, "application/json"},
		{"trailing data", "/v1/events", event + `{"x":1}`, "application/json", http.StatusBadRequest, "after"},
		{"duplicate key", "/v1/events", `[{"id":"e2","id":"e3","item_id":"i1","type":"view","timestamp":"2026-11-28T10:00:00Z"}]`, "application/json", http.StatusBadRequest, "twice"},
		{"other case", "/v1/events", `[{"ID":"e4","item_id":"i1","type":"view","timestamp":"2026-11-28T10:00:00Z"}]`, "application/json", http.StatusBadRequest, "case-sensitive"},
		{"zero time", "/v1/events", `[{"id":"e5","item_id":"i1","type":"view","timestamp":"0001-01-01T00:00:00Z"}]`, "application/json", http.StatusBadRequest, "timestamp: 0001-01-01T00:00:00Z"},
		{"half a surrogate", "/v1/events", `[{"id":"x\ud800","item_id":"i1","type":"view","timestamp":"2026-11-28T10:00:00Z"}]`, "application/json", http.StatusBadRequest, "surrogate"},
		{"body: trailing data", "/v1/pricing/recommendations", `{"items":[{"item_id":"a"}]} []`, "application/json", http.StatusBadRequest, "after"},
		{"body: duplicate key", "/v1/pricing/recommendations", `{"items":[{"item_id":"a","item_id":"b"}]}`, "application/json", http.StatusBadRequest, "item_id: given twice"},
		{"body: other case", "/v1/pricing/recommendations", `{"Items":[{"item_id":"a"}]}`, "application/json", http.StatusBadRequest, "Items"},
		{"body: jsonx", "/v1/pricing/recommendations", `{"items":[{"item_id":"a"}]}`, "application/jsonx", http.StatusUnsupportedMediaType, "application/json"},
	} {
		var e errResp
		var out any = &e
		if tc.code == http.StatusOK {
			out = nil
		}
		code := f.do("POST", tc.path, tc.body, out, "Content-Type", tc.ctype)
		if code != tc.code || !strings.Contains(e.Error.Message+rowsText(e.Error), tc.says) {
			t.Errorf("%s: %d %+v, want %d saying %q", tc.name, code, e.Error, tc.code, tc.says)
		}
	}
	if c := f.counts(); c.Events != 1 {
		t.Errorf("%d events stored, want the one valid batch's", c.Events)
	}
}

func rowsText(e server.Error) string {
	var b strings.Builder
	for _, r := range e.Rows {
		b.WriteString(" " + r.Field + ": " + r.Reason)
	}
	return b.String()
}

// TestKeyHeaders checks how keys are presented: Bearer in any case, the
// same key in both headers, a different key in each refused whichever is
// right, a key with a malformed hash matching nothing (and not opening the
// server), and every 401 naming the scheme in WWW-Authenticate.
func TestKeyHeaders(t *testing.T) {
	good, other := "write-key-0123456789", "read-key-0123456789"
	ks := []server.Key{{Name: "w", Role: server.RoleWrite, SHA256: sha(good)}, {Name: "r", Role: server.RoleRead, SHA256: sha(other)},
		{Name: "broken", Role: server.RoleAdmin, SHA256: "not-a-hash"}}
	f := newFixture(t, server.Options{Keys: ks})
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"bearer", []string{"Authorization", "Bearer " + good}, 200},
		{"lower-case scheme", []string{"Authorization", "bearer " + good}, 200},
		{"upper-case scheme", []string{"Authorization", "BEARER  " + good}, 200},
		{"x-api-key", []string{"X-API-Key", good}, 200},
		{"both, the same", []string{"X-API-Key", good, "Authorization", "Bearer " + good}, 200},
		{"right in X-API-Key, wrong in Authorization", []string{"X-API-Key", good, "Authorization", "Bearer wrong-key-0123456789"}, 401},
		{"wrong in X-API-Key, right in Authorization", []string{"X-API-Key", "wrong-key-0123456789", "Authorization", "Bearer " + good}, 401},
		{"two valid keys", []string{"X-API-Key", other, "Authorization", "Bearer " + good}, 401},
		{"another scheme", []string{"Authorization", "Basic " + good}, 401},
		{"no key", nil, 401},
		{"the malformed hash itself", []string{"X-API-Key", "not-a-hash"}, 401},
	} {
		req := httptest.NewRequest("GET", "/v1/users", nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Header.Set(tc.header[i], tc.header[i+1])
		}
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, rec.Code, tc.want, rec.Body)
		}
		if got := rec.Header().Get("WWW-Authenticate"); (rec.Code == 401) != (got == `Bearer realm="tailor"`) {
			t.Errorf("%s: %d with WWW-Authenticate %q", tc.name, rec.Code, got)
		}
	}
}

// TestBusyStoreIs503 holds the store's write lock from another connection
// (another process importing): a batch answers 503 with Retry-After and
// the error body, not 500, and writes nothing.
func TestBusyStoreIs503(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tailor.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := server.New(db, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/v1/events", strings.NewReader(goodEvents))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var e errResp
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusServiceUnavailable || e.Error.Code != "unavailable" ||
		rec.Header().Get("Retry-After") == "" {
		t.Errorf("a write while another process holds the store: %d %s (Retry-After %q)", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	conn.ExecContext(ctx, "ROLLBACK")
	if c, _ := db.Counts(ctx); c.Events != 0 {
		t.Errorf("%d events written", c.Events)
	}
}

// TestUnparsableQueries sends queries Go's URL parser cannot read whole: a
// bad escape, a semicolon, more parameters than it takes. Each is a 400
// naming the query, never an answer as if the query had not been sent
// (r.URL.Query() drops what it cannot parse: 10,001 type= values gave a
// 200 with every event).
func TestUnparsableQueries(t *testing.T) {
	f := newFixture(t, server.Options{})
	if code := f.do("POST", "/v1/events", goodEvents, nil); code != 200 {
		t.Fatalf("post events: %d", code)
	}
	for _, c := range []struct {
		name, path, msg string
	}{
		{"too many parameters", "/v1/users/u1/events?type=view" + strings.Repeat("&type=click", server.MaxQueryParams), "query: more than 10000 parameters"},
		{"bad escape", "/v1/users/u1/events?limit=%zz", `query: invalid URL escape "%zz"`},
		{"semicolon", "/v1/users/u1/events?type=view;limit=1", "query: invalid semicolon separator"},
		{"bad escape, route without parameters", "/v1/models?x=%zz", "query: invalid URL escape"},
		{"many parameters, route without parameters", "/v1/models?" + strings.Repeat("a=1&", server.MaxQueryParams+1), "query: more than 10000 parameters"},
	} {
		var e errResp
		if code := f.do("GET", c.path, "", &e); code != 400 || !strings.Contains(e.Error.Message, c.msg) {
			t.Errorf("%s: %d %q, want 400 %q", c.name, code, e.Error.Message, c.msg)
		}
	}
}
