package server_test

import (
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/server"
)

// TestShopperTokens mints tokens with a write key and uses them as a
// browser would: each reaches its own shopper's routes and the catalog
// only, and stops working when it expires, is altered, comes from another
// secret, or its key is removed.
func TestShopperTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	keys := []server.Key{
		{Name: "backend", Role: server.RoleWrite, SHA256: config.HashKey("k-backend"), RateLimit: 1, Burst: 40},
		{Name: "reader", Role: server.RoleRead, SHA256: config.HashKey("k-reader")},
	}
	f := newFixture(t, server.Options{Keys: keys, TokenSecret: secret, Now: func() time.Time { return now }})
	if code := f.do("POST", "/v1/events", goodEvents, nil, "X-API-Key", "k-backend"); code != 200 {
		t.Fatalf("post events: %d", code)
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	var tok server.TokenResult
	if code := f.do("POST", "/v1/users/u1/token", `{"ttl_seconds": 600}`, &tok, "X-API-Key", "k-backend"); code != 200 {
		t.Fatalf("mint: %d", code)
	}
	if tok.UserID != "u1" || !tok.ExpiresAt.Equal(now.Add(10*time.Minute)) || !strings.HasPrefix(tok.Token, "tst1.") {
		t.Errorf("minted %+v", tok)
	}
	var who server.AuthBody
	if code := f.do("GET", "/v1/auth", "", &who, bearer(tok.Token)...); code != 200 || who.Role != "shopper" || who.UserID != "u1" || who.Name != "backend" {
		t.Errorf("GET /v1/auth with the token: %d %+v", code, who)
	}

	cases := []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"own buy-again", "GET", "/v1/users/u1/buy-again", "", 503, ""}, // the fixture has no recommender
		{"another's buy-again", "GET", "/v1/users/u2/buy-again", "", 403, `this shopper token is for shopper "u1", not "u2"`},
		{"another's recommendations", "GET", "/v1/users/u2/recommendations", "", 403, `not "u2"`},
		{"search for another", "GET", "/v1/search?q=tea&user=u2", "", 403, `user: this shopper token is for shopper "u1"`},
		{"the catalog", "GET", "/v1/items", "", 200, ""},
		{"another's events", "GET", "/v1/users/u2/events", "", 403, "needs an API key"},
		{"own events listing", "GET", "/v1/users/u1/events", "", 403, "needs an API key"},
		{"own export", "GET", "/v1/users/u1/export", "", 403, "needs an API key"},
		{"the shoppers", "GET", "/v1/users", "", 403, "needs an API key"},
		{"analytics", "GET", "/v1/analytics/rfm", "", 403, "needs an API key"},
		{"mint another token", "POST", "/v1/users/u2/token", "", 403, "needs an API key"},
		{"own storefront event", "POST", "/v1/storefront/events", `[{"user_id":"u1","item_id":"i1","type":"click"}]`, 200, ""},
		{"another's storefront event", "POST", "/v1/storefront/events", `[{"user_id":"u2","item_id":"i1","type":"click"}]`, 400, `user_id: this shopper token is for shopper "u1"; got "u2"`},
		{"anonymous storefront event", "POST", "/v1/storefront/events", `[{"session_id":"s9","item_id":"i1","type":"click"}]`, 400, `user_id`},
	}
	for _, c := range cases {
		var e errResp
		code := f.do(c.method, c.path, c.body, &e, bearer(tok.Token)...)
		msg := e.Error.Message
		for _, r := range e.Error.Rows {
			msg += fmt.Sprintf("; row %d: %s: %s", r.Index, r.Field, r.Reason)
		}
		if code != c.want || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, msg, c.want, c.msg)
		}
	}

	refused := []struct {
		name, token, msg string
	}{
		{"expired", "", "expired at 2026-11-28T12:10:00Z"},
		{"altered", alter(tok.Token), "not valid"},
		{"from another secret", mintWith(t, []byte("another secret, 32 bytes or more!"), keys, now), "not valid"},
		{"not a token", "tst1.garbage", "not valid"},
	}
	for _, c := range refused {
		tokn := c.token
		if c.name == "expired" {
			now = now.Add(10 * time.Minute)
			tokn = tok.Token
		}
		var e errResp
		if code := f.do("GET", "/v1/users/u1/buy-again", "", &e, bearer(tokn)...); code != 401 || !strings.Contains(e.Error.Message, c.msg) {
			t.Errorf("%s token: %d %q, want 401 %q", c.name, code, e.Error.Message, c.msg)
		}
	}

	// Bad requests to mint name what is wrong; a read key may not mint.
	for _, c := range []struct {
		path, body, key string
		want            int
		msg             string
	}{
		{"/v1/users/u1/token", `{"ttl_seconds": 30}`, "k-backend", 400, "ttl_seconds: 30 is outside 60 to 86400"},
		{"/v1/users/u1/token", `{"ttl_seconds": 90000}`, "k-backend", 400, "ttl_seconds"},
		{"/v1/users/u1/token", `{"ttl": 60}`, "k-backend", 400, "ttl"},
		{"/v1/users/%20/token", "", "k-backend", 400, "id: must not be blank"},
		{"/v1/users/u1/token", "", "k-reader", 403, "needs a write key"},
	} {
		var e errResp
		if code := f.do("POST", c.path, c.body, &e, "X-API-Key", c.key); code != c.want || !strings.Contains(e.Error.Message, c.msg) {
			t.Errorf("POST %s %s: %d %q, want %d %q", c.path, c.body, code, e.Error.Message, c.want, c.msg)
		}
	}

	// A token's requests count against its key's rate limit (a burst of 40,
	// most of it used above).
	var fresh server.TokenResult
	f.do("POST", "/v1/users/u1/token", "", &fresh, "X-API-Key", "k-backend")
	limited := false
	for range 40 {
		if code := f.do("GET", "/v1/items", "", nil, bearer(fresh.Token)...); code == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("40 token requests past a burst of 40 of the minting key were never limited")
	}

	// Removing the key that minted a token revokes it: a server with the
	// same secret but without that key refuses it.
	g := newFixture(t, server.Options{Keys: keys[1:], TokenSecret: secret, Now: func() time.Time { return now }})
	var e errResp
	if code := g.do("GET", "/v1/items", "", &e, bearer(fresh.Token)...); code != 401 || !strings.Contains(e.Error.Message, `minted by key "backend", which is no longer a write or admin key`) {
		t.Errorf("a token of a removed key: %d %q", code, e.Error.Message)
	}
}

