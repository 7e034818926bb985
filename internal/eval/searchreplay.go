package eval

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/search"
)

// SearchScore is a search ranking's MRR@10 over the replayed queries.
type SearchScore struct {
	Model   string  `json:"model"`
	MRR     float64 `json:"mrr@10"`
	Hit     float64 `json:"hit@10"`
	Queries int     `json:"queries"`
}

// SearchReplay is the search-replay protocol: for each returning shopper
// of the temporal split at the cutoff and each item they bought after it
// (up to five a shopper, seeded), a query is made from the item's title
// with one word dropped (titles of three words or more) and one typo (two
// neighbouring letters swapped in a word of five letters or more); the
// item's reciprocal rank in the first 10 results counts. "text" ranks by
// the text match; "personalized" re-ranks the 100 best matches with the
// shopper's scores from info's model fitted on the training part, with
// weight personalization.
func SearchReplay(ctx context.Context, data *Data, cutoff time.Time, info model.Info, personalization float64, seed uint64) ([]SearchScore, error) {
	folds, err := Split("temporal", data, Options{Cutoff: cutoff, Repeats: "include", Seed: seed})
	if err != nil {
		return nil, err
	}
	f := folds[0]
	m, err := info.New(nil, seed)
	if err != nil {
		return nil, err
	}
	if err := m.Fit(ctx, f.Train); err != nil {
		return nil, err
	}
	scorer, ok := m.(model.Scorer)
	if !ok {
		return nil, fmt.Errorf("search replay: %s cannot score the catalog", info.Name)
	}
	var items []tailor.Item
	for _, it := range data.Items {
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b tailor.Item) int { return cmp.Compare(a.ID, b.ID) })
	idx := search.Build(items)
	index := map[tailor.ItemID]int32{}
	for i, id := range f.Train.Items {
		index[tailor.ItemID(id)] = int32(i)
	}
	r := rand.New(rand.NewPCG(seed, 0x73727079))
	scores := []SearchScore{{Model: "text"}, {Model: "personalized"}}
	users := make([]int32, 0, len(f.Test))
	for u := range f.Test {
		users = append(users, u)
	}
	slices.Sort(users)
	personal := make([]float32, f.Train.NumItems())
	for _, u := range users {
		targets := slices.Clone(f.Test[u])
		r.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
		targets = targets[:min(5, len(targets))]
		scorer.Score(u, personal)
		for _, ti := range targets {
			target := tailor.ItemID(f.Train.Items[ti])
			q := replayQuery(data.Items[target].Title, r)
			if q == "" {
				continue
			}
			hits := idx.Search(q, 100, nil)
			rank := func(hs []search.Hit) int {
				for k, h := range hs[:min(10, len(hs))] {
					if h.Item == target {
						return k + 1
					}
				}
				return 0
			}
			// Personalized: text score scaled to the best, plus the scaled
			// model score, as the server does.
			re := slices.Clone(hits)
			if len(re) > 0 {
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, h := range re {
					if j, ok := index[h.Item]; ok {
						lo, hi = math.Min(lo, float64(personal[j])), math.Max(hi, float64(personal[j]))
					}
				}
				top := re[0].Score
				for k := range re {
					p := 0.0
					if j, ok := index[re[k].Item]; ok && hi > lo {
						p = (float64(personal[j]) - lo) / (hi - lo)
					}
					re[k].Score = (1-personalization)*re[k].Score/top + personalization*p
				}
				slices.SortStableFunc(re, func(a, b search.Hit) int { return cmp.Compare(b.Score, a.Score) })
			}
			for s, hs := range [][]search.Hit{hits, re} {
				scores[s].Queries++
				if k := rank(hs); k > 0 {
					scores[s].MRR += 1 / float64(k)
					scores[s].Hit++
				}
			}
		}
	}
	if scores[0].Queries == 0 {
		return nil, fmt.Errorf("search replay: no query could be made")
	}
	for s := range scores {
		scores[s].MRR /= float64(scores[s].Queries)
		scores[s].Hit /= float64(scores[s].Queries)
	}
	return scores, nil
}

// replayQuery makes a shopper's query from a title: one word dropped (of
// three or more) and one typo.
func replayQuery(title string, r *rand.Rand) string {
	words := strings.Fields(title)
	if len(words) == 0 {
		return ""
	}
	if len(words) >= 3 {
		k := r.IntN(len(words))
		words = slices.Delete(words, k, k+1)
	}
	var long []int
	for i, w := range words {
		if len(w) >= 5 {
			long = append(long, i)
		}
	}
	if len(long) > 0 {
		i := long[r.IntN(len(long))]
		b := []byte(words[i])
		j := 1 + r.IntN(len(b)-2)
		b[j], b[j+1] = b[j+1], b[j]
		words[i] = string(b)
	}
	return strings.ToLower(strings.Join(words, " ")) + " "
}
