package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
)

// A shopper token lets a shopper's browser call the routes about that
// shopper, and the catalog, without holding an API key: the shop's
// back end (which holds a write key) mints one when the shopper signs in
// and hands it to the page. It is signed with the server's token secret,
// names the key that minted it (removing that key revokes its tokens, and
// the token's requests count against that key's rate limit) and expires.
//
// Layout: "tst1." + base64url(JSON claims) + "." + base64url(HMAC-SHA256
// of everything before the last dot).
const tokenPrefix = "tst1."

// Token lifetimes: the default, and the longest a request may ask for.
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 24 * time.Hour
)

// tokenClaims is what a shopper token says.
type tokenClaims struct {
	// Sub is the shopper's id, Key the name of the key that minted the
	// token, Exp when it stops being valid (Unix seconds).
	Sub string `json:"sub"`
	Key string `json:"key"`
	Exp int64  `json:"exp"`
}

// tokenScope is what a shopper token may do on a route.
type tokenScope int

const (
	// tokenRefused: the route needs an API key (the zero value, so a
	// route added without thought is closed to tokens).
	tokenRefused tokenScope = iota
	// tokenCatalog: the route holds nothing about any one shopper; a
	// "user" query parameter, when given, must be the token's shopper.
	tokenCatalog
	// tokenOwn: the route is about the shopper in its {id}, which must
	// be the token's.
	tokenOwn
	// tokenEvents: the route takes events, each of which must name the
	// token's shopper (checked by the handler, see tokenShopper).
	tokenEvents
	// tokenBody: the body's shopper, when given, must be the token's
	// (checked by the handler), and is the token's when not given.
	tokenBody
)

// tokenScopes lists the routes a shopper token may call; every other route
// answers 403 to one.
var tokenScopes = map[string]tokenScope{
	"GET /v1/auth":                       tokenCatalog,
	"GET /v1/categories":                 tokenCatalog,
	"GET /v1/items":                      tokenCatalog,
	"GET /v1/items/{id}":                 tokenCatalog,
	"GET /v1/items/{id}/similar":         tokenCatalog,
	"GET /v1/items/{id}/bought-together": tokenCatalog,
	"GET /v1/trending":                   tokenCatalog,
	"GET /v1/search":                     tokenCatalog,
	"POST /v1/sessions/recommendations":  tokenCatalog,
	"POST /v1/carts/recommendations":     tokenCatalog,
	"GET /v1/users/{id}/recommendations": tokenOwn,
	"GET /v1/users/{id}/buy-again":       tokenOwn,
	"POST /v1/users/{id}/rerank":         tokenOwn,
	"POST /v1/storefront/events":         tokenEvents,
}

// TokenBody is the body of POST /v1/users/{id}/token.
type TokenBody struct {
	// TTLSeconds is how long the token is valid: 60 s to 24 h (default
	// one hour).
	TTLSeconds int `json:"ttl_seconds,omitempty"`
}

// TokenResult is the answer of POST /v1/users/{id}/token.
type TokenResult struct {
	Token     string    `json:"token"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) tokenRoutes() []route {
	return []route{
		{method: "POST", path: "/v1/users/{id}/token", role: RoleWrite, summary: "Mint a short-lived shopper token for a browser: it reaches only this shopper's recommendations, buy-again, rerank and storefront events, and the catalog",
			params: []param{idParam}, body: TokenBody{}, response: TokenResult{}, handle: s.mintToken, whoCalls: true},
	}
}

func (s *Server) mintToken(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if errs := s.opts.Rules.CheckUser(&tailor.User{ID: tailor.UserID(id)}); len(errs) > 0 {
		return nil, badRequest("id: %s", errs[0].Reason)
	}
	var body TokenBody
	if r.ContentLength != 0 {
		if err := decodeBody(r, &body); err != nil {
			return nil, err
		}
	}
	ttl := DefaultTokenTTL
	if body.TTLSeconds != 0 {
		ttl = time.Duration(body.TTLSeconds) * time.Second
		if ttl < time.Minute || ttl > MaxTokenTTL {
			return nil, badRequest("ttl_seconds: %d is outside 60 to %d", body.TTLSeconds, int(MaxTokenTTL/time.Second))
		}
	}
	var keyName string
	if p, ok := r.Context().Value(principalKey{}).(principal); ok && p.key != nil {
		keyName = p.key.Name
	}
	exp := s.opts.Now().Add(ttl).Truncate(time.Second)
	tok, err := s.signToken(tokenClaims{Sub: id, Key: keyName, Exp: exp.Unix()})
	if err != nil {
		return nil, err
	}
	return TokenResult{Token: tok, UserID: id, ExpiresAt: exp.UTC()}, nil
}

func (s *Server) signToken(c tokenClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sign a shopper token: %w", err)
	}
	head := tokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, s.tokenSecret)
	mac.Write([]byte(head))
	return head + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// errBadToken is the answer to a token that is not one this server signed.
var errBadToken = &apiError{http.StatusUnauthorized, Error{Code: "unauthorized", Message: "the shopper token is not valid (not signed by this server's token secret, or altered)"}}

// verifyToken checks a token's signature and expiry and returns its claims.
func (s *Server) verifyToken(tok string) (tokenClaims, error) {
	var c tokenClaims
	dot := strings.LastIndexByte(tok, '.')
	if dot <= len(tokenPrefix) {
		return c, errBadToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		return c, errBadToken
	}
	mac := hmac.New(sha256.New, s.tokenSecret)
	mac.Write([]byte(tok[:dot]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return c, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(tok[len(tokenPrefix):dot])
	if err != nil || json.Unmarshal(payload, &c) != nil || c.Sub == "" {
		return c, errBadToken
	}
	if exp := time.Unix(c.Exp, 0); !s.opts.Now().Before(exp) {
		return c, &apiError{http.StatusUnauthorized, Error{Code: "unauthorized",
			Message: "the shopper token expired at " + exp.UTC().Format(time.RFC3339) + "; ask the shop's back end for a new one"}}
	}
	return c, nil
}

// checkTokenScope refuses a shopper token's request outside its scope.
func checkTokenScope(r *http.Request, rt *route, shopper string) error {
	forbidden := func(msg string) error {
		return &apiError{http.StatusForbidden, Error{Code: "forbidden", Message: msg}}
	}
	switch tokenScopes[rt.method+" "+rt.path] {
	case tokenCatalog:
		if u := r.URL.Query().Get("user"); u != "" && u != shopper {
			return forbidden(fmt.Sprintf("user: this shopper token is for shopper %q and may not personalize for %q", shopper, u))
		}
		return nil
	case tokenOwn:
		if id := r.PathValue("id"); id != shopper {
			return forbidden(fmt.Sprintf("this shopper token is for shopper %q, not %q", shopper, id))
		}
		return nil
	case tokenEvents, tokenBody:
		return nil
	case tokenRefused:
	}
	return forbidden("a shopper token reaches only its shopper's recommendations, buy-again, rerank and storefront events, and the catalog; " +
		rt.method + " " + rt.path + " needs an API key")
}

// principal is who a request was admitted as: an API key, or a shopper
// token (shopper set; key is the key that minted it).
type principal struct {
	key     *ringKey
	shopper string
}

type principalKey struct{}

// tokenShopper returns the shopper of the token a request carries, or ""
// when it carries an API key (or the server has no keys).
func tokenShopper(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p.shopper
}