// alter flips a character of a token's claims, keeping its signature.
func alter(tok string) string {
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(claims), `"u1"`, `"u2"`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	return strings.Join(parts, ".")
}

// mintWith mints a token for u1 on a server with another secret.
func mintWith(t *testing.T, secret []byte, keys []server.Key, now time.Time) string {
	f := newFixture(t, server.Options{Keys: keys, TokenSecret: secret, Now: func() time.Time { return now }})
	var tok server.TokenResult
	if code := f.do("POST", "/v1/users/u1/token", "", &tok, "X-API-Key", "k-backend"); code != 200 {
		t.Fatalf("mint: %d", code)
	}
	return tok.Token
}

// TestCORS answers the preflight of an allowed origin and marks its
// answers readable by it; another origin gets neither, and the storefront
// route takes events from an allowed origin only.
func TestCORS(t *testing.T) {
	f := newFixture(t, server.Options{AllowedOrigins: []string{"https://shop.example"}})
	pre := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("OPTIONS", "/v1/users/u1/recommendations", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		return rec
	}
	rec := pre("https://shop.example")
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight from the allowed origin: %d %v", rec.Code, rec.Header())
	}
	if rec := pre("https://evil.example"); rec.Code == 204 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", rec.Code, rec.Header())
	}
	body := `[{"user_id":"u1","item_id":"i1","type":"view"}]`
	for origin, want := range map[string]int{"https://shop.example": 200, "https://evil.example": 403} {
		req := httptest.NewRequest("POST", "/v1/storefront/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("storefront events from %s: %d %s, want %d", origin, rec.Code, rec.Body, want)
		}
		allowed := rec.Header().Get("Access-Control-Allow-Origin")
		if (want == 200) != (allowed == origin) {
			t.Errorf("storefront events from %s: Access-Control-Allow-Origin %q", origin, allowed)
		}
	}
}
