package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/server"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// FuzzServer sends arbitrary methods, paths, queries and bodies through
// the router and the decoders of a server over a store with a few
// records: no request panics or gets a 500, and every answer is JSON,
// with the error shape when it is an error.
func FuzzServer(f *testing.F) {
	seeds := []struct{ method, target, body string }{
		{"POST", "/v1/events", goodEvents},
		{"POST", "/v1/items", `[{"id":"i9","title":"Mug","price":2.5,"categories":["Home"],"attributes":{"color":"red"}}]`},
		{"POST", "/v1/users", `[{"id":"u9","attributes":{"tier":"gold"}}]`},
		{"GET", "/v1/events?type=view,purchase&since=2026-11-28T00:00:00Z&limit=5", ""},
		{"GET", "/v1/items?limit=2&cursor=abc", ""},
		{"GET", "/v1/users/u1/events?until=2262-05-01T00:00:00Z", ""},
		{"PUT", "/v1/scenarios/home", `{"in_stock_only":true,"max_per_category":3}`},
		{"DELETE", "/v1/items/i1", ""},
		{"GET", "/v1/users/u1/recommendations?n=5&attr.color=red", ""},
		{"POST", "/v1/carts/recommendations", `{"items":["i1"],"n":3}`},
		{"GET", "/healthz", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body))
	}
	// One store and server for every input (each worker has its own): the
	// inputs change what it holds, which the properties do not depend on.
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	srv, err := server.New(db, server.Options{})
	if err != nil {
		f.Fatal(err)
	}
	seed := httptest.NewRecorder()
	srv.ServeHTTP(seed, httptest.NewRequest("POST", "/v1/events", strings.NewReader(goodEvents)))
	if seed.Code != http.StatusOK {
		f.Fatalf("seed events: %d %s", seed.Code, seed.Body)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(u.Path, "/") || strings.ContainsAny(method, " \t\r\n") || method == "" || len(method) > 16 {
			return
		}
		req := &http.Request{Method: method, URL: u, RequestURI: target, Header: http.Header{}, Body: http.NoBody, Host: "localhost"}
		if len(body) > 0 {
			req.Body = httpBody(body)
			req.ContentLength = int64(len(body))
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusPermanentRedirect {
			return // the mux cleaning a path: no body of ours
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil && !strings.HasPrefix(target, "/metrics") {
			t.Fatalf("%s %s: %d, not JSON: %q", method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e errResp
			if json.Unmarshal(rec.Body.Bytes(), &e); e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s: %d without the error shape: %s", method, target, rec.Code, rec.Body)
			}
		}
	})
}

func httpBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
