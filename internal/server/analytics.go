package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/analytics"
	"github.com/tailorhq/tailor/internal/insights"
)

// Analyst is what the analytics endpoints need (insights.Service).
type Analyst interface {
	RFM(ctx context.Context, at time.Time) (time.Time, []analytics.RFM, error)
	Cohorts(ctx context.Context, period string) ([]analytics.Cohort, error)
	Funnel(ctx context.Context, opts analytics.FunnelOptions) (*analytics.Funnel, error)
	CLV(ctx context.Context) (*analytics.CLVResult, error)
	Propensity(ctx context.Context) (*analytics.PropensityReport, error)
	Profile(ctx context.Context, user tailor.UserID) (*insights.Profile, error)
	AllSegments(ctx context.Context) (map[tailor.UserID]insights.Segments, error)
	Apply(ctx context.Context, w insights.Writer) ([]tailor.UserID, error)
	// Changed says that records were deleted: the analyses refresh soon,
	// without the deleted ones.
	Changed()
}

// SegmentsBody is the body of the segments endpoints: shoppers per
// segment, CLV tier and propensity band.
type SegmentsBody struct {
	Shoppers        int            `json:"shoppers"`
	Segments        map[string]int `json:"segments"`
	CLVTiers        map[string]int `json:"clv_tiers"`
	PropensityBands map[string]int `json:"propensity_bands"`
	// Applied is set when the labels were stored as shopper attributes.
	Applied bool `json:"applied"`
}

// RFMBody is the body of GET /v1/analytics/rfm.
type RFMBody struct {
	At       time.Time       `json:"at"`
	Segments map[string]int  `json:"segments"`
	Shoppers []analytics.RFM `json:"shoppers"`
}

// RFMQuery is the query of GET /v1/analytics/rfm.
type RFMQuery struct {
	At time.Time `query:"at,date" doc:"reference date YYYY-MM-DD (default: the day after the last purchase)"`
}

// CohortsQuery is the query of GET /v1/analytics/cohorts.
type CohortsQuery struct {
	Period string `query:"period" doc:"month (default) or week"`
}

// FunnelQuery is the query of GET /v1/analytics/funnel.
type FunnelQuery struct {
	Steps  []string       `query:"steps,comma" doc:"comma-separated event types (default view,add_to_cart,purchase)"`
	Window *time.Duration `query:"window" doc:"most time from the first step to the last, such as 24h (default; 0 for no limit)"`
	By     string         `query:"by" doc:"user (default) or session"`
}

func (s *Server) analyticsRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/analytics/rfm", role: RoleWrite, summary: "Recency, frequency and monetary scores and segments of every shopper",
			response: RFMBody{}, query: withQuery(s.rfm)},
		{method: "GET", path: "/v1/analytics/cohorts", role: RoleWrite, summary: "Acquisition cohorts: retention and revenue per period",
			response: []analytics.Cohort{}, query: withQuery(s.cohorts)},
		{method: "GET", path: "/v1/analytics/funnel", role: RoleWrite, summary: "Conversion through ordered event types, overall and by category",
			response: analytics.Funnel{}, query: withQuery(s.funnel)},
		{method: "GET", path: "/v1/analytics/clv", role: RoleWrite, summary: "BG/NBD and Gamma-Gamma fits and each shopper's expected value over 52 weeks",
			response: analytics.CLVResult{}, handle: s.clv},
		{method: "GET", path: "/v1/analytics/propensity", role: RoleWrite, summary: "The 30-day purchase propensity model, evaluated by time against a baseline",
			response: analytics.PropensityReport{}, handle: s.propensity},
		{method: "GET", path: "/v1/analytics/segments", role: RoleWrite, summary: "Shoppers per RFM segment, CLV tier and propensity band",
			response: SegmentsBody{}, handle: s.segments},
		{method: "POST", path: "/v1/analytics/segments", role: RoleAdmin, summary: "Store every shopper's segment, clv_tier and propensity_band as attributes (for scenario routes)",
			response: SegmentsBody{}, handle: s.applySegments},
		{method: "GET", path: "/v1/users/{id}/profile", role: RoleWrite, summary: "A shopper's RFM, segment, favourite categories, lifetime value and propensity",
			params: []param{idParam}, response: insights.Profile{}, handle: s.profile},
	}
}

