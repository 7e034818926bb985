package server

import (
	"net/http"
	"slices"
)

// allowedOrigin reports whether origin is one of Options.AllowedOrigins.
func (s *Server) allowedOrigin(origin string) bool {
	return origin != "" && slices.Contains(s.opts.AllowedOrigins, origin)
}

// cors answers a browser's preflight request from an allowed origin, and
// marks the answers to its requests as readable by that origin. It reports
// whether the request has been answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if len(s.opts.AllowedOrigins) == 0 || origin == "" {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if !s.allowedOrigin(origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	return false
}
