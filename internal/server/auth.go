package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
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
}

// keyring finds the key a request presents.
type keyring map[string]Key // by SHA-256

func newKeyring(keys []Key) keyring {
	k := keyring{}
	for _, key := range keys {
		k[key.SHA256] = key
	}
	return k
}

// presented returns the key in the Authorization (Bearer) or X-API-Key
// header.
func presented(r *http.Request) string {
	if v := r.Header.Get("X-API-Key"); v != "" {
		return v
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

// authorize checks that the request may use a route needing role.
func (s *Server) authorize(r *http.Request, need Role) error {
	if need == RoleNone || len(s.keys) == 0 {
		return nil
	}
	plain := presented(r)
	if plain == "" {
		return &apiError{http.StatusUnauthorized, Error{Code: "unauthorized",
			Message: "an API key is required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"}}
	}
	sum := sha256.Sum256([]byte(plain))
	key, ok := s.keys[hex.EncodeToString(sum[:])]
	if !ok {
		return &apiError{http.StatusUnauthorized, Error{Code: "unauthorized", Message: "the API key is not valid"}}
	}
	if key.Role < need {
		return &apiError{http.StatusForbidden, Error{Code: "forbidden",
			Message: fmt.Sprintf("this route needs a %s key; key %q has the %s role", need, key.Name, key.Role)}}
	}
	return nil
}
