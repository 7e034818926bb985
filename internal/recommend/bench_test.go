package recommend

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/shareddata"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// listCase is one list of the benchmarks: ask answers the i-th request.
type listCase struct {
	name string
	ask  func(i int) (*Response, error)
}

// listCases imports the full Online Retail data into a store in a
// temporary folder, trains EASE on all of it, and returns the lists of
// the benchmarks over an engine that has cached every shopper's history
// and ranking (and one that keeps no rankings, "recommendations-scored").
func listCases(b *testing.B) []listCase {
	ctx := context.Background()
	path := shareddata.Path(b, filepath.Join("online-retail", "online-retail.csv.gz"))
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
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
	return []listCase{
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
	}
}

// BenchmarkLists times the engine's lists on the full Online Retail data
// (listCases), for shoppers (and items) taken in turn: the serving path
// without HTTP. "recommendations-scored" scores the catalog for every
// list, as a shopper's first request does. Run with -benchmem for the
// allocations per list. "cart" completes carts of two items.
func BenchmarkLists(b *testing.B) {
	for _, bc := range listCases(b) {
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

// BenchmarkListsParallel asks the same lists from 8 goroutines a
// processor (16 on the two cores here, as wrk's 16 connections): what
// requests wait on one another for (locks on the request path) shows
// here, with -mutexprofile, and not in BenchmarkLists.
func BenchmarkListsParallel(b *testing.B) {
	for _, bc := range listCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := bc.ask(int(next.Add(1)))
					if err != nil {
						b.Error(err)
						return
					}
					resp.Release()
				}
			})
		})
	}
}
