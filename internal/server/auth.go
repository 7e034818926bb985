package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Role is what an API key may do. Each role may do everything the roles
// below it may.
type Role int

// Roles, from least to most privileged.
const (
	// RoleNone marks routes open to anyone (health, the OpenAPI document).
	RoleNone Role = iota
	// RoleRead may read the catalog (and, later, recommendations).
	RoleRead
	// RoleWrite may ingest items, users and events, and read shoppers and
	// their events.
	RoleWrite
	// RoleAdmin may delete records and manage models and configuration.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole parses "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q: use read, write or admin", s)
}

// Key is an API key as the server knows it: by the SHA-256 of the key.
type Key struct {
	Name string
	Role Role
	// SHA256 is the lower-case hex SHA-256 of the key.
	SHA256 string
	// RateLimit is how many requests a second the key may make on
	// average (0: no limit), Burst how many at once (0: RateLimit rounded
	// up, at least 1). Past it a request is answered 429 with Retry-After.
	RateLimit float64
	Burst     int
}

// keyring finds the key a request presents.
type keyring []ringKey

// ringKey is a configured key with its SHA-256 decoded; valid is false
// when Key.SHA256 is not one (such a key matches nothing, but still
// counts: a server with keys configured is never open).
type ringKey struct {
	Key
	sum   [sha256.Size]byte
	valid bool
	// limiter is the key's token bucket; nil without a rate limit.
	limiter *rate.Limiter
}

func newKeyring(keys []Key) keyring {
	var k keyring
	for _, key := range keys {
		rk := ringKey{Key: key}
		if key.RateLimit > 0 {
			burst := key.Burst
			if burst <= 0 {
				burst = max(1, int(math.Ceil(key.RateLimit)))
			}
			rk.limiter = rate.NewLimiter(rate.Limit(key.RateLimit), burst)
		}
		if b, err := hex.DecodeString(key.SHA256); err == nil && len(b) == sha256.Size {
			copy(rk.sum[:], b)
			rk.valid = true
		}
		k = append(k, rk)
	}
	return k
}

// find returns the key whose SHA-256 is sum, comparing with every key in
// constant time (no early exit), so that timing tells nothing about the
// configured keys.
func (k keyring) find(sum [sha256.Size]byte) (*ringKey, bool) {
	var found *ringKey
	match := 0
	for i := range k {
		if subtle.ConstantTimeCompare(k[i].sum[:], sum[:]) == 1 && k[i].valid {
			found, match = &k[i], 1
		}
	}
	return found, match == 1
}

// presented returns the key in the X-API-Key header or the Authorization
// header (scheme Bearer, in any case), and an error when the two headers
// name different keys: which one was meant cannot be told.
func presented(r *http.Request) (string, error) {
	api := strings.TrimSpace(r.Header.Get("X-API-Key"))
	var bearer string
	if auth := strings.TrimSpace(r.Header.Get("Authorization")); auth != "" {
		scheme, v, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", &apiError{http.StatusUnauthorized, Error{Code: "unauthorized",
				Message: "Authorization: the scheme must be Bearer ('Authorization: Bearer KEY')"}}
		}
		bearer = strings.TrimSpace(v)
	}
	if api != "" && bearer != "" && api != bearer {
		return "", &apiError{http.StatusUnauthorized, Error{Code: "unauthorized",
			Message: "the X-API-Key and Authorization headers carry different keys; send one"}}
	}
	return cmp.Or(api, bearer), nil
}

