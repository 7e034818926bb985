package server

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tailorhq/tailor"
)

// storefrontTypes are the event types a shopper's browser may post.
var storefrontTypes = []tailor.EventType{tailor.View, tailor.Click, tailor.AddToCart, tailor.RemoveFromCart, tailor.Purchase, tailor.Rating}

// MaxStorefrontBatch is the most events one storefront post may carry.
const MaxStorefrontBatch = 100

// sameOrigin refuses a request a browser sent from another site: its
// Sec-Fetch-Site, when sent, must be same-origin, and its Origin, when
// sent, must be this server's. Clients that are not browsers send neither.
// A page of an allowed origin (Options.AllowedOrigins) passes too.
func (s *Server) sameOrigin(r *http.Request) error {
	if s.allowedOrigin(r.Header.Get("Origin")) {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return &apiError{http.StatusForbidden, Error{Code: "forbidden", Message: "the storefront route takes events from this server's own pages only (Sec-Fetch-Site: " + site + ")"}}
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return &apiError{http.StatusForbidden, Error{Code: "forbidden", Message: "the storefront route takes events from this server's own pages only (Origin: " + o + ")"}}
		}
	}
	return nil
}

func (s *Server) storefrontEvents(r *http.Request) (any, error) {
	if err := s.sameOrigin(r); err != nil {
		return nil, err
	}
	return s.insertEvents(r, MaxStorefrontBatch, func(e *tailor.Event) []tailor.FieldError {
		var errs []tailor.FieldError
		if !slices.Contains(storefrontTypes, e.Type) {
			errs = append(errs, tailor.FieldError{Field: "type", Reason: "a storefront event is one of view, click, add_to_cart, remove_from_cart, purchase, rating; got " + string(e.Type)})
		}
		if !e.Timestamp.IsZero() {
			errs = append(errs, tailor.FieldError{Field: "timestamp", Reason: "storefront events are stamped by the server; leave it out"})
		}
		if shopper := tokenShopper(r.Context()); shopper != "" && string(e.UserID) != shopper {
			errs = append(errs, tailor.FieldError{Field: "user_id", Reason: fmt.Sprintf("this shopper token is for shopper %q; got %q", shopper, e.UserID)})
		} else if e.UserID == "" && e.SessionID == "" {
			errs = append(errs, tailor.FieldError{Field: "user_id", Reason: "a storefront event names its shopper (user_id) or anonymous session (session_id)"})
		}
		return errs
	})
}
