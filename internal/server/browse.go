package server

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// ItemsQuery is the query of GET /v1/items.
type ItemsQuery struct {
	Category string `query:"category" doc:"keep only the offerable items under this category path (in it or a sub-category)"`
	PageQuery
}

// CategoriesBody is the body of GET /v1/categories.
type CategoriesBody struct {
	Categories []store.CategoryCount `json:"categories"`
}

// StatsQuery is the query of GET /v1/stats.
type StatsQuery struct {
	Days *int `query:"days" doc:"how many days of events per day, counted back from the last event (1 to 3660, default 400)"`
}

// Stats is the body of GET /v1/stats: what the store holds.
type Stats struct {
	Items  int `json:"items"`
	Users  int `json:"users"`
	Events int `json:"events"`
	// From and To are the first and last days of EventsPerDay.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// EventsPerDay counts the events of each type per UTC day.
	EventsPerDay []store.DayCount `json:"events_per_day"`
	// EventsByType totals the events of each type over the days shown.
	EventsByType map[tailor.EventType]int `json:"events_by_type"`
}

// AuthBody is the body of GET /v1/auth: the key a request carries.
type AuthBody struct {
	// Open is true when the server has no keys: every request may do
	// everything (Role is then admin).
	Open bool   `json:"open"`
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
}

// storefrontTypes are the event types a shopper's browser may post.
var storefrontTypes = []tailor.EventType{tailor.View, tailor.Click, tailor.AddToCart, tailor.RemoveFromCart, tailor.Purchase, tailor.Rating}

// MaxStorefrontBatch is the most events one storefront post may carry.
const MaxStorefrontBatch = 100

var kindParam = param{name: "kind", in: "path", typ: "string", doc: "the report's kind: import or evaluation"}

func (s *Server) browseRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/auth", role: RoleRead, summary: "The name and role of the API key the request carries (a sign-in check)",
			response: AuthBody{}, handle: s.auth},
		{method: "GET", path: "/v1/categories", role: RoleRead, summary: "The category paths with the number of offerable items under each",
			response: CategoriesBody{}, handle: s.categories},
		{method: "GET", path: "/v1/stats", role: RoleWrite, summary: "Counts of items, shoppers and events, and events per day and type",
			response: Stats{}, query: withQuery(s.stats)},
		{method: "GET", path: "/v1/reports/{kind}", role: RoleWrite, summary: "The latest report of a kind: the last import's cleaning report or the last stored evaluation",
			params: []param{kindParam}, response: store.Report{}, handle: s.report},
		{method: "POST", path: "/v1/storefront/events", role: RoleRead, summary: "Events from a shopper's browser (same origin only): view, click, add_to_cart, remove_from_cart, purchase, rating; stamped with the server's time",
			body: []tailor.Event{}, response: EventsResult{}, handle: s.storefrontEvents},
	}
}

func (s *Server) listItems(r *http.Request, q *ItemsQuery) (any, error) {
	p, err := pageRequest(&q.PageQuery)
	if err != nil {
		return nil, err
	}
	if q.Category != "" {
		return s.db.CategoryItems(r.Context(), q.Category, p)
	}
	return s.db.Items(r.Context(), p)
}

func (s *Server) auth(r *http.Request) (any, error) {
	if len(s.keys) == 0 {
		return AuthBody{Open: true, Role: RoleAdmin.String()}, nil
	}
	plain, err := presented(r)
	if err != nil {
		return nil, err
	}
	// authorize has admitted the key: it is one of s.keys.
	key, ok := s.keys.find(sha256.Sum256([]byte(plain)))
	if !ok {
		return nil, &apiError{http.StatusUnauthorized, Error{Code: "unauthorized", Message: "the API key is not valid"}}
	}
	return AuthBody{Name: key.Name, Role: key.Role.String()}, nil
}

func (s *Server) categories(r *http.Request) (any, error) {
	cats, err := s.db.Categories(r.Context())
	if err != nil {
		return nil, err
	}
	if cats == nil {
		cats = []store.CategoryCount{}
	}
	return CategoriesBody{Categories: cats}, nil
}

func (s *Server) stats(r *http.Request, q *StatsQuery) (any, error) {
	days := 400
	if q.Days != nil {
		if *q.Days < 1 || *q.Days > 3660 {
			return nil, badRequest("days: %d must be an integer from 1 to 3660", *q.Days)
		}
		days = *q.Days
	}
	ctx := r.Context()
	c, err := s.db.Counts(ctx)
	if err != nil {
		return nil, err
	}
	st := Stats{Items: c.Items, Users: c.Users, Events: c.Events, EventsPerDay: []store.DayCount{}, EventsByType: map[tailor.EventType]int{}}
	if c.Events == 0 {
		return st, nil
	}
	last, err := s.db.Events(ctx, store.EventQuery{}, store.PageRequest{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(last.Data) == 0 {
		return st, nil
	}
	since := last.Data[0].Timestamp.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1-days)
	perDay, err := s.db.EventsPerDay(ctx, since)
	if err != nil {
		return nil, err
	}
	if len(perDay) > 0 {
		st.EventsPerDay, st.From, st.To = perDay, perDay[0].Day, perDay[len(perDay)-1].Day
	}
	for _, d := range perDay {
		st.EventsByType[d.Type] += d.Events
	}
	return st, nil
}

func (s *Server) report(r *http.Request) (any, error) {
	kind := r.PathValue("kind")
	if kind != "import" && kind != "evaluation" {
		return nil, badRequest("kind: %q is not a report kind (import or evaluation)", kind)
	}
	rep, err := s.db.Report(r.Context(), kind)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// sameOrigin refuses a request a browser sent from another site: its
// Sec-Fetch-Site, when sent, must be same-origin, and its Origin, when
// sent, must be this server's. Clients that are not browsers send neither.
func sameOrigin(r *http.Request) error {
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
	if err := sameOrigin(r); err != nil {
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
		if e.UserID == "" && e.SessionID == "" {
			errs = append(errs, tailor.FieldError{Field: "user_id", Reason: "a storefront event names its shopper (user_id) or anonymous session (session_id)"})
		}
		return errs
	})
}
