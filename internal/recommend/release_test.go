package recommend

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tailorhq/tailor"
)

// answerOf is what a response says, without its recommendation id (new
// each time).
func answerOf(r *Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|", r.ModelVersion, r.Model, r.Scenario, r.Fallback)
	for _, it := range r.Items {
		fmt.Fprintf(&b, "%s %g %q %v;", it.ItemID, it.Score, it.Reason, it.Due != nil)
	}
	return b.String()
}

// TestReleasedResponsesAreReused asks every list from many goroutines,
// each response checked against the answer to the same request before
// any was released, then released as the server does: a response, its
// items or the request's scratch shared between two requests shows as a
// wrong answer here (and as a race under -race).
func TestReleasedResponsesAreReused(t *testing.T) {
	ctx := context.Background()
	db, ids := shopStore(t)
	activate(t, db, "ease")
	e := started(t, db, nil)
	if err := db.PutScenario(ctx, "home", []byte(`{"in_stock_only":true,"max_per_category":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.ScenariosChanged(ctx); err != nil {
		t.Fatal(err)
	}
	type ask func() (*Response, error)
	var asks []ask
	for u := range 12 {
		user := tailor.UserID(fmt.Sprint("u", u))
		asks = append(asks,
			func() (*Response, error) { return e.Recommend(ctx, Request{User: user, N: 5}) },
			func() (*Response, error) { return e.Recommend(ctx, Request{User: user, N: 4, Scenario: "home"}) },
			func() (*Response, error) { return e.BuyAgain(ctx, Request{User: user, N: 3}) },
		)
	}
	for k, id := range ids {
		asks = append(asks,
			func() (*Response, error) { return e.BoughtTogether(ctx, id, Request{N: 4}) },
			func() (*Response, error) { return e.Similar(ctx, id, Request{N: 6}) },
			func() (*Response, error) {
				return e.CompleteCart(ctx, Request{Items: []tailor.ItemID{id, ids[(k+5)%len(ids)]}, N: 5})
			},
		)
	}
	asks = append(asks,
		func() (*Response, error) {
			return e.Recommend(ctx, Request{Session: []tailor.ItemID{ids[0], ids[1]}, N: 5})
		},
		func() (*Response, error) { return e.Recommend(ctx, Request{User: "nobody", N: 4}) }, // trending
		func() (*Response, error) {
			return e.Recommend(ctx, Request{User: "nobody", N: 3, Rules: Rules{Categories: []string{"lamps"}, InStockOnly: true}})
		},
		func() (*Response, error) { return e.Trending(ctx, Request{N: 6, Rules: Rules{MaxPerCategory: 1}}) },
	)
	want := make([]string, len(asks))
	var held []*Response // none released until every answer is known
	for k, ask := range asks {
		r, err := ask()
		if err != nil {
			t.Fatalf("ask %d: %v", k, err)
		}
		if len(r.Items) == 0 {
			t.Fatalf("ask %d answers nothing: the test would not see shared items", k)
		}
		want[k] = answerOf(r)
		held = append(held, r)
	}
	for _, r := range held {
		r.Release()
		r.Release() // a second release must not put it in the pool twice
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 400 {
				k := (g*131 + i*7) % len(asks)
				r, err := asks[k]()
				if err != nil {
					errs <- err
					return
				}
				if got := answerOf(r); got != want[k] {
					errs <- fmt.Errorf("ask %d:\n got %s\nwant %s", k, got, want[k])
					return
				}
				r.Release()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Responses not made by a list are left alone.
	var none *Response
	none.Release()
	own := &Response{Items: []Item{{ItemID: "x"}}}
	own.Release()
	if len(own.Items) != 1 {
		t.Errorf("Release changed a response the engine did not make: %+v", own)
	}
}

// TestReasonsFollowTitles renames an item and checks that the reasons that
// name it (memoized with its catalog entry) say the new title.
func TestReasonsFollowTitles(t *testing.T) {
	ctx := context.Background()
	db, _ := shopStore(t)
	activate(t, db, "ease")
	e := started(t, db, nil)
	reasons := func() (bought, cart []string) {
		bt, err := e.BoughtTogether(ctx, "lamp0", Request{N: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range bt.Items {
			bought = append(bought, it.Reason)
		}
		r, err := e.Recommend(ctx, Request{User: "rater", N: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range r.Items {
			cart = append(cart, it.Reason)
		}
		return bought, cart
	}
	bought, personal := reasons()
	if !slices.Contains(bought, "often bought with SPOTTY LAMP NUMBER 0") || !slices.Contains(personal, "because you rated SPOTTY MUG NUMBER 0") {
		t.Fatalf("before the rename: %q, %q", bought, personal)
	}
	e.ItemsChanged([]tailor.Item{{ID: "lamp0", Title: "GLOWING LAMP"}, {ID: "mug0", Title: "TALL MUG"}})
	bought, personal = reasons()
	if !slices.Contains(bought, "often bought with GLOWING LAMP") || !slices.Contains(personal, "because you rated TALL MUG") {
		t.Errorf("after the rename: %q, %q", bought, personal)
	}
}
