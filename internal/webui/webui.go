// Package webui serves Tailor's two web apps from the binary: the
// storefront (/), which shows personalization to a shopper, and the admin
// dashboard (/admin). Both are static pages and ES modules that talk only
// to the public API v1, the way a shop's own front end would; this package
// does not depend on the API's, and the API does not depend on it.
//
// The assets are embedded with go:embed; Options.Dir serves them from disk
// instead, to edit them without rebuilding (tailor serve --webui-dir).
package webui

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

//go:embed assets
var embedded embed.FS

// Options configure the web apps.
type Options struct {
	// Dir, if not empty, is a folder to serve the assets from instead of
	// the embedded copy (the folder internal/webui/assets of a checkout).
	Dir string
	// Demo says that the API is open (no keys): the pages ask for none.
	Demo bool
	// StorefrontKey is the read key the storefront calls the API with
	// when keys are configured; empty when it has none. It is sent to
	// every shopper's browser, so the caller must make sure it has the
	// role read.
	StorefrontKey string
}

// Config is the body of /ui/config.json, which the pages read first.
type Config struct {
	Demo          bool   `json:"demo"`
	StorefrontKey string `json:"storefront_key,omitempty"`
}

// Handler serves GET / (the storefront), /admin (the dashboard), the
// assets under /ui/ and /ui/config.json. Mount it on those paths only:
// it answers 404 to any other.
func Handler(opts Options) (http.Handler, error) {
	var assets fs.FS
	if opts.Dir != "" {
		if _, err := os.Stat(path.Join(opts.Dir, "index.html")); err != nil {
			return nil, fmt.Errorf("web UI folder %s: %w", opts.Dir, err)
		}
		assets = os.DirFS(opts.Dir)
	} else {
		sub, err := fs.Sub(embedded, "assets")
		if err != nil {
			return nil, err
		}
		assets = sub
	}
	cfg, err := json.Marshal(Config{Demo: opts.Demo, StorefrontKey: opts.StorefrontKey})
	if err != nil {
		return nil, err
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(assets))
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			setSecurityHeaders(w)
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, assets, name)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", page("index.html"))
	mux.HandleFunc("GET /admin", page("admin.html"))
	mux.HandleFunc("GET /ui/config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(cfg)
	})
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w)
		// Assets change with the binary; revalidate rather than cache
		// stale code (a 304 on loopback costs well under a millisecond).
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return mux, nil
}

// setSecurityHeaders keeps the pages to their own origin: no scripts,
// styles, images or connections elsewhere, no framing.
func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// Serves reports whether a request is for Handler: a GET or HEAD of /,
// /admin or a path under /ui/. The caller sends every other request
// elsewhere (to the API).
func Serves(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	return p == "/" || p == "/admin" || strings.HasPrefix(p, "/ui/")
}
