package eval

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
)

// ColdScore is a ranking's Recall@20 of cold items.
type ColdScore struct {
	Model  string  `json:"model"`
	Recall float64 `json:"recall@20"`
	Users  int     `json:"users"`
}

// category is an item's first category, or the last word of its title
// (Online Retail has no categories; the last word names the kind of
// product: BAG, HOLDER, CASES).
func category(it tailor.Item) string {
	if len(it.Categories) > 0 {
		return it.Categories[0]
	}
	w := strings.Fields(strings.ToUpper(it.Title))
	if len(w) == 0 {
		return ""
	}
	return w[len(w)-1]
}

// ColdItems is the cold-items protocol: a seeded share of the items sold
// before the cutoff lose all their training interactions; each returning
// shopper's purchases of those items after the cutoff are ranked among all
// cold items by content (the cosine of the item's LSA vector with the mean
// of the shopper's training items'), by random order and by the
// popularity of the item's category (first category, else last title
// word) in training; Recall@20.
func ColdItems(data *Data, cutoff time.Time, share float64, seed uint64) ([]ColdScore, error) {
	if !(share > 0 && share < 1) {
		return nil, fmt.Errorf("cold items: share %v must be between 0 and 1", share)
	}
	type purchase struct {
		user string
		item tailor.ItemID
		at   time.Time
	}
	var ps []purchase
	soldBefore := map[tailor.ItemID]bool{}
	for i := range data.Events {
		e := &data.Events[i]
		if e.Type != tailor.Purchase || e.UserID == "" || e.UnitPrice == nil || *e.UnitPrice <= 0 || data.Items[e.ItemID].NonProduct {
			continue
		}
		ps = append(ps, purchase{string(e.UserID), e.ItemID, e.Timestamp})
		if e.Timestamp.Before(cutoff) {
			soldBefore[e.ItemID] = true
		}
	}
	items := make([]tailor.ItemID, 0, len(soldBefore))
	for it := range soldBefore {
		items = append(items, it)
	}
	slices.Sort(items)
	r := rand.New(rand.NewPCG(seed, 0x636f6c64))
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	cold := map[tailor.ItemID]bool{}
	var coldList []tailor.ItemID
	for _, it := range items[:max(1, int(share*float64(len(items))))] {
		cold[it] = true
		coldList = append(coldList, it)
	}
	slices.Sort(coldList)
	history := map[string][]tailor.ItemID{}
	test := map[string]map[tailor.ItemID]bool{}
	catPop := map[string]int{}
	for _, p := range ps {
		switch {
		case p.at.Before(cutoff) && !cold[p.item]:
			history[p.user] = append(history[p.user], p.item)
			catPop[category(data.Items[p.item])]++
		case !p.at.Before(cutoff) && cold[p.item]:
			if test[p.user] == nil {
				test[p.user] = map[tailor.ItemID]bool{}
			}
			test[p.user][p.item] = true
		}
	}
	catalog := make([]tailor.Item, 0, len(data.Items))
	for _, it := range data.Items {
		catalog = append(catalog, it)
	}
	slices.SortFunc(catalog, func(a, b tailor.Item) int { return cmp.Compare(a.ID, b.ID) })
	cm, err := content.Fit(catalog, content.Options{Seed: seed})
	if err != nil {
		return nil, err
	}
	users := make([]string, 0, len(test))
	for u := range test {
		if len(history[u]) > 0 {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	if len(users) == 0 {
		return nil, fmt.Errorf("cold items: no returning shopper bought a cold item after the cutoff")
	}
	isCold := func(id tailor.ItemID) bool { return cold[id] }
	byPop := slices.Clone(coldList)
	slices.SortStableFunc(byPop, func(a, b tailor.ItemID) int {
		return cmp.Compare(catPop[category(data.Items[b])], catPop[category(data.Items[a])])
	})
	scores := []ColdScore{{Model: "content"}, {Model: "random"}, {Model: "popularity-in-category"}}
	for _, u := range users {
		var lists [3][]tailor.ItemID
		if p := cm.Profile(history[u]); p != nil {
			for _, s := range cm.Nearest(p, 20, isCold) {
				lists[0] = append(lists[0], s.Item)
			}
		}
		rnd := slices.Clone(coldList)
		r.Shuffle(len(rnd), func(i, j int) { rnd[i], rnd[j] = rnd[j], rnd[i] })
		lists[1] = rnd[:min(20, len(rnd))]
		lists[2] = byPop[:min(20, len(byPop))]
		for k, list := range lists {
			hits := 0
			for _, it := range list {
				if test[u][it] {
					hits++
				}
			}
			scores[k].Recall += float64(hits) / float64(len(test[u]))
			scores[k].Users++
		}
	}
	for k := range scores {
		scores[k].Recall /= float64(scores[k].Users)
	}
	return scores, nil
}
