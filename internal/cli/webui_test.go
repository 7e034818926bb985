package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/server"
)

func TestWithWebUI(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api "+r.URL.Path) })
	keys := []server.Key{
		{Name: "shop", Role: server.RoleRead, SHA256: config.HashKey("tk_read")},
		{Name: "backend", Role: server.RoleWrite, SHA256: config.HashKey("tk_write")},
		{Name: "ops", Role: server.RoleAdmin, SHA256: config.HashKey("tk_admin")},
	}
	get := func(h http.Handler, path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Body.String()
	}
	for _, tc := range []struct {
		key, want string
	}{
		{"tk_write", `the key "backend" has the role write`},
		{"tk_admin", `the key "ops" has the role admin`},
		{"tk_unknown", "not one of the API keys"},
	} {
		cfg := &config.Config{WebUI: config.WebUIConfig{StorefrontKey: tc.key}}
		if _, err := withWebUI(api, cfg, keys, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("storefront key %s: %v, want %q", tc.key, err, tc.want)
		}
	}
	cfg := &config.Config{WebUI: config.WebUIConfig{StorefrontKey: "tk_read"}}
	h, err := withWebUI(api, cfg, keys, "")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/":               "/ui/js/store.js",
		"/admin":          "/ui/js/admin.js",
		"/ui/config.json": `{"demo":false,"storefront_key":"tk_read"}`,
		"/v1/items":       "api /v1/items",
		"/healthz":        "api /healthz",
		"/admin/x":        "api /admin/x",
	} {
		if got := get(h, path); !strings.Contains(got, want) {
			t.Errorf("GET %s = %.80q, want %q", path, got, want)
		}
	}
	// Without keys the pages need none; turned off, the API is alone.
	h, _ = withWebUI(api, &config.Config{}, nil, "")
	if got := get(h, "/ui/config.json"); got != `{"demo":true}` {
		t.Errorf("open config = %s", got)
	}
	h, _ = withWebUI(api, &config.Config{WebUI: config.WebUIConfig{Disabled: true}}, nil, "")
	if got := get(h, "/"); got != "api /" {
		t.Errorf("disabled UI: GET / = %q", got)
	}
}
