package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/store"
)

// Recommender is what the recommendation endpoints need from the online
// recommender (recommend.Engine).
type Recommender interface {
	Recommend(ctx context.Context, req recommend.Request) (*recommend.Response, error)
	Similar(ctx context.Context, item tailor.ItemID, req recommend.Request) (*recommend.Response, error)
	Trending(ctx context.Context, req recommend.Request) (*recommend.Response, error)
	Rerank(ctx context.Context, req recommend.Request) (*recommend.Response, error)
	Search(ctx context.Context, query string, req recommend.Request) (*recommend.Response, error)
	BoughtTogether(ctx context.Context, item tailor.ItemID, req recommend.Request) (*recommend.Response, error)
	CompleteCart(ctx context.Context, req recommend.Request) (*recommend.Response, error)
	BuyAgain(ctx context.Context, req recommend.Request) (*recommend.Response, error)
	Status() recommend.Status
	OnlineMetrics(ctx context.Context, from, to time.Time) (*recommend.OnlineReport, error)
	// Load swaps in a model version, or refuses it keeping the current.
	Load(ctx context.Context, id string) error
	// ItemsChanged, ItemsDeleted, EventsChanged and UsersDeleted keep its
	// caches in step with the writes the API makes.
	ItemsChanged(items []tailor.Item)
	ItemsDeleted(ids ...tailor.ItemID)
	EventsChanged(events []tailor.Event)
	UsersChanged(ids ...tailor.UserID)
	UsersDeleted(ids ...tailor.UserID)
	// ScenariosChanged reads the stored scenarios again.
	ScenariosChanged(ctx context.Context) error
}

// ListBody is the body of the POST recommendation endpoints.
type ListBody struct {
	// Items are the session's items (sessions) or the items to order
	// (rerank).
	Items    []tailor.ItemID  `json:"items"`
	N        int              `json:"n,omitempty"`
	Offset   int              `json:"offset,omitempty"`
	Scenario string           `json:"scenario,omitempty"`
	Rules    *recommend.Rules `json:"rules,omitempty"`
	Details  bool             `json:"details,omitempty"`
}

// ModelsBody is the body of GET /v1/models.
type ModelsBody struct {
	Serving  recommend.Status     `json:"serving"`
	Versions []store.ModelVersion `json:"versions"`
	// Replicas are the serving processes of a shared store (PostgreSQL)
	// seen in the last 30 seconds, with the version each serves: an
	// activation is acknowledged once every one reports it.
	Replicas []store.Replica `json:"replicas,omitempty"`
}

// ListQuery is the query of the list routes: paging, a scenario, details
// and the rules a GET may carry.
type ListQuery struct {
	N               *int                `query:"n" doc:"number of items, 1 to 100 (default 10)"`
	Offset          int                 `query:"offset" doc:"items to skip first, 0 to 1000 (default 0)"`
	Scenario        string              `query:"scenario" doc:"apply this stored scenario's rules"`
	Details         bool                `query:"details" doc:"add each item's catalog record"`
	Sentences       bool                `query:"sentences" doc:"have the chat model (when one is configured) write each item's reason as a sentence (explanation)"`
	Category        []string            `query:"category,comma" doc:"keep items of these categories (comma-separated)"`
	ExcludeCategory []string            `query:"exclude_category,comma" doc:"drop items of these categories (comma-separated)"`
	MinPrice        *float64            `query:"min_price" doc:"keep items priced at least this"`
	MaxPrice        *float64            `query:"max_price" doc:"keep items priced at most this"`
	InStock         bool                `query:"in_stock" doc:"keep only items in stock"`
	MaxPerCategory  int                 `query:"max_per_category" doc:"at most this many items of one category"`
	MMRLambda       float64             `query:"mmr_lambda" doc:"diversify by maximal marginal relevance, 0 to 1 (0: off)"`
	Exclude         []string            `query:"exclude,comma" doc:"item ids to leave out (comma-separated)"`
	Attr            map[string][]string `query:"attr.*" doc:"attr.NAME=V1,V2: keep items whose attribute NAME equals one of the values (compared as strings, and as numbers where they are numbers)"`
}

