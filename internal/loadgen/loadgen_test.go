package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGets drives a test server: every path and body is sent, the key
// travels, non-200 answers count as errors, and the figures add up.
func TestGets(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var badKey atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "k" {
			badKey.Add(1)
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[r.Method+" "+r.URL.Path+" "+string(b)]++
		mu.Unlock()
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "{}")
	}))
	defer srv.Close()

	res, err := Gets(context.Background(), GetOptions{URL: srv.URL, Paths: []string{"/a", "/b"}, Key: "k", Clients: 3, Duration: 200 * time.Millisecond, Warmup: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests == 0 || res.Clients != 3 || badKey.Load() != 0 {
		t.Fatalf("%+v, %d requests without the key", res, badKey.Load())
	}
	if seen["GET /a "] == 0 || seen["GET /b "] == 0 {
		t.Errorf("paths not all requested: %v", seen)
	}
	if !(res.P50Ms <= res.P90Ms && res.P90Ms <= res.P99Ms && res.P99Ms <= res.P999Ms && res.P999Ms <= res.MaxMs) {
		t.Errorf("quantiles out of order: %+v", res)
	}
	if got := res.RequestsPerSec * res.Seconds; got < float64(res.Requests)-1 || got > float64(res.Requests)+1 {
		t.Errorf("%v requests/s over %v s for %d requests", res.RequestsPerSec, res.Seconds, res.Requests)
	}
	// The warm-up: three clients, each at least two requests.
	if res.FirstPassRequests != 6 || res.FirstPassPerSec <= 0 {
		t.Errorf("first pass: %d requests at %v/s, want 6", res.FirstPassRequests, res.FirstPassPerSec)
	}

	// POST bodies, in turn; a failing path counts errors and keeps the first.
	res, err = Gets(context.Background(), GetOptions{URL: srv.URL, Paths: []string{"/ok", "/fail"}, Bodies: []string{`{"n":1}`, `{"n":2}`}, Key: "k", Clients: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || !strings.Contains(res.FirstError, "status 500") {
		t.Errorf("failures not counted: %+v", res)
	}
	if seen[`POST /ok {"n":1}`]+seen[`POST /ok {"n":2}`] == 0 || seen[`POST /fail {"n":1}`]+seen[`POST /fail {"n":2}`] == 0 {
		t.Errorf("bodies not all sent: %v", seen)
	}
	if _, err := Gets(context.Background(), GetOptions{URL: srv.URL}); err == nil {
		t.Error("no paths accepted")
	}
	if _, err := Gets(context.Background(), GetOptions{URL: srv.URL, Paths: []string{"/fail"}, Duration: 50 * time.Millisecond}); err == nil {
		t.Error("a run in which every request failed gave no error")
	}
}

// TestRun sends event batches: each body is a JSON array of Batch
// events, and the event count is requests × batch.
func TestRun(t *testing.T) {
	var bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var evs []map[string]any
		if r.Method != "POST" || r.URL.Path != "/v1/events" || json.NewDecoder(r.Body).Decode(&evs) != nil || len(evs) != 5 {
			bad.Add(1)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		for _, e := range evs {
			if e["user_id"] == "" || e["item_id"] == "" || e["type"] == "" {
				bad.Add(1)
			}
		}
		io.WriteString(w, `{"accepted":5}`)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Options{URL: srv.URL, Batch: 5, Clients: 2, Duration: 150 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 || res.Errors != 0 || res.Requests == 0 || res.Events != 5*res.Requests {
		t.Errorf("%+v, %d bad requests", res, bad.Load())
	}
	if a, b := bodies(4, 3, 10, 10, 7), bodies(4, 3, 10, 10, 7); string(a[0]) != string(b[0]) || string(a[3]) != string(b[3]) {
		t.Error("the same seed gave other bodies")
	}
}
