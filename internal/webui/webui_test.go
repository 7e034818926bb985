package webui

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h, err := Handler(Options{StorefrontKey: "tk_read"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, status, ctype, contains string
	}{
		{"/", "200", "text/html", `src="/ui/js/store.js"`},
		{"/admin", "200", "text/html", `src="/ui/js/admin.js"`},
		{"/ui/js/store.js", "200", "text/javascript", "/v1/storefront/events"},
		{"/ui/js/api.js", "200", "text/javascript", "export class Client"},
		{"/ui/css/app.css", "200", "text/css", ".card"},
		{"/ui/vendor/uPlot.iife.min.js", "200", "text/javascript", "uPlot"},
		{"/ui/config.json", "200", "application/json", `"storefront_key":"tk_read"`},
		{"/ui/nothing.js", "404", "", ""},
		{"/ui/webui.go", "404", "", ""},
	}
	for _, tt := range tests {
		resp := serve(t, h, tt.path)
		body, _ := io.ReadAll(resp.Body)
		if got := resp.Status[:3]; got != tt.status {
			t.Errorf("GET %s: status %s, want %s", tt.path, got, tt.status)
			continue
		}
		if tt.status != "200" {
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.ctype)
		}
		if !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.contains)
		}
		if strings.HasSuffix(tt.path, ".json") {
			continue
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
		}
	}
	var cfg Config
	if err := json.NewDecoder(serve(t, h, "/ui/config.json").Body).Decode(&cfg); err != nil || cfg.Demo || cfg.StorefrontKey != "tk_read" {
		t.Errorf("config = %+v, %v", cfg, err)
	}
}

// The pages load nothing from another origin: no CDN, no web font, no
// image from the internet.
func TestAssetsAreSelfContained(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["'\x60]https?:`)
	var total int64
	err := fs.WalkDir(embedded, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(path)
		if err != nil {
			return err
		}
		total += int64(len(b))
		if m := external.Find(b); m != nil && !strings.HasPrefix(path, "assets/vendor/") {
			t.Errorf("%s refers to another origin: %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every page loads a subset of the assets: all of them together must
	// stay within a page's 1.5 MB budget.
	if total > 1<<20 {
		t.Errorf("the assets weigh %d bytes", total)
	}
}

func TestHandlerDir(t *testing.T) {
	if _, err := Handler(Options{Dir: t.TempDir()}); err == nil {
		t.Error("a folder without index.html was accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Handler(Options{Dir: dir, Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(serve(t, h, "/").Body); string(body) != "<p>edited" {
		t.Errorf("/ from the folder = %q", body)
	}
	var cfg Config
	if err := json.NewDecoder(serve(t, h, "/ui/config.json").Body).Decode(&cfg); err != nil || !cfg.Demo || cfg.StorefrontKey != "" {
		t.Errorf("demo config = %+v, %v", cfg, err)
	}
}