// SearchQuery is the query of GET /v1/search.
type SearchQuery struct {
	Q    string `query:"q" doc:"the query, at most 200 bytes"`
	User string `query:"user" doc:"the shopper to personalize for (optional)"`
	ListQuery
}

// OnlineQuery is the query of GET /v1/metrics/online.
type OnlineQuery struct {
	From time.Time `query:"from" doc:"RFC 3339 time, start of the window (default: 24 hours before to)"`
	To   time.Time `query:"to" doc:"RFC 3339 time, end of the window, exclusive (default: now)"`
}

var nameParam = param{name: "name", in: "path", typ: "string", doc: "the scenario's name"}

func (s *Server) recommendRoutes() []route {
	withID := func(ps ...param) []param { return append([]param{idParam}, ps...) }
	return []route{
		{method: "GET", path: "/v1/users/{id}/recommendations", role: RoleRead, summary: "Personalized recommendations for a shopper (unknown shoppers get trending items)",
			params: withID(), response: recommend.Response{}, query: withQuery(s.fromQuery(func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				req.User = tailor.UserID(r.PathValue("id"))
				return s.rec.Recommend(r.Context(), req)
			}))},
		{method: "POST", path: "/v1/users/{id}/rerank", role: RoleRead, summary: "Order the given items for a shopper",
			params: withID(), body: ListBody{}, response: recommend.Response{}, handle: s.fromBody(0, func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				req.User = tailor.UserID(r.PathValue("id"))
				return s.rec.Rerank(r.Context(), req)
			})},
		{method: "GET", path: "/v1/items/{id}/similar", role: RoleRead, summary: "Items similar to an item",
			params: withID(), response: recommend.Response{}, query: withQuery(s.fromQuery(func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				return s.rec.Similar(r.Context(), tailor.ItemID(r.PathValue("id")), req)
			}))},
		{method: "GET", path: "/v1/trending", role: RoleRead, summary: "Trending items (time-decayed interest), optionally per category",
			response: recommend.Response{}, query: withQuery(s.fromQuery(func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				return s.rec.Trending(r.Context(), req)
			}))},
		{method: "GET", path: "/v1/search", role: RoleRead, summary: "Search the catalog (typos and unfinished words allowed), personalized for a shopper",
			response: recommend.Response{}, query: withQuery(s.search)},
		{method: "POST", path: "/v1/sessions/recommendations", role: RoleRead, summary: "Recommendations for an anonymous session's items",
			body: ListBody{}, response: recommend.Response{}, handle: s.fromBody(10, func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				if len(req.Items) == 0 {
					return nil, badRequest("items: list the session's items (at least one)")
				}
				req.Session, req.Items = req.Items, nil
				return s.rec.Recommend(r.Context(), req)
			})},

		{method: "GET", path: "/v1/metrics/online", role: RoleRead, summary: "Impressions, clicks, add-to-carts, purchases and revenue attributed to each scenario and model version, with CTR, conversion and A/B significance",
			response: recommend.OnlineReport{}, query: withQuery(s.onlineMetrics)},
		{method: "GET", path: "/v1/models", role: RoleRead, summary: "The model versions of the registry and the one being served",
			response: ModelsBody{}, handle: s.models},
		{method: "DELETE", path: "/v1/models/{id}", role: RoleAdmin, summary: "Delete a model version and its artifact (not the active one, nor one an A/B test serves)",
			params: withID(), response: DeleteResult{}, handle: s.deleteModel},
		{method: "POST", path: "/v1/models/{id}/activate", role: RoleAdmin, summary: "Serve a model version (roll forward or back); a version that fails to load is refused",
			params: withID(), response: ModelsBody{}, handle: s.activate},

		{method: "GET", path: "/v1/scenarios", role: RoleRead, summary: "The stored scenarios and their rules",
			response: map[string]recommend.Rules{}, handle: s.scenarios},
		{method: "GET", path: "/v1/scenarios/{name}", role: RoleRead, summary: "A scenario's rules",
			params: []param{nameParam}, response: recommend.Rules{}, handle: s.scenario},
		{method: "PUT", path: "/v1/scenarios/{name}", role: RoleAdmin, summary: "Create or replace a scenario (rules are checked first)",
			params: []param{nameParam}, body: recommend.Rules{}, response: recommend.Rules{}, handle: s.putScenario},
		{method: "DELETE", path: "/v1/scenarios/{name}", role: RoleAdmin, summary: "Delete a scenario",
			params: []param{nameParam}, response: DeleteResult{}, handle: s.deleteScenario},
	}
}

