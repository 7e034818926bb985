// Package itemknn is item-based k-nearest-neighbour collaborative filtering
// (Deshpande & Karypis 2004) on binary interactions: each item keeps its k
// most similar items, and a user's score for an item is the sum of its
// similarities to the user's items.
package itemknn

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/neighbors"
)

// Config holds the parameters. Zero fields take the defaults.
type Config struct {
	// Neighbors is how many similar items each item keeps (default 100).
	Neighbors int `json:"neighbors"`
	// Similarity is "cosine" (default), "asymmetric" (asymmetric cosine,
	// |Ui∩Uj| / (|Ui|^α·|Uj|^(1−α))) or "jaccard".
	Similarity string `json:"similarity"`
	// Alpha is α of the asymmetric cosine, in [0, 1] (default 0.5, which
	// is the cosine).
	Alpha *float64 `json:"alpha"`
	// Shrink is added to every similarity's denominator, damping pairs
	// with few common users (default 0).
	Shrink float64 `json:"shrink"`
	// Weighting weighs each user's part in the similarities: "none"
	// (default), "tfidf" (a user who has many items counts less: idf =
	// log(items / (1 + the user's items))) or "bm25" (idf as tfidf, and
	// each item's vector normalized by its length with K1 100, B 0.8).
	Weighting string `json:"weighting"`
}

func (c *Config) defaults() error {
	if c.Neighbors == 0 {
		c.Neighbors = 100
	}
	if c.Similarity == "" {
		c.Similarity = "cosine"
	}
	if c.Alpha == nil {
		a := 0.5
		c.Alpha = &a
	}
	if c.Weighting == "" {
		c.Weighting = "none"
	}
	switch {
	case c.Neighbors < 1:
		return fmt.Errorf("itemknn: neighbors %d must be at least 1", c.Neighbors)
	case c.Similarity != "cosine" && c.Similarity != "asymmetric" && c.Similarity != "jaccard":
		return fmt.Errorf("itemknn: similarity %q is not cosine, asymmetric or jaccard", c.Similarity)
	case *c.Alpha < 0 || *c.Alpha > 1:
		return fmt.Errorf("itemknn: alpha %v is not in [0, 1]", *c.Alpha)
	case c.Shrink < 0:
		return fmt.Errorf("itemknn: shrink %v is negative", c.Shrink)
	case c.Weighting != "none" && c.Weighting != "tfidf" && c.Weighting != "bm25":
		return fmt.Errorf("itemknn: weighting %q is not none, tfidf or bm25", c.Weighting)
	}
	return nil
}

// Info describes the model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, k := range []int{20, 50, 100, 200} {
		for _, shrink := range []int{0, 10} {
			grid = append(grid, json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"shrink":%d}`, k, shrink)))
		}
		grid = append(grid, json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"similarity":"asymmetric","alpha":0.7}`, k)),
			json.RawMessage(fmt.Sprintf(`{"neighbors":%d,"weighting":"bm25"}`, k)))
	}
	return model.MatrixInfo(model.MatrixKind{Name: "itemknn", New: func(params json.RawMessage, _ uint64) (model.Matrix, error) {
		var c Config
		if err := model.DecodeParams("itemknn", params, &c); err != nil {
			return nil, err
		}
		return New(c)
	}, Grid: grid})
}

// New returns an unfitted model.
func New(c Config) (*Model, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	return &Model{cfg: c}, nil
}

// Model is a fitted item-kNN. Recommend is safe for concurrent use.
type Model struct {
	cfg Config
	neighbors.Recommender
}

// weights returns each user's weight and each item's factor: a user–item
// pair weighs userW[u]·itemF[i] (see Config.Weighting).
func (m *Model) weights(d, byItem *feature.Dataset) (userW, itemF []float64) {
	nu, ni := d.NumUsers(), d.NumItems()
	userW, itemF = make([]float64, nu), make([]float64, ni)
	for u := range userW {
		userW[u] = 1
		if m.cfg.Weighting != "none" {
			n := float64(d.RowPtr[u+1] - d.RowPtr[u])
			userW[u] = math.Max(math.Log(float64(ni)/(1+n)), 0)
		}
	}
	var avg float64
	for i := range itemF {
		itemF[i] = 1
		avg += float64(byItem.RowPtr[i+1]-byItem.RowPtr[i]) / float64(ni)
	}
	if m.cfg.Weighting == "bm25" && avg > 0 {
		const k1, b = 100, 0.8
		for i := range itemF {
			length := float64(byItem.RowPtr[i+1] - byItem.RowPtr[i])
			itemF[i] = (k1 + 1) / (k1*((1-b)+b*length/avg) + 1)
		}
	}
	return userW, itemF
}

// Fit computes every item's neighbours, on all cores.
func (m *Model) Fit(ctx context.Context, d *feature.Dataset) error {
	n := d.NumItems()
	byItem := d.Transpose()
	userW, itemF := m.weights(d, byItem)
	// norm2[i] is the squared length of item i's weighted user vector.
	norm2 := make([]float64, n)
	for i := 0; i < n; i++ {
		users, _ := byItem.Row(int32(i))
		for _, u := range users {
			norm2[i] += userW[u] * userW[u]
		}
		norm2[i] *= itemF[i] * itemF[i]
	}
	lists, err := neighbors.Build(ctx, n, m.cfg.Neighbors,
		func(i int32, co []float64, touched []int32) []int32 {
			users, _ := byItem.Row(i)
			for _, u := range users {
				w2 := userW[u] * userW[u]
				if w2 == 0 {
					continue
				}
				items, _ := d.Row(u)
				for _, j := range items {
					if co[j] == 0 {
						touched = append(touched, j)
					}
					co[j] += w2
				}
			}
			return touched
		},
		func(i, j int32, co float64) float64 {
			return m.similarity(co*itemF[i]*itemF[j], norm2[i], norm2[j])
		})
	if err != nil {
		return err
	}
	m.Set(d, lists)
	return nil
}

// similarity of two items from the dot product of their weighted user
// vectors and their squared lengths (with binary, unweighted vectors: the
// number of common users and the numbers of users).
func (m *Model) similarity(dot, ni, nj float64) float64 {
	var den float64
	switch m.cfg.Similarity {
	case "jaccard":
		den = ni + nj - dot
	case "asymmetric":
		a := *m.cfg.Alpha
		den = math.Pow(ni, a) * math.Pow(nj, 1-a)
	default:
		den = math.Sqrt(ni * nj)
	}
	den += m.cfg.Shrink
	if den <= 0 {
		return 0
	}
	return dot / den
}

// Neighbors returns the items most similar to item i with their
// similarities, best first. The slices alias the model.
func (m *Model) Neighbors(i int32) ([]int32, []float32) { return m.Lists().Row(i) }

var (
	_ model.PersistentMatrix = (*Model)(nil)
	_ model.Similar          = (*Model)(nil)
)
