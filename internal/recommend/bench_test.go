package recommend

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/shareddata"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// BenchmarkLists times the engine's lists on the full Online Retail data
// (imported into a store in a temporary folder, EASE trained on all of
// it), for shoppers (and items) taken in turn, with their histories and
// rankings cached: the serving path without HTTP. "recommendations-scored"
// is an engine that keeps no rankings (Options.Ranking −1): every list
// scores the catalog, as a shopper's first request does. Run with
// -benchmem for the allocations per list. "cart" completes carts of two
// items.
func BenchmarkLists(b *testing.B) {
	ctx := context.Background()
	path := shareddata.Path(b, filepath.Join("online-retail", "online-retail.csv.gz"))
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := ingest.Import(ctx, db, []string{path}, ingest.Options{Format: "online-retail"}); err != nil {
		b.Fatal(err)
	}
	activate(b, db, "ease")
	e := started(b, db, nil)
	scoring, err := New(db, Options{Lookup: all.Lookup, Ranking: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := scoring.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var users []tailor.UserID
	err = store.AllUsers(ctx, db, func(u *tailor.User) error {
		users = append(users, u.ID)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var items []tailor.ItemID
	e.catMu.RLock()
	for id, m := range e.catalog {
		if m.available {
			items = append(items, id)
		}
	}
	e.catMu.RUnlock()
	if err := db.PutScenario(ctx, "home", []byte(`{"in_stock_only":true,"max_per_category":3}`)); err != nil {
		b.Fatal(err)
	}
	if err := e.ScenariosChanged(ctx); err != nil {
		b.Fatal(err)
	}
	for _, u := range users { // cache every history and ranking
		for _, eng := range []*Engine{e, scoring} {
			if _, err := eng.Recommend(ctx, Request{User: u, N: 10}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, bc := range []struct {
		name string
		ask  func(i int) (*Response, error)
	}{
		{"recommendations", func(i int) (*Response, error) {
			return e.Recommend(ctx, Request{User: users[i%len(users)], N: 10})
		}},
		{"recommendations-scored", func(i int) (*Response, error) {
			return scoring.Recommend(ctx, Request{User: users[i%len(users)], N: 10})
		}},
		{"recommendations-filtered", func(i int) (*Response, error) {
			return e.Recommend(ctx, Request{User: users[i%len(users)], N: 10, Rules: Rules{InStockOnly: true, MaxPerCategory: 3}})
		}},
		{"recommendations-scenario", func(i int) (*Response, error) {
			return e.Recommend(ctx, Request{User: users[i%len(users)], N: 10, Scenario: "home"})
		}},
		{"similar", func(i int) (*Response, error) { return e.Similar(ctx, items[i%len(items)], Request{N: 10}) }},
		{"bought-together", func(i int) (*Response, error) { return e.BoughtTogether(ctx, items[i%len(items)], Request{N: 10}) }},
		{"buy-again", func(i int) (*Response, error) { return e.BuyAgain(ctx, Request{User: users[i%len(users)], N: 10}) }},
		{"cart", func(i int) (*Response, error) {
			return e.CompleteCart(ctx, Request{Items: []tailor.ItemID{items[i%len(items)], items[(i*7+3)%len(items)]}, N: 10})
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				resp, err := bc.ask(i)
				if err != nil {
					b.Fatal(err)
				}
				resp.Release() // as the server does once it is written
			}
		})
	}
}