// errNoRecommender answers recommendation routes of a server without one.
var errNoRecommender = &apiError{status: http.StatusServiceUnavailable, body: Error{Code: "unavailable", Message: "this server runs without the recommender"}}

// listRequest makes a request of the list query: paging, scenario,
// details and the rules.
func listRequest(q *ListQuery) (recommend.Request, error) {
	req := recommend.Request{N: 10, Offset: q.Offset, Scenario: q.Scenario, Details: q.Details, Sentences: q.Sentences}
	if q.N != nil {
		req.N = *q.N
	}
	r := recommend.Rules{Categories: q.Category, ExcludeCategories: q.ExcludeCategory, MinPrice: q.MinPrice, MaxPrice: q.MaxPrice,
		InStockOnly: q.InStock, MaxPerCategory: q.MaxPerCategory, MMRLambda: q.MMRLambda}
	for _, id := range q.Exclude {
		r.ExcludeItems = append(r.ExcludeItems, tailor.ItemID(id))
	}
	for name, vs := range q.Attr {
		if r.Attributes == nil {
			r.Attributes = map[string][]any{}
		}
		for _, v := range vs {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				r.Attributes[name] = append(r.Attributes[name], f)
			}
			r.Attributes[name] = append(r.Attributes[name], v)
		}
	}
	if err := r.Validate(); err != nil {
		return req, err
	}
	req.Rules = r
	return req, nil
}

// decodeBody decodes the JSON body, one object, into v as strictly as the
// batches (ingest.DecodeObject); a body over the limit keeps its own error
// (413).
func decodeBody(r *http.Request, v any) error {
	var buf bytes.Buffer
	raw, err := readBody(r, &buf)
	if err != nil {
		return err
	}
	if fe := ingest.DecodeObject(raw, v); fe != nil {
		return badRequest("body: %v", fe)
	}
	return nil
}

// readBody checks the content type and reads the body into buf: a body
// over the limit keeps its own error (413), other errors are the
// request's fault.
func readBody(r *http.Request, buf *bytes.Buffer) ([]byte, error) {
	if err := checkJSONType(r); err != nil {
		return nil, err
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, badRequest("body: %v", err)
	}
	return buf.Bytes(), nil
}

// asker asks the recommender for a list: the request's path values and
// the list request decoded from its query or body.
type asker func(r *http.Request, req recommend.Request) (*recommend.Response, error)

// fromQuery makes the handler of a list route whose paging and rules are
// in the query string.
func (s *Server) fromQuery(ask asker) func(*http.Request, *ListQuery) (any, error) {
	return func(r *http.Request, q *ListQuery) (any, error) {
		if s.rec == nil {
			return nil, errNoRecommender
		}
		req, err := listRequest(q)
		if err != nil {
			return nil, err
		}
		return ask(r, req)
	}
}

