// Package server is Tailor's HTTP API (version 1): JSON endpoints to ingest
// and read items, users and events, with API-key roles, body and batch
// limits, and an OpenAPI document generated from the route table.
package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Backend is the slice of the store the API uses.
type Backend interface {
	store.Updater
	store.ItemReader
	store.UserReader
	store.EventReader
	store.Deleter
	store.ModelRegistry
	store.ScenarioStore
	store.ImpressionStore
	store.ReportStore
	store.Browser
	store.Counter
	Ping(ctx context.Context) error
}

// Options configure a Server. Zero fields take the documented defaults.
type Options struct {
	// Rules check every record written; the zero value means
	// tailor.DefaultRules().
	Rules tailor.Rules
	// MaxBodyBytes is the largest request body (default 16 MiB).
	MaxBodyBytes int64
	// MaxBatch is the most rows in one batch (default 10,000).
	MaxBatch int
	// Keys are the accepted API keys. With none, every request is allowed:
	// the caller must then listen on loopback only.
	Keys []Key
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Recommender serves the recommendation endpoints; nil answers them
	// with 503.
	Recommender Recommender
	// Registerer, if not nil, receives the API's metrics, and Gatherer,
	// if not nil, is what GET /metrics serves (the Prometheus text format).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Analyst serves the analytics endpoints and Pricer the pricing
	// ones; nil answers them with 503.
	Analyst Analyst
	Pricer  Pricer
	// Assistant serves POST /v1/assistant; nil answers it with 503.
	Assistant Assistant
	// TokenSecret signs shopper tokens (at least 32 bytes). Empty means a
	// random secret: tokens then stop working when the server restarts,
	// and other replicas do not accept them.
	TokenSecret []byte
	// AllowedOrigins are the origins (scheme://host[:port]) of other
	// sites whose pages may call the API from a browser (CORS), such as a
	// shop's own front end holding shopper tokens.
	AllowedOrigins []string
	// SharedLimiter, if set, keeps the keys' rate limits for every
	// replica together (sharedlimit, on Redis); while it fails, each
	// replica limits by itself.
	SharedLimiter SharedLimiter
	// Checks are the health of what serving can do without, by name
	// (Redis, say): a failing one makes /healthz answer "degraded", still
	// with 200.
	Checks map[string]func() error
}

// SharedLimiter takes a request from a key's rate limit shared by every
// replica. An error means it cannot tell; the server then limits alone.
type SharedLimiter interface {
	Allow(ctx context.Context, key string, rate float64, burst int) (ok bool, wait time.Duration, err error)
}

// Server serves the API. It is an http.Handler and safe for concurrent use.
type Server struct {
	db     Backend
	opts   Options
	keys   keyring
	log    *slog.Logger
	rec    Recommender
	an     Analyst
	pr     Pricer
	mux    *http.ServeMux
	routes []route
	met    *metrics
	// buffers recycles the buffers responses are encoded into (writeJSON).
	buffers sync.Pool
	// openapi is the generated OpenAPI document.
	openapi []byte
	// tokenSecret signs and checks shopper tokens.
	tokenSecret []byte
}

// New returns a Server over db. It fails if the token secret is too short,
// or if the OpenAPI document cannot be built (a programming error).
func New(db Backend, opts Options) (*Server, error) {
	if opts.Rules.MaxIDLen == 0 {
		opts.Rules = tailor.DefaultRules()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{db: db, opts: opts, keys: newKeyring(opts.Keys), log: log, rec: opts.Recommender, an: opts.Analyst, pr: opts.Pricer, mux: http.NewServeMux(),
		tokenSecret: opts.TokenSecret}
	if len(s.tokenSecret) == 0 {
		s.tokenSecret = make([]byte, 32)
		rand.Read(s.tokenSecret) // never fails (crypto/rand)
	} else if len(s.tokenSecret) < 32 {
		return nil, fmt.Errorf("the token secret has %d bytes; at least 32 are needed", len(s.tokenSecret))
	}
	s.met = newMetrics(opts.Registerer)
	s.routes = slices.Concat(s.routeTable(), s.recommendRoutes(), s.analyticsRoutes(), s.pricingRoutes(), s.basketRoutes(), s.browseRoutes(), s.exportRoutes(), s.tokenRoutes(), s.assistantRoutes())
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.query.handle != nil {
			rt.handle = rt.query.handle
			rt.params = append(rt.params, queryParams(rt.query.typ)...)
		} else if rt.raw == nil {
			handle := rt.handle
			rt.handle = func(r *http.Request) (any, error) {
				vals, err := queryValues(r)
				if err != nil {
					return nil, err
				}
				if err := decodeQuery(vals, nil); err != nil {
					return nil, err
				}
				return handle(r)
			}
		}
	}
	doc, err := openAPIDocument(s.routes)
	if err != nil {
		return nil, fmt.Errorf("build the OpenAPI document: %w", err)
	}
	s.openapi = doc
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.handler(rt))
	}
	// Paths without methods, to tell "wrong method" (405) from "no such
	// path" (404) in the fallback handler.
	allowed := map[string][]string{}
	paths := http.NewServeMux()
	for _, rt := range s.routes {
		if allowed[rt.path] == nil {
			paths.Handle(rt.path, http.NotFoundHandler())
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" {
			w.Header().Set("Allow", strings.Join(allowed[pattern], ", "))
			_ = s.writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error{Code: "method_not_allowed",
				Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + strings.Join(allowed[pattern], " or ")}})
			return
		}
		_ = s.writeJSON(w, http.StatusNotFound, errorBody{Error{Code: "not_found", Message: "no such route: " + r.Method + " " + r.URL.Path + " (see /openapi.json)"}})
	})
	return s, nil
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(s.opts.AllowedOrigins) > 0 && s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// route is one endpoint: how it is reached, who may call it, what it takes
// and returns (for the OpenAPI document) and its handler.
type route struct {
	method, path string
	role         Role
	summary      string
	params       []param
	// body and response are example values whose types describe the
	// request body and the 200 response.
	body, response any
	handle         func(r *http.Request) (any, error)
	// query, when set, is the route's typed query parameters and the
	// handler that takes them (instead of handle); a route without it
	// takes no query parameters.
	query queryRoute
	// raw, when set, serves the route instead of handle (a body that is
	// not JSON).
	raw http.Handler
	// whoCalls is set on routes whose handler reads who called it
	// (principalKey); it is always there for shopper tokens.
	whoCalls bool
}

// param is a query or path parameter.
type param struct {
	name, in, typ, doc string
	multi              bool
}

func (s *Server) handler(rt route) http.Handler {
	name := rt.method + " " + rt.path
	obs := s.met.observer(name)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			d := time.Since(start)
			obs.observe(w.status, d)
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.DebugContext(r.Context(), "request", slog.String("route", name), slog.String("path", r.URL.Path),
					slog.Int("status", w.status), slog.Duration("duration", d))
			}
		}()
		p, err := s.authorize(r, &rt)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if p.shopper != "" || (rt.whoCalls && p.key != nil) {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		}
		if rt.raw != nil {
			rt.raw.ServeHTTP(w, r)
			return
		}
		v, err := rt.handle(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if raw, ok := v.([]byte); ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(raw)
			return
		}
		if err := s.writeJSON(w, http.StatusOK, v); err != nil {
			s.writeError(w, r, err)
		}
		if rel, ok := v.(releaser); ok {
			rel.Release() // written: the engine may reuse it
		}
	})
}
