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
			params: withID(), response: recommend.Response{}, query: withQuery(s.fromQuery(func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				return s.rec.BoughtTogether(r.Context(), tailor.ItemID(r.PathValue("id")), req)
			}))},
		{method: "GET", path: "/v1/users/{id}/buy-again", role: RoleRead, summary: "The shopper's past purchases to buy again, with their due dates",
			params: withID(), response: recommend.Response{}, query: withQuery(s.fromQuery(func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				req.User = tailor.UserID(r.PathValue("id"))
				return s.rec.BuyAgain(r.Context(), req)
			}))},
		{method: "POST", path: "/v1/carts/recommendations", role: RoleRead, summary: "Additions to a cart: bought-together rules of all its items, else the model",
			body: CartBody{}, response: recommend.Response{}, handle: s.fromBody(10, func(r *http.Request, req recommend.Request) (*recommend.Response, error) {
				return s.rec.CompleteCart(r.Context(), req)
			})},
	}
}
