package server

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/store"
)

// Health is the body of GET /healthz.
type Health struct {
	// Status is "ok", or "degraded" when something serving can do
	// without is failing (the requests are served meanwhile).
	Status string `json:"status"`
	// Degraded says what fails, by name.
	Degraded map[string]string `json:"degraded,omitempty"`
}

// UpsertResult is the body of a successful item or user batch.
type UpsertResult struct {
	// Upserted is the number of records inserted or replaced.
	Upserted int `json:"upserted"`
}

// EventsResult is the body of a successful event batch.
type EventsResult struct {
	// Inserted is the number of events stored.
	Inserted int `json:"inserted"`
	// Duplicates is the number of events whose id was stored already.
	Duplicates int `json:"duplicates"`
	// IDs are the ids of the batch's events, in order, including the
	// generated ones.
	IDs []string `json:"ids"`
}

// DeleteResult is the body of a successful delete.
type DeleteResult struct {
	Deleted string `json:"deleted"`
	// EventsDeleted is the number of events removed with the record.
	EventsDeleted int `json:"events_deleted"`
}

// PageQuery is the query of the paged lists.
type PageQuery struct {
	Limit  *int   `query:"limit" doc:"page size, 1 to 1000 (default 100)"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

// MaxEventTypes is the most event types one listing may name.
const MaxEventTypes = 32

// EventsQuery is the query of the event listings.
type EventsQuery struct {
	Type  []string  `query:"type" doc:"keep only this event type; repeat (or separate by commas) for several, at most 32"`
	Since time.Time `query:"since" doc:"RFC 3339 time: events at or after it"`
	Until time.Time `query:"until" doc:"RFC 3339 time: events before it"`
	PageQuery
}

var idParam = param{name: "id", in: "path", typ: "string", doc: "the record's id"}

func (s *Server) routeTable() []route {
	withID := func(ps ...param) []param { return append([]param{idParam}, ps...) }
	return []route{
		{method: "GET", path: "/healthz", role: RoleNone, summary: "Check that the server and its store work",
			response: Health{}, handle: s.health},
		{method: "GET", path: "/openapi.json", role: RoleNone, summary: "This API's OpenAPI 3.1 document",
			response: map[string]any{}, handle: s.openAPIHandler},
		{method: "GET", path: "/metrics", role: RoleRead, summary: "Metrics in the Prometheus text format: requests and latency per route and status, caches, background builds, model loads, events ingested",
			response: "", raw: s.metricsRoute()},

		{method: "POST", path: "/v1/items", role: RoleWrite, summary: "Insert or replace a batch of items (all or nothing)",
			body: []tailor.Item{}, response: UpsertResult{}, handle: s.postItems},
		{method: "GET", path: "/v1/items", role: RoleRead, summary: "List items in id order",
			response: store.Page[tailor.Item]{}, query: withQuery(s.listItems)},
		{method: "GET", path: "/v1/items/{id}", role: RoleRead, summary: "Get an item", params: withID(),
			response: tailor.Item{}, handle: s.getItem},
		{method: "DELETE", path: "/v1/items/{id}", role: RoleAdmin, summary: "Delete an item and its events", params: withID(),
			response: DeleteResult{}, handle: s.deleteItem},
		{method: "GET", path: "/v1/items/{id}/events", role: RoleWrite, summary: "List an item's events, newest first",
			params: withID(), response: store.Page[tailor.Event]{}, query: withQuery(s.itemEvents)},

		{method: "POST", path: "/v1/users", role: RoleWrite, summary: "Insert or replace a batch of users (all or nothing)",
			body: []tailor.User{}, response: UpsertResult{}, handle: s.postUsers},
		{method: "GET", path: "/v1/users", role: RoleWrite, summary: "List users in id order",
			response: store.Page[tailor.User]{}, query: withQuery(s.listUsers)},
		{method: "GET", path: "/v1/users/{id}", role: RoleWrite, summary: "Get a user", params: withID(),
			response: tailor.User{}, handle: s.getUser},
		{method: "DELETE", path: "/v1/users/{id}", role: RoleAdmin, summary: "Delete a user and all their events", params: withID(),
			response: DeleteResult{}, handle: s.deleteUser},
		{method: "GET", path: "/v1/users/{id}/events", role: RoleWrite, summary: "List a user's events, newest first",
			params: withID(), response: store.Page[tailor.Event]{}, query: withQuery(s.userEvents)},

		{method: "POST", path: "/v1/events", role: RoleWrite, summary: "Insert a batch of events (all or nothing; ids make it idempotent)",
			body: []tailor.Event{}, response: EventsResult{}, handle: s.postEvents},
		{method: "GET", path: "/v1/sessions/{id}/events", role: RoleWrite, summary: "List an anonymous session's events, newest first",
			params: withID(), response: store.Page[tailor.Event]{}, query: withQuery(s.sessionEvents)},
	}
}

// metricsRoute serves the metrics, or answers 503 without a gatherer.
func (s *Server) metricsRoute() http.Handler {
	if s.opts.Gatherer == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = s.writeJSON(w, http.StatusServiceUnavailable, errorBody{Error{Code: "unavailable", Message: "this server exports no metrics"}})
		})
	}
	return metricsHandler(s.opts.Gatherer)
}

func (s *Server) health(r *http.Request) (any, error) {
	if err := s.db.Ping(r.Context()); err != nil {
		return nil, &apiError{http.StatusServiceUnavailable, Error{Code: "unavailable", Message: "the store is not available: " + err.Error()}}
	}
	h := Health{Status: "ok"}
	for name, check := range s.opts.Checks {
		if err := check(); err != nil {
			if h.Degraded == nil {
				h.Degraded = map[string]string{}
			}
			h.Status, h.Degraded[name] = "degraded", err.Error()
		}
	}
	return h, nil
}

// invalidBatch is the error for a batch with bad rows.
func invalidBatch(rows []ingest.RowError, total int) error {
	slices.SortStableFunc(rows, func(a, b ingest.RowError) int { return a.Index - b.Index })
	bad := map[int]bool{}
	for _, r := range rows {
		bad[r.Index] = true
	}
	return &apiError{http.StatusBadRequest, Error{Code: "invalid_batch",
		Message: strconv.Itoa(len(bad)) + " of " + strconv.Itoa(total) + " rows are invalid; nothing was written",
		Rows:    rows}}
}

// rowErrors turns a record's field errors into row errors.
func rowErrors(rows []ingest.RowError, i int, errs []tailor.FieldError) []ingest.RowError {
	for _, fe := range errs {
		rows = append(rows, ingest.RowError{Index: i, FieldError: fe})
	}
	return rows
}

func decodeBatch[T any](s *Server, r *http.Request) ([]T, []ingest.RowError, error) {
	if err := checkJSONType(r); err != nil {
		return nil, nil, err
	}
	rows, bad, err := ingest.DecodeArray[T](r.Body, s.opts.MaxBatch)
	if err != nil {
		var (
			mbe *http.MaxBytesError
			btl *ingest.BatchTooLargeError
		)
		if errors.As(err, &mbe) || errors.As(err, &btl) {
			return nil, nil, err
		}
		return nil, nil, badRequest("%v", err)
	}
	if len(rows) == 0 {
		return nil, nil, badRequest("the batch is empty")
	}
	return rows, bad, nil
}

// checkJSONType refuses a body whose Content-Type, when given, is not
// application/json (parameters such as charset=utf-8 allowed).
func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == "application/json" {
		return nil
	}
	if mt, params, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return &apiError{http.StatusUnsupportedMediaType, Error{Code: "bad_request", Message: "Content-Type must be application/json, got " + ct}}
	}
	return nil
}

// undecoded marks the rows that failed to decode, which are not validated.
func undecoded(bad []ingest.RowError, n int) []bool {
	skip := make([]bool, n)
	for _, r := range bad {
		skip[r.Index] = true
	}
	return skip
}

// postBatch decodes a batch of T from the request, checks every row with
// check (which may also fill in defaults), and, if no row is bad, writes
// the batch in one transaction with write. Otherwise it writes nothing and
// fails with every bad row.
func postBatch[T any](s *Server, r *http.Request, check func(*T) []tailor.FieldError, write func(store.Writer, []T) error) ([]T, error) {
	rows, bad, err := decodeBatch[T](s, r)
	if err != nil {
		return nil, err
	}
	skip := undecoded(bad, len(rows))
	for i := range rows {
		if !skip[i] {
			bad = rowErrors(bad, i, check(&rows[i]))
		}
	}
	if len(bad) > 0 {
		return nil, invalidBatch(bad, len(rows))
	}
	if err := s.db.Update(r.Context(), func(w store.Writer) error { return write(w, rows) }); err != nil {
		return nil, err
	}
	if s.rec != nil {
		switch rs := any(rows).(type) {
		case []tailor.Item:
			s.rec.ItemsChanged(rs)
		case []tailor.Event:
			s.rec.EventsChanged(rs)
		case []tailor.User:
			ids := make([]tailor.UserID, len(rs))
			for i := range rs {
				ids[i] = rs[i].ID
			}
			s.rec.UsersChanged(ids...)
		}
	}
	return rows, nil
}

func (s *Server) postItems(r *http.Request) (any, error) {
	items, err := postBatch(s, r, s.opts.Rules.CheckItem, func(w store.Writer, items []tailor.Item) error {
		return w.UpsertItems(r.Context(), items)
	})
	if err != nil {
		return nil, err
	}
	return UpsertResult{Upserted: len(items)}, nil
}

func (s *Server) postUsers(r *http.Request) (any, error) {
	users, err := postBatch(s, r, s.opts.Rules.CheckUser, func(w store.Writer, users []tailor.User) error {
		return w.UpsertUsers(r.Context(), users)
	})
	if err != nil {
		return nil, err
	}
	return UpsertResult{Upserted: len(users)}, nil
}

func (s *Server) postEvents(r *http.Request) (any, error) {
	return s.insertEvents(r, 0, nil)
}

// insertEvents stores a batch of events: ids and missing timestamps filled
// in, every row checked by the rules (and first by check, when given, whose
// errors skip the rules), all or nothing. A batch of more than max events
// (when max > 0) is refused whole.
func (s *Server) insertEvents(r *http.Request, max int, check func(*tailor.Event) []tailor.FieldError) (any, error) {
	now := s.opts.Now()
	var res store.InsertResult
	events, err := postBatch(s, r, func(e *tailor.Event) []tailor.FieldError {
		if check != nil {
			if errs := check(e); len(errs) > 0 {
				return errs
			}
		}
		if e.ID == "" {
			e.ID = ulid.Make().String()
		}
		if e.Timestamp.IsZero() {
			e.Timestamp = now
		}
		return s.opts.Rules.CheckEvent(e, now)
	}, func(w store.Writer, events []tailor.Event) (err error) {
		if max > 0 && len(events) > max {
			return badRequest("the batch has %d events; this route takes at most %d", len(events), max)
		}
		res, err = w.InsertEvents(r.Context(), events)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.met.ingested.WithLabelValues("inserted").Add(float64(res.Inserted))
	s.met.ingested.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	ids := make([]string, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	return EventsResult{Inserted: res.Inserted, Duplicates: res.Duplicates, IDs: ids}, nil
}

func pageRequest(q *PageQuery) (store.PageRequest, error) {
	p := store.PageRequest{Cursor: q.Cursor}
	if q.Limit != nil {
		if *q.Limit < 1 || *q.Limit > store.MaxPageSize {
			return p, badRequest("limit: %d must be an integer from 1 to %d", *q.Limit, store.MaxPageSize)
		}
		p.Limit = *q.Limit
	}
	return p, nil
}

func eventQuery(q *EventsQuery) (store.EventQuery, error) {
	var eq store.EventQuery
	for _, t := range q.Type {
		for _, one := range strings.Split(t, ",") {
			if !tailor.ValidTypeName(one) {
				return eq, badRequest("type: %q is not an event type name", one)
			}
			eq.Types = append(eq.Types, tailor.EventType(one))
		}
	}
	if len(eq.Types) > MaxEventTypes {
		return eq, badRequest("type: %d event types; at most %d", len(eq.Types), MaxEventTypes)
	}
	eq.Since, eq.Until = q.Since, q.Until
	return eq, nil
}

func (s *Server) getItem(r *http.Request) (any, error) {
	return s.db.Item(r.Context(), tailor.ItemID(r.PathValue("id")))
}

func (s *Server) deleteItem(r *http.Request) (any, error) {
	id := r.PathValue("id")
	n, err := s.db.DeleteItem(r.Context(), tailor.ItemID(id))
	if err != nil {
		return nil, err
	}
	if s.rec != nil {
		s.rec.ItemsDeleted(tailor.ItemID(id))
	}
	if s.an != nil {
		s.an.Changed()
	}
	return DeleteResult{Deleted: id, EventsDeleted: n}, nil
}

func (s *Server) listUsers(r *http.Request, q *PageQuery) (any, error) {
	p, err := pageRequest(q)
	if err != nil {
		return nil, err
	}
	return s.db.Users(r.Context(), p)
}

func (s *Server) getUser(r *http.Request) (any, error) {
	return s.db.User(r.Context(), tailor.UserID(r.PathValue("id")))
}

func (s *Server) deleteUser(r *http.Request) (any, error) {
	id := r.PathValue("id")
	n, err := s.db.DeleteUser(r.Context(), tailor.UserID(id))
	if err != nil {
		return nil, err
	}
	if s.rec != nil {
		s.rec.UsersDeleted(tailor.UserID(id))
	}
	if s.an != nil {
		s.an.Changed()
	}
	return DeleteResult{Deleted: id, EventsDeleted: n}, nil
}

func (s *Server) events(r *http.Request, eq *EventsQuery, q store.EventQuery) (any, error) {
	extra, err := eventQuery(eq)
	if err != nil {
		return nil, err
	}
	q.Types, q.Since, q.Until = extra.Types, extra.Since, extra.Until
	p, err := pageRequest(&eq.PageQuery)
	if err != nil {
		return nil, err
	}
	return s.db.Events(r.Context(), q, p)
}

func (s *Server) userEvents(r *http.Request, q *EventsQuery) (any, error) {
	id := tailor.UserID(r.PathValue("id"))
	if _, err := s.db.User(r.Context(), id); err != nil {
		return nil, err
	}
	return s.events(r, q, store.EventQuery{UserID: id})
}

func (s *Server) itemEvents(r *http.Request, q *EventsQuery) (any, error) {
	id := tailor.ItemID(r.PathValue("id"))
	if _, err := s.db.Item(r.Context(), id); err != nil {
		return nil, err
	}
	return s.events(r, q, store.EventQuery{ItemID: id})
}

func (s *Server) sessionEvents(r *http.Request, q *EventsQuery) (any, error) {
	return s.events(r, q, store.EventQuery{SessionID: r.PathValue("id")})
}
