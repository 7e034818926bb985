package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/fbt"
	"github.com/tailorhq/tailor/internal/rebuy"
	"github.com/tailorhq/tailor/internal/recommend"
)

// Basketer is what the bought-together endpoints need (insights.Service).
type Basketer interface {
	BoughtTogether(ctx context.Context, item tailor.ItemID, n int) ([]fbt.Scored, error)
	CompleteCart(ctx context.Context, cart []tailor.ItemID, n int) ([]fbt.Scored, error)
	BuyAgain(ctx context.Context, user tailor.UserID, n int) ([]rebuy.Due, error)
}

// BuyAgainBody is the answer of GET /v1/users/{id}/buy-again.
type BuyAgainBody struct {
	Items []rebuy.Due `json:"items"`
}

// queryN reads the query parameter n (def when absent), from 1 to most.
func queryN(r *http.Request, def, most int) (int, error) {
	v := r.URL.Query().Get("n")
	if v == "" {
		return def, nil
	}
	k, err := strconv.Atoi(v)
	if err != nil || k < 1 || k > most {
		return 0, badRequest("n: %q must be an integer from 1 to %d", v, most)
	}
	return k, nil
}

// BasketBody is the answer of the bought-together endpoints.
type BasketBody struct {
	Items []recommend.Item `json:"items"`
}

// CartBody is the body of POST /v1/carts/recommendations.
type CartBody struct {
	Items []tailor.ItemID `json:"items"`
	N     int             `json:"n,omitempty"`
}

func (s *Server) basketRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/items/{id}/bought-together", role: RoleRead, summary: "Items frequently bought with an item (significant rules only)",
			params:   []param{idParam, {name: "n", in: "query", typ: "integer", doc: "number of items, 1 to 100 (default 10)"}},
			response: BasketBody{}, handle: s.boughtTogether},
		{method: "GET", path: "/v1/users/{id}/buy-again", role: RoleRead, summary: "The shopper's past purchases to buy again, with their due dates",
			params:   []param{idParam, {name: "n", in: "query", typ: "integer", doc: "number of items, 1 to 100 (default 10)"}},
			response: BuyAgainBody{}, handle: s.buyAgain},
		{method: "POST", path: "/v1/carts/recommendations", role: RoleRead, summary: "Additions to a cart from all its items' bought-together rules",
			body: CartBody{}, response: BasketBody{}, handle: s.cartRecommendations},
	}
}

func (s *Server) basketBody(scored []fbt.Scored) BasketBody {
	b := BasketBody{Items: make([]recommend.Item, len(scored))}
	for i, sc := range scored {
		b.Items[i] = recommend.Item{ItemID: sc.Item, Score: sc.Score, Reason: "often bought with " + string(sc.Because)}
	}
	return b
}

func (s *Server) boughtTogether(r *http.Request) (any, error) {
	if s.bk == nil {
		return nil, errNoAnalyst
	}
	id := tailor.ItemID(r.PathValue("id"))
	if _, err := s.db.Item(r.Context(), id); err != nil {
		return nil, err
	}
	n, err := queryN(r, 10, recommend.MaxN)
	if err != nil {
		return nil, err
	}
	scored, err := s.bk.BoughtTogether(r.Context(), id, n)
	if err != nil {
		return nil, analysisError(err)
	}
	return s.basketBody(scored), nil
}

func (s *Server) buyAgain(r *http.Request) (any, error) {
	if s.bk == nil {
		return nil, errNoAnalyst
	}
	n, err := queryN(r, 10, recommend.MaxN)
	if err != nil {
		return nil, err
	}
	items, err := s.bk.BuyAgain(r.Context(), tailor.UserID(r.PathValue("id")), n)
	if err != nil {
		return nil, analysisError(err)
	}
	if items == nil {
		items = []rebuy.Due{} // an unknown or new shopper: nothing to buy again
	}
	return BuyAgainBody{Items: items}, nil
}

func (s *Server) cartRecommendations(r *http.Request) (any, error) {
	if s.bk == nil {
		return nil, errNoAnalyst
	}
	var body CartBody
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if len(body.Items) == 0 || len(body.Items) > 500 {
		return nil, badRequest("items: %d items in the cart; send 1 to 500", len(body.Items))
	}
	if body.N == 0 {
		body.N = 10
	}
	if body.N < 1 || body.N > recommend.MaxN {
		return nil, badRequest("n: %d must be from 1 to %d", body.N, recommend.MaxN)
	}
	for i, id := range body.Items {
		if _, err := s.db.Item(r.Context(), id); err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, err)
		}
	}
	scored, err := s.bk.CompleteCart(r.Context(), body.Items, body.N)
	if err != nil {
		return nil, analysisError(err)
	}
	return s.basketBody(scored), nil
}
