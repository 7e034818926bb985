package server

import (
	"net/http"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/recommend"
)

// CartBody is the body of POST /v1/carts/recommendations: the cart's items
// and, like every list, n, offset, scenario, rules and details.
type CartBody = ListBody

func (s *Server) basketRoutes() []route {
	withID := func(ps ...param) []param { return append([]param{idParam}, ps...) }
	return []route{
		{method: "GET", path: "/v1/items/{id}/bought-together", role: RoleRead, summary: "Items frequently bought with an item (significant rules only)",
			params: withID(), response: recommend.Response{}, query: withQuery(s.boughtTogether)},
		{method: "GET", path: "/v1/users/{id}/buy-again", role: RoleRead, summary: "The shopper's past purchases to buy again, with their due dates",
			params: withID(), response: recommend.Response{}, query: withQuery(s.buyAgain)},
		{method: "POST", path: "/v1/carts/recommendations", role: RoleRead, summary: "Additions to a cart: bought-together rules of all its items, else the model",
			body: CartBody{}, response: recommend.Response{}, handle: s.cartRecommendations},
	}
}

func (s *Server) boughtTogether(r *http.Request, q *ListQuery) (any, error) {
	if s.rec == nil {
		return nil, errNoRecommender
	}
	req, err := listRequest(q)
	if err != nil {
		return nil, err
	}
	return s.rec.BoughtTogether(r.Context(), tailor.ItemID(r.PathValue("id")), req)
}

func (s *Server) buyAgain(r *http.Request, q *ListQuery) (any, error) {
	if s.rec == nil {
		return nil, errNoRecommender
	}
	req, err := listRequest(q)
	if err != nil {
		return nil, err
	}
	req.User = tailor.UserID(r.PathValue("id"))
	return s.rec.BuyAgain(r.Context(), req)
}

func (s *Server) cartRecommendations(r *http.Request) (any, error) {
	if s.rec == nil {
		return nil, errNoRecommender
	}
	req, err := bodyRequest(r)
	if err != nil {
		return nil, err
	}
	if req.N == 0 {
		req.N = 10
	}
	return s.rec.CompleteCart(r.Context(), req)
}