// fromBody makes the handler of a list route whose items, paging and rules
// are in a JSON body (ListBody); n is defaultN when the body has none.
func (s *Server) fromBody(defaultN int, ask asker) func(*http.Request) (any, error) {
	return func(r *http.Request) (any, error) {
		if s.rec == nil {
			return nil, errNoRecommender
		}
		req, err := s.bodyRequest(r)
		if err != nil {
			return nil, err
		}
		if req.N == 0 {
			req.N = defaultN
		}
		return ask(r, req)
	}
}

// bodyRequest reads a list's body (ListBody) into a request. The body is
// read into one of the server's buffers: what is decoded from it is
// copied out (strings, json.RawMessage), so the buffer goes back when it
// is done.
func (s *Server) bodyRequest(r *http.Request) (recommend.Request, error) {
	buf := s.buffer()
	defer s.putBuffer(buf)
	raw, err := readBody(r, buf)
	if err != nil {
		return recommend.Request{}, err
	}
	b, ok := quickListBody(raw) // the common shapes, without reflection
	if !ok {
		b = ListBody{}
		if fe := ingest.DecodeObject(raw, &b); fe != nil {
			return recommend.Request{}, badRequest("body: %v", fe)
		}
	}
	req := recommend.Request{Items: b.Items, N: b.N, Offset: b.Offset, Scenario: b.Scenario, Details: b.Details}
	if b.Rules != nil && b.Rules.ABTest != nil {
		return req, badRequest("rules.ab_test: A/B tests belong to stored scenarios (PUT /v1/scenarios/{name})")
	}
	if b.Rules != nil {
		if err := b.Rules.Validate(); err != nil {
			return req, err
		}
		req.Rules = *b.Rules
	}
	return req, nil
}

func (s *Server) search(r *http.Request, q *SearchQuery) (any, error) {
	if s.rec == nil {
		return nil, errNoRecommender
	}
	req, err := listRequest(&q.ListQuery)
	if err != nil {
		return nil, err
	}
	req.User = tailor.UserID(q.User)
	return s.rec.Search(r.Context(), q.Q, req)
}

func (s *Server) onlineMetrics(r *http.Request, q *OnlineQuery) (any, error) {
	if s.rec == nil {
		return nil, errNoRecommender
	}
	to, from := q.To, q.From
	if to.IsZero() {
		to = s.opts.Now()
	}
	if from.IsZero() {
		from = to.Add(-24 * time.Hour)
	}
	return s.rec.OnlineMetrics(r.Context(), from, to)
}

