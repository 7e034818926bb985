package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/server"
)

// TestEveryRouteEnforcesItsRole reads the route list from the OpenAPI
// document and sends every route a request with no key and with a key of
// each role: a role below the one the document names is refused (401
// without a key, 403 with one), and a role at or above it is let through
// (whatever the route then answers, not 401 or 403).
func TestEveryRouteEnforcesItsRole(t *testing.T) {
	keys := map[server.Role]string{server.RoleRead: "read-key-0123456789", server.RoleWrite: "write-key-0123456789", server.RoleAdmin: "admin-key-0123456789"}
	var ks []server.Key
	for role, k := range keys {
		ks = append(ks, server.Key{Name: role.String(), Role: role, SHA256: sha(k)})
	}
	f := newFixture(t, server.Options{Keys: ks})
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	var doc struct {
		Paths map[string]map[string]struct {
			Description string `json:"description"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	mint := func(user string) string {
		var tok server.TokenResult
		if code := f.do("POST", "/v1/users/"+user+"/token", "", &tok, "X-API-Key", keys[server.RoleWrite]); code != 200 {
			t.Fatalf("mint a token for %s: %d", user, code)
		}
		return tok.Token
	}
	// Tokens for the shopper the routes name (x1), and for another.
	own, other := mint("x1"), mint("x2")
	needs := regexp.MustCompile(`Needs an API key with the (\w+) role`)
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	routes := 0
	for _, path := range paths {
		for method, op := range doc.Paths[path] {
			method = strings.ToUpper(method)
			need := server.RoleNone
			if m := needs.FindStringSubmatch(op.Description); m != nil {
				var err error
				if need, err = server.ParseRole(m[1]); err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
			}
			routes++
			target := strings.NewReplacer("{id}", "x1", "{name}", "x1", "{item_id}", "x1").Replace(path)
			for _, role := range []server.Role{server.RoleNone, server.RoleRead, server.RoleWrite, server.RoleAdmin} {
				req := httptest.NewRequest(method, target, strings.NewReader(""))
				if role != server.RoleNone {
					req.Header.Set("X-API-Key", keys[role])
				}
				rec := httptest.NewRecorder()
				f.srv.ServeHTTP(rec, req)
				refused := rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden
				switch {
				case role < need && !refused:
					t.Errorf("%s %s with a %s key: %d, want it refused (the route needs %s)", method, target, role, rec.Code, need)
				case role < need && role == server.RoleNone && rec.Code != http.StatusUnauthorized:
					t.Errorf("%s %s without a key: %d, want 401", method, target, rec.Code)
				case role >= need && refused:
					t.Errorf("%s %s with a %s key: %d %s, but the route needs %s", method, target, role, rec.Code, rec.Body, need)
				}
			}
			// A shopper token is let through where the document says so,
			// and refused (403) everywhere else; a token for another
			// shopper is refused on the routes about shopper x1.
			tokenMay := strings.Contains(op.Description, "A shopper token may call it")
			ownOnly := strings.Contains(op.Description, "for its own shopper")
			for _, tok := range []string{own, other} {
				req := httptest.NewRequest(method, target, strings.NewReader(""))
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				f.srv.ServeHTTP(rec, req)
				refused := rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden
				want := tokenMay && (tok == own || !ownOnly)
				if need == server.RoleNone {
					want = true
				}
				if want == refused {
					t.Errorf("%s %s with a shopper token for %s: %d %s (let through: %v)", method, target,
						map[bool]string{true: "x1", false: "x2"}[tok == own], rec.Code, rec.Body, want)
				}
			}
		}
	}
	t.Logf("%d routes checked with 4 keys and 2 shopper tokens each", routes)
	if routes < 30 {
		t.Errorf("%d routes in the OpenAPI document; the list looks short", routes)
	}
}
