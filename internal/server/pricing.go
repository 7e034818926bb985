package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/pricing"
)

// Pricer is what the pricing endpoints need (insights.Service).
type Pricer interface {
	Elasticities(ctx context.Context) ([]*pricing.Elasticity, error)
	PriceRecommendation(ctx context.Context, item tailor.ItemID, c pricing.Constraints) (*pricing.Recommendation, error)
}

// PricingRequest is the body of POST /v1/pricing/recommendations: items
// with their own constraints over the shared ones.
type PricingRequest struct {
	Constraints pricing.Constraints `json:"constraints"`
	Items       []PricingItem       `json:"items"`
}

// PricingItem is one item of a PricingRequest.
type PricingItem struct {
	ItemID tailor.ItemID `json:"item_id"`
	pricing.Constraints
}

func (s *Server) pricingRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/pricing/elasticities", role: RoleWrite, summary: "Own-price elasticities with intervals and reliability, best sellers first",
			params:   []param{{name: "n", in: "query", typ: "integer", doc: "how many items (default 20, at most 10,000)"}},
			response: []pricing.Elasticity{}, handle: s.elasticities},
		{method: "GET", path: "/v1/items/{id}/pricing", role: RoleWrite, summary: "A price recommendation for an item within guardrails (per item, never per shopper)",
			params: []param{idParam,
				{name: "cost", in: "query", typ: "number", doc: "unit cost: maximize profit instead of revenue"},
				{name: "max_change", in: "query", typ: "number", doc: "largest change from the current price, as a fraction (default 0.10)"},
				{name: "min_margin", in: "query", typ: "number", doc: "smallest (price − cost)/price (needs cost)"},
				{name: "endings", in: "query", typ: "string", doc: "allowed cents, comma-separated, such as 0.49,0.95,0.99"},
			}, response: pricing.Recommendation{}, handle: s.itemPricing},
		{method: "POST", path: "/v1/pricing/recommendations", role: RoleWrite, summary: "Price recommendations for a set of items with costs and constraints",
			body: PricingRequest{}, response: []pricing.Recommendation{}, handle: s.pricingRecommendations},
	}
}

func pricingError(err error) error {
	var ie *pricing.InputError
	if errors.As(err, &ie) {
		return badRequest("%v", err)
	}
	return err
}

func (s *Server) elasticities(r *http.Request) (any, error) {
	if s.pr == nil {
		return nil, errNoAnalyst
	}
	n, err := queryN(r, 20, 10000)
	if err != nil {
		return nil, err
	}
	es, err := s.pr.Elasticities(r.Context())
	if err != nil {
		return nil, analysisError(err)
	}
	return es[:min(n, len(es))], nil
}

func (s *Server) itemPricing(r *http.Request) (any, error) {
	if s.pr == nil {
		return nil, errNoAnalyst
	}
	id := tailor.ItemID(r.PathValue("id"))
	if _, err := s.db.Item(r.Context(), id); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	var c pricing.Constraints
	num := func(name string, dst **float64) error {
		if v := q.Get(name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return badRequest("%s: %q is not a number", name, v)
			}
			*dst = &f
		}
		return nil
	}
	var maxChange, minMargin *float64
	for name, dst := range map[string]**float64{"cost": &c.Cost, "max_change": &maxChange, "min_margin": &minMargin} {
		if err := num(name, dst); err != nil {
			return nil, err
		}
	}
	if maxChange != nil {
		c.MaxChange = *maxChange
	}
	if minMargin != nil {
		c.MinMargin = *minMargin
	}
	if v := q.Get("endings"); v != "" {
		for _, e := range strings.Split(v, ",") {
			f, err := strconv.ParseFloat(strings.TrimSpace(e), 64)
			if err != nil {
				return nil, badRequest("endings: %q is not a number such as 0.99", e)
			}
			c.Endings = append(c.Endings, f)
		}
	}
	rec, err := s.pr.PriceRecommendation(r.Context(), id, c)
	return rec, pricingError(err)
}

func (s *Server) pricingRecommendations(r *http.Request) (any, error) {
	if s.pr == nil {
		return nil, errNoAnalyst
	}
	var body PricingRequest
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if len(body.Items) == 0 || len(body.Items) > 10000 {
		return nil, badRequest("items: %d items; send 1 to 10,000", len(body.Items))
	}
	out := make([]*pricing.Recommendation, 0, len(body.Items))
	for i, it := range body.Items {
		if _, err := s.db.Item(r.Context(), it.ItemID); err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, err)
		}
		c := body.Constraints
		if it.Cost != nil {
			c.Cost = it.Cost
		}
		if it.MaxChange != 0 {
			c.MaxChange = it.MaxChange
		}
		if it.MinMargin != 0 {
			c.MinMargin = it.MinMargin
		}
		if it.Endings != nil {
			c.Endings = it.Endings
		}
		if it.CurrentPrice != nil {
			c.CurrentPrice = it.CurrentPrice
		}
		rec, err := s.pr.PriceRecommendation(r.Context(), it.ItemID, c)
		if err != nil {
			var ie *pricing.InputError
			if errors.As(err, &ie) {
				return nil, badRequest("items[%d].%v", i, err)
			}
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}
