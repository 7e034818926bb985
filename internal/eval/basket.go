package eval

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/fbt"
	"github.com/tailorhq/tailor/internal/orders"
)

// Baskets groups purchase events into orders (by order id; lines without
// one are left out), each a sorted set of items, before (train) and from
// (test) the cutoff. skip leaves out items such as non-products.
func Baskets(events []tailor.Event, cutoff time.Time, skip func(tailor.ItemID) bool) (train, test [][]tailor.ItemID) {
	train, test = orders.Split(events, cutoff, skip)
	for _, b := range append(slices.Clip(train), test...) {
		slices.Sort(b)
	}
	return train, test
}

// BasketScore is a model's basket-completion accuracy.
type BasketScore struct {
	Model   string  `json:"model"`
	HitRate float64 `json:"hit@10"`
	MRR     float64 `json:"mrr@10"`
	Baskets int     `json:"baskets"`
}

// BasketCompletion is the basket-completion protocol: for each test basket
// of at least two items, one item (seeded) is hidden and ranked from the
// others; HitRate@10 and MRR@10 over the baskets. Models: fbt (the mined
// rules, with popularity filling a list the rules leave short), cooccur
// (raw pair counts, no significance filter) and popular (the most
// frequent items in training baskets).
func BasketCompletion(train, test [][]tailor.ItemID, seed uint64, opts fbt.Options) ([]BasketScore, error) {
	m, err := fbt.Mine(train, opts)
	if err != nil {
		return nil, err
	}
	raw, err := fbt.Mine(train, fbt.Options{MinCount: 1, MinConfidence: 1e-9, MaxBasket: opts.MaxBasket, PerItem: 200})
	if err != nil {
		return nil, err
	}
	popular := make([]tailor.ItemID, 0, len(m.Support))
	for it := range m.Support {
		popular = append(popular, it)
	}
	slices.SortFunc(popular, func(a, b tailor.ItemID) int {
		return cmp.Or(cmp.Compare(m.Support[b], m.Support[a]), cmp.Compare(a, b))
	})
	fill := func(list []tailor.ItemID, basket []tailor.ItemID) []tailor.ItemID {
		for _, it := range popular {
			if len(list) >= 10 {
				break
			}
			if !slices.Contains(basket, it) && !slices.Contains(list, it) {
				list = append(list, it)
			}
		}
		return list
	}
	rank := map[string]func(basket []tailor.ItemID) []tailor.ItemID{
		"fbt": func(b []tailor.ItemID) []tailor.ItemID {
			var out []tailor.ItemID
			for _, s := range m.Complete(b, 10) {
				out = append(out, s.Item)
			}
			return fill(out, b)
		},
		"cooccur": func(b []tailor.ItemID) []tailor.ItemID {
			count := map[tailor.ItemID]int{}
			for _, it := range b {
				for _, r := range raw.Rules[it] {
					if !slices.Contains(b, r.Item) {
						count[r.Item] += r.Count
					}
				}
			}
			out := make([]tailor.ItemID, 0, len(count))
			for it := range count {
				out = append(out, it)
			}
			slices.SortFunc(out, func(x, y tailor.ItemID) int { return cmp.Or(cmp.Compare(count[y], count[x]), cmp.Compare(x, y)) })
			return fill(out[:min(10, len(out))], b)
		},
		"popular": func(b []tailor.ItemID) []tailor.ItemID { return fill(nil, b) },
	}
	r := rand.New(rand.NewPCG(seed, 0x6261736b))
	names := []string{"fbt", "cooccur", "popular"}
	scores := make([]BasketScore, len(names))
	for i, n := range names {
		scores[i].Model = n
	}
	for _, b := range test {
		if len(b) < 2 {
			continue
		}
		h := r.IntN(len(b))
		hidden := b[h]
		rest := slices.Delete(slices.Clone(b), h, h+1)
		for i, n := range names {
			list := rank[n](rest)
			scores[i].Baskets++
			if k := slices.Index(list, hidden); k >= 0 && k < 10 {
				scores[i].HitRate++
				scores[i].MRR += 1 / float64(k+1)
			}
		}
	}
	if scores[0].Baskets == 0 {
		return nil, fmt.Errorf("basket completion: no test basket has two items")
	}
	for i := range scores {
		scores[i].HitRate /= float64(scores[i].Baskets)
		scores[i].MRR /= float64(scores[i].Baskets)
	}
	return scores, nil
}