func (s *Server) models(r *http.Request) (any, error) {
	vs, err := s.db.ModelVersions(r.Context(), "")
	if err != nil {
		return nil, err
	}
	body := ModelsBody{Versions: vs}
	if body.Versions == nil {
		body.Versions = []store.ModelVersion{}
	}
	if s.rec != nil {
		body.Serving = s.rec.Status()
	}
	if rr, ok := s.db.(store.ReplicaRegistry); ok {
		// The replicas that reported in the last half minute.
		if body.Replicas, err = rr.Replicas(r.Context(), s.opts.Now().Add(-30*time.Second)); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func (s *Server) deleteModel(r *http.Request) (any, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	v, err := s.db.ModelVersion(ctx, id)
	if err != nil {
		return nil, err
	}
	conflict := func(format string, args ...any) error {
		return &apiError{http.StatusConflict, Error{Code: "conflict", Message: fmt.Sprintf(format, args...)}}
	}
	if v.Active {
		return nil, conflict("model version %s is active in slot %s: activate another first", id, v.Slot)
	}
	if s.rec != nil {
		if st := s.rec.Status(); st.Version != nil && st.Version.ID == id {
			return nil, conflict("model version %s is being served: activate another first", id)
		}
	}
	scenarios, err := s.db.Scenarios(ctx)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(scenarios))
	for _, name := range names {
		rules, err := recommend.ParseRules(scenarios[name])
		if err != nil {
			continue // a stored scenario that no longer parses serves nothing
		}
		if ab := rules.ABTest; ab != nil && (ab.A == id || ab.B == id) {
			return nil, conflict("model version %s is an arm of the A/B test of scenario %s: change or delete the scenario first", id, name)
		}
	}
	if err := s.db.DeleteModel(ctx, id); err != nil {
		if errors.Is(err, store.ErrActive) {
			return nil, conflict("model version %s is active: activate another first", id)
		}
		return nil, err
	}
	return DeleteResult{Deleted: id}, nil
}

func (s *Server) activate(r *http.Request) (any, error) {
	if s.rec == nil {
		return nil, errNoRecommender
	}
	id := r.PathValue("id")
	if _, err := s.db.ModelVersion(r.Context(), id); err != nil {
		return nil, err
	}
	var prev string
	if st := s.rec.Status(); st.Version != nil {
		prev = st.Version.ID
	}
	// Load (and check) first: a version that does not load is refused and
	// the registry keeps pointing at the one being served.
	if err := s.rec.Load(r.Context(), id); err != nil {
		return nil, &apiError{status: http.StatusUnprocessableEntity, body: Error{Code: "model_refused",
			Message: fmt.Sprintf("model version %s was refused and the previous one keeps serving: %v", id, err)}}
	}
	if err := s.db.ActivateModel(r.Context(), id); err != nil {
		if prev != "" {
			_ = s.rec.Load(context.WithoutCancel(r.Context()), prev)
		}
		return nil, err
	}
	return s.models(r)
}

func (s *Server) scenarios(r *http.Request) (any, error) {
	all, err := s.db.Scenarios(r.Context())
	if err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	for k, v := range all {
		out[k] = v
	}
	return out, nil
}

func (s *Server) scenario(r *http.Request) (any, error) {
	raw, err := s.db.Scenario(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return []byte(raw), nil
}

func (s *Server) putScenario(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if !tailor.ValidTypeName(name) {
		return nil, badRequest("name: %q must be 1 to 64 characters of a-z, 0-9 and _, starting with a letter", name)
	}
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, badRequest("body: %v", err)
	}
	rules, err := recommend.ParseRules(raw)
	if err != nil {
		return nil, err
	}
	if rt := rules.Route; rt != nil {
		for v, target := range rt.Scenarios {
			if target == name {
				return nil, badRequest("route.scenarios.%s: a scenario cannot route to itself", v)
			}
			if _, err := s.db.Scenario(r.Context(), target); errors.Is(err, store.ErrNotFound) {
				return nil, badRequest("route.scenarios.%s: there is no scenario named %q (store it first)", v, target)
			} else if err != nil {
				return nil, err
			}
		}
	}
	if ab := rules.ABTest; ab != nil {
		for field, id := range map[string]string{"ab_test.a": ab.A, "ab_test.b": ab.B} {
			v, err := s.db.ModelVersion(r.Context(), id)
			if errors.Is(err, store.ErrNotFound) {
				return nil, badRequest("%s: there is no model version %q", field, id)
			}
			if err != nil {
				return nil, err
			}
			if st := s.rec.Status(); st.Version != nil && v.Slot != st.Version.Slot {
				return nil, badRequest("%s: version %s is for slot %q, not the served %q", field, id, v.Slot, st.Version.Slot)
			}
		}
	}
	canonical, err := json.Marshal(rules)
	if err != nil {
		return nil, err
	}
	if err := s.db.PutScenario(r.Context(), name, canonical); err != nil {
		return nil, err
	}
	if s.rec != nil {
		if err := s.rec.ScenariosChanged(r.Context()); err != nil {
			return nil, err
		}
	}
	return rules, nil
}

func (s *Server) deleteScenario(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := s.db.DeleteScenario(r.Context(), name); err != nil {
		return nil, err
	}
	if s.rec != nil {
		if err := s.rec.ScenariosChanged(r.Context()); err != nil {
			return nil, err
		}
	}
	return DeleteResult{Deleted: name}, nil
}