// authorize checks that the request may use the route, and returns who
// it was admitted as (the zero principal when the server has no keys or the
// route needs none).
func (s *Server) authorize(r *http.Request, rt *route) (principal, error) {
	need := rt.role
	if need == RoleNone || len(s.keys) == 0 {
		return principal{}, nil
	}
	plain, err := presented(r)
	if err != nil {
		return principal{}, err
	}
	if plain == "" {
		return principal{}, &apiError{http.StatusUnauthorized, Error{Code: "unauthorized",
			Message: "an API key is required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"}}
	}
	var p principal
	if strings.HasPrefix(plain, tokenPrefix) {
		c, err := s.verifyToken(plain)
		if err != nil {
			return p, err
		}
		// The key that minted it must still be there, and still able to
		// mint: removing it (or lowering its role) revokes its tokens.
		p.key = s.keys.named(c.Key)
		if p.key == nil || p.key.Role < RoleWrite {
			return p, &apiError{http.StatusUnauthorized, Error{Code: "unauthorized",
				Message: fmt.Sprintf("the shopper token was minted by key %q, which is no longer a write or admin key: the token is revoked", c.Key)}}
		}
		p.shopper = c.Sub
	} else {
		key, ok := s.keys.find(sha256.Sum256([]byte(plain)))
		if !ok {
			return p, &apiError{http.StatusUnauthorized, Error{Code: "unauthorized", Message: "the API key is not valid"}}
		}
		p.key = key
	}
	if err := s.allow(r.Context(), p.key); err != nil {
		return p, err
	}
	if p.shopper != "" {
		return p, checkTokenScope(r, rt, p.shopper)
	}
	if p.key.Role < need {
		return p, &apiError{http.StatusForbidden, Error{Code: "forbidden",
			Message: fmt.Sprintf("this route needs a %s key; key %q has the %s role", need, p.key.Name, p.key.Role)}}
	}
	return p, nil
}

// allow takes one request from the key's rate limit, shared by the
// replicas when a shared limiter is set and answers, or says when to
// retry.
func (s *Server) allow(ctx context.Context, key *ringKey) error {
	if key.limiter == nil || s.opts.SharedLimiter == nil {
		return key.allow()
	}
	ok, wait, err := s.opts.SharedLimiter.Allow(ctx, key.Name, key.RateLimit, key.limiter.Burst())
	if err != nil {
		return key.allow()
	}
	if ok {
		return nil
	}
	return key.limited(wait)
}

// limited is the error of a request over the key's rate limit, to retry
// after wait.
func (key *ringKey) limited(wait time.Duration) error {
	return &retryAfter{seconds: max(1, int(math.Ceil(wait.Seconds()))), apiError: &apiError{http.StatusTooManyRequests, Error{Code: "rate_limited",
		Message: fmt.Sprintf("key %q may make %g requests a second (bursts of %d): retry after the time in Retry-After", key.Name, key.RateLimit, key.limiter.Burst())}}}
}

// allow takes one request from the key's rate limit in this process, or
// says when to retry.
func (key *ringKey) allow() error {
	if key.limiter == nil || key.limiter.Allow() {
		return nil
	}
	// When a token comes, as whole seconds (at least 1).
	res := key.limiter.Reserve()
	wait := res.Delay()
	res.Cancel()
	return key.limited(wait)
}

// named returns the key called name, or nil.
func (k keyring) named(name string) *ringKey {
	for i := range k {
		if k[i].Name == name && k[i].valid {
			return &k[i]
		}
	}
	return nil
}

// AuthBody is the body of GET /v1/auth: the key a request carries.
type AuthBody struct {
	// Open is true when the server has no keys: every request may do
	// everything (Role is then admin).
	Open bool   `json:"open"`
	Name string `json:"name,omitempty"`
	// Role is the key's role, or "shopper" for a shopper token, whose
	// shopper is UserID.
	Role   string `json:"role"`
	UserID string `json:"user_id,omitempty"`
}

func (s *Server) auth(r *http.Request) (any, error) {
	if len(s.keys) == 0 {
		return AuthBody{Open: true, Role: RoleAdmin.String()}, nil
	}
	// authorize has admitted the request and recorded who it is.
	p, _ := r.Context().Value(principalKey{}).(principal)
	if p.key == nil {
		return nil, &apiError{http.StatusUnauthorized, Error{Code: "unauthorized", Message: "the API key is not valid"}}
	}
	if p.shopper != "" {
		return AuthBody{Name: p.key.Name, Role: "shopper", UserID: p.shopper}, nil
	}
	return AuthBody{Name: p.key.Name, Role: p.key.Role.String()}, nil
}