var errNoAnalyst = &apiError{status: http.StatusServiceUnavailable, body: Error{Code: "unavailable", Message: "this server runs without analytics"}}

// analysisError maps what the analyses refuse: a model the data cannot
// fit is 422, a bad parameter 400; store failures pass through.
func analysisError(err error) error {
	var fe *analytics.FitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe), errors.Is(err, analytics.ErrTooFewRepeaters):
		return &apiError{status: http.StatusUnprocessableEntity, body: Error{Code: "cannot_fit", Message: err.Error()}}
	case errors.Is(err, insights.ErrRead), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return badRequest("%v", err)
}

func (s *Server) rfm(r *http.Request, q *RFMQuery) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	at, rows, err := s.an.RFM(r.Context(), q.At)
	if err != nil {
		return nil, analysisError(err)
	}
	if rows == nil {
		rows = []analytics.RFM{}
	}
	return RFMBody{At: at, Segments: analytics.SegmentCounts(rows), Shoppers: rows}, nil
}

func (s *Server) cohorts(r *http.Request, q *CohortsQuery) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	period := q.Period
	if period == "" {
		period = "month"
	}
	cs, err := s.an.Cohorts(r.Context(), period)
	return cs, analysisError(err)
}

func (s *Server) funnel(r *http.Request, q *FunnelQuery) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	opts := analytics.FunnelOptions{Window: 24 * time.Hour}
	steps := q.Steps
	if len(steps) == 0 {
		steps = []string{"view", "add_to_cart", "purchase"}
	}
	for _, st := range steps {
		opts.Steps = append(opts.Steps, tailor.EventType(st))
	}
	if q.Window != nil {
		opts.Window = *q.Window
	}
	switch q.By {
	case "", "user":
	case "session":
		opts.BySession = true
	default:
		return nil, badRequest("by: %q must be user or session", q.By)
	}
	f, err := s.an.Funnel(r.Context(), opts)
	return f, analysisError(err)
}

func (s *Server) clv(r *http.Request) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	res, err := s.an.CLV(r.Context())
	return res, analysisError(err)
}

func (s *Server) propensity(r *http.Request) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	rep, err := s.an.Propensity(r.Context())
	return rep, analysisError(err)
}

func (s *Server) segments(r *http.Request) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	segs, err := s.an.AllSegments(r.Context())
	if err != nil {
		return nil, analysisError(err)
	}
	body := SegmentsBody{Shoppers: len(segs), Segments: map[string]int{}, CLVTiers: map[string]int{}, PropensityBands: map[string]int{}}
	for _, sg := range segs {
		body.Segments[sg.Segment]++
		if sg.CLVTier != "" {
			body.CLVTiers[sg.CLVTier]++
		}
		if sg.PropensityBand != "" {
			body.PropensityBands[sg.PropensityBand]++
		}
	}
	return body, nil
}

func (s *Server) applySegments(r *http.Request) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	ids, err := s.an.Apply(r.Context(), s.db)
	if err != nil {
		return nil, analysisError(err)
	}
	if s.rec != nil {
		s.rec.UsersChanged(ids...)
	}
	body, err := s.segments(r)
	if err != nil {
		return nil, err
	}
	b := body.(SegmentsBody)
	b.Applied = true
	return b, nil
}

func (s *Server) profile(r *http.Request) (any, error) {
	if s.an == nil {
		return nil, errNoAnalyst
	}
	id := tailor.UserID(r.PathValue("id"))
	if _, err := s.db.User(r.Context(), id); err != nil {
		return nil, err
	}
	p, err := s.an.Profile(r.Context(), id)
	return p, analysisError(err)
}
