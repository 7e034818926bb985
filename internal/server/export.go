package server

import (
	"net/http"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/insights"
	"github.com/tailorhq/tailor/internal/store"
)

// UserExport is the body of GET /v1/users/{id}/export: everything the
// store holds about one shopper, for a data-subject access request.
type UserExport struct {
	ExportedAt time.Time   `json:"exported_at"`
	User       tailor.User `json:"user"`
	// Events are all the shopper's events, newest first.
	Events []tailor.Event `json:"events"`
	// Profile is what the analyses derive from them (RFM, segment,
	// lifetime value, propensity); absent when the server has no analyses
	// or they could not be made (Notes says why).
	Profile *insights.Profile `json:"profile,omitempty"`
	// ModelVersions are the stored model versions trained on data that
	// includes the shopper's events: their artifacts may hold the
	// shopper's id and what the model learned of them.
	ModelVersions []string `json:"model_versions"`
	Notes         []string `json:"notes,omitempty"`
}

func (s *Server) exportRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/users/{id}/export", role: RoleAdmin, summary: "Everything held about a shopper: the record, every event, the analyses' profile and the model versions trained on their data",
			params: []param{idParam}, response: UserExport{}, handle: s.exportUser},
	}
}

func (s *Server) exportUser(r *http.Request) (any, error) {
	ctx := r.Context()
	id := tailor.UserID(r.PathValue("id"))
	u, err := s.db.User(ctx, id)
	if err != nil {
		return nil, err
	}
	out := UserExport{ExportedAt: s.opts.Now().UTC(), User: u, Events: []tailor.Event{}, ModelVersions: []string{}}
	err = store.AllEvents(ctx, s.db, store.EventQuery{UserID: id}, func(e *tailor.Event) error {
		out.Events = append(out.Events, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.an != nil {
		p, err := s.an.Profile(ctx, id)
		if err != nil {
			out.Notes = append(out.Notes, "the analyses' profile could not be made: "+err.Error())
		} else {
			out.Profile = p
		}
	}
	if len(out.Events) > 0 {
		// Events are newest first: the last is the first the shopper had.
		first := out.Events[len(out.Events)-1].Timestamp
		versions, err := s.db.ModelVersions(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, v := range versions {
			if !v.DataUntil.Before(first) {
				out.ModelVersions = append(out.ModelVersions, v.ID)
			}
		}
		slices.Sort(out.ModelVersions)
	}
	return out, nil
}
