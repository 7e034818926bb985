package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

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

// ElasticitiesQuery is the query of GET /v1/pricing/elasticities.
type ElasticitiesQuery struct {
	N *int `query:"n" doc:"how many items (default 20, at most 10,000)"`
}

// PricingQuery is the query of GET /v1/items/{id}/pricing.
type PricingQuery struct {
	Cost      *float64 `query:"cost" doc:"unit cost: maximize profit instead of revenue"`
	MaxChange *float64 `query:"max_change" doc:"largest change from the current price, as a fraction (default 0.10)"`
	MinMargin *float64 `query:"min_margin" doc:"smallest (price − cost)/price (needs cost)"`
	Endings   []string `query:"endings,comma" doc:"allowed cents, comma-separated, such as 0.49,0.95,0.99"`
}

func (s *Server) pricingRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/pricing/elasticities", role: RoleWrite, summary: "Own-price elasticities with intervals and reliability, best sellers first",
			response: []pricing.Elasticity{}, query: withQuery(s.elasticities)},
		{method: "GET", path: "/v1/items/{id}/pricing", role: RoleWrite, summary: "A price recommendation for an item within guardrails (per item, never per shopper)",
			params: []param{idParam}, response: pricing.Recommendation{}, query: withQuery(s.itemPricing)},
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

func (s *Server) elasticities(r *http.Request, q *ElasticitiesQuery) (any, error) {
	if s.pr == nil {
		return nil, errNoAnalyst
	}
	n := 20
	if q.N != nil {
		if *q.N < 1 || *q.N > 10000 {
			return nil, badRequest("n: %d must be an integer from 1 to 10000", *q.N)
		}
		n = *q.N
	}
	es, err := s.pr.Elasticities(r.Context())
	if err != nil {
		return nil, analysisError(err)
	}
	return es[:min(n, len(es))], nil
}

func (s *Server) itemPricing(r *http.Request, q *PricingQuery) (any, error) {
	if s.pr == nil {
		return nil, errNoAnalyst
	}
	id := tailor.ItemID(r.PathValue("id"))
	if _, err := s.db.Item(r.Context(), id); err != nil {
		return nil, err
	}
	c := pricing.Constraints{Cost: q.Cost}
	if q.MaxChange != nil {
		c.MaxChange = *q.MaxChange
	}
	if q.MinMargin != nil {
		c.MinMargin = *q.MinMargin
	}
	for _, e := range q.Endings {
		f, err := strconv.ParseFloat(e, 64)
		if err != nil {
			return nil, badRequest("endings: %q is not a number such as 0.99", e)
		}
		c.Endings = append(c.Endings, f)
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
