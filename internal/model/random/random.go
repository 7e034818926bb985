// Package random is the random baseline: the allowed items in a seeded
// random order, different for each query and the same for the same query
// and seed. Any good model must beat it by far.
package random

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// Info describes the model for package all.
func Info() model.Info {
	return model.Info{Name: "random", New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var none struct{}
		if err := model.DecodeParams("random", params, &none); err != nil {
			return nil, err
		}
		return &Model{seed: seed}, nil
	}}
}

// Model draws items at random. It is safe for concurrent use.
type Model struct {
	seed uint64
	n    int
}

// Fit notes the size of the catalog.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	m.n = d.NumItems()
	return ctx.Err()
}

// Tasks: every task but search.
func (m *Model) Tasks() []model.Task {
	return []model.Task{model.TaskPersonal, model.TaskSimilar, model.TaskBasket, model.TaskSession, model.TaskRepurchase}
}

// Answer draws up to q.N allowed items: among the candidates when q has
// them, the history's items for a repurchase query, else the catalog.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task == model.TaskSearch {
		return dst, &model.TaskError{Model: "random", Task: q.Task}
	}
	if m.n == 0 {
		return dst, fmt.Errorf("random: not fitted")
	}
	if err := model.CheckQuery("random", q, m.n); err != nil {
		return dst, err
	}
	pool := q.Candidates
	if pool == nil && q.Task == model.TaskRepurchase {
		seen := map[int32]bool{}
		for _, h := range q.History {
			if !seen[h.Item] {
				seen[h.Item] = true
				pool = append(pool, h.Item)
			}
		}
	}
	// The query's own seed: its user, item and history.
	h := fnv.New64a()
	var b [4]byte
	put := func(v int32) {
		b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		h.Write(b[:])
	}
	put(q.User)
	put(q.Item)
	for _, x := range q.History {
		put(x.Item)
	}
	r := rand.New(rand.NewPCG(m.seed, h.Sum64()))
	start := len(dst)
	if pool != nil {
		order := r.Perm(len(pool))
		for _, k := range order {
			if len(dst)-start == q.N {
				break
			}
			if i := pool[k]; q.Allowed(i) {
				dst = append(dst, topk.Entry{Index: i, Score: float32(q.N - (len(dst) - start))})
			}
		}
		return dst, nil
	}
	// The whole catalog: draw until enough are allowed (without building
	// a permutation of every item).
	seen := map[int32]bool{}
	for tries := 0; len(dst)-start < q.N && tries < 4*m.n+100; tries++ {
		i := int32(r.IntN(m.n))
		if seen[i] {
			continue
		}
		seen[i] = true
		if q.Allowed(i) {
			dst = append(dst, topk.Entry{Index: i, Score: float32(q.N - (len(dst) - start))})
		}
	}
	return dst, nil
}
