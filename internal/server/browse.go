package server

import (
	"net/http"
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

var kindParam = param{name: "kind", in: "path", typ: "string", doc: "the report's kind: import or evaluation"}

// browseRoutes are the routes a front end needs beside the lists: the
// catalog by category, what the store holds, the last reports, the key's
// role, and shoppers' own events.
func (s *Server) browseRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/auth", role: RoleRead, summary: "The name and role of the API key the request carries (a sign-in check)",
			response: AuthBody{}, handle: s.auth, whoCalls: true},
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
