// Package semantic is the search-by-meaning model over package semantic's
// index, registered twice: "semantic" ranks by the embeddings alone,
// "hybrid" blends them with BM25, its share chosen on validation (--tune,
// search-replay). The word vectors are those of 'tailor vectors install'
// when present; without them both fall back to Tailor's own LSA text
// vectors and say so (Embedder).
package semantic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/llm/glove"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/semantic"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters.
type Config struct {
	// Vectors is a word-vector file of 'tailor vectors install'; empty
	// means the one it installs by default (glove.DefaultPath) when it is
	// there, else Tailor's own LSA vectors of the catalog's text; "lsa"
	// means those always.
	Vectors string `json:"vectors,omitempty"`
	// Text is the BM25 share of a hybrid score, in [0, 1): 0 ranks by
	// meaning alone (semantic's; hybrid's default is semantic.DefaultText).
	Text *float64 `json:"text,omitempty"`
	// Dims is the number of LSA dimensions (default 64).
	Dims int `json:"dims,omitempty"`
}

// Info describes "semantic" for package all.
func Info() model.Info { return info("semantic", 0, nil) }

// HybridInfo describes "hybrid" for package all, with its grid of BM25
// shares.
func HybridInfo() model.Info {
	var grid []json.RawMessage
	for _, t := range []string{"0.1", "0.3", "0.5", "0.7", "0.8", "0.9", "0.95"} {
		grid = append(grid, json.RawMessage(`{"text":`+t+`}`))
	}
	return info("hybrid", semantic.DefaultText, grid)
}

func info(name string, text float64, grid []json.RawMessage) model.Info {
	return model.Info{Name: name, Grid: grid, New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams(name, params, &c); err != nil {
			return nil, err
		}
		if c.Text == nil {
			c.Text = &text
		}
		if !(*c.Text >= 0 && *c.Text < 1) {
			return nil, fmt.Errorf("%s: text %v must be in [0, 1)", name, *c.Text)
		}
		if name == "semantic" && *c.Text != 0 {
			return nil, fmt.Errorf("semantic: text %v: the BM25 share is hybrid's parameter", *c.Text)
		}
		if c.Dims < 0 || c.Dims > 1024 {
			return nil, fmt.Errorf("%s: dims %d must be from 1 to 1024", name, c.Dims)
		}
		switch c.Vectors {
		case "lsa":
			c.Vectors = ""
		case "":
			if _, err := os.Stat(glove.DefaultPath()); err == nil {
				c.Vectors = glove.DefaultPath()
			}
		default:
			if _, err := os.Stat(c.Vectors); err != nil {
				return nil, fmt.Errorf("%s: vectors: %w (install them with 'tailor vectors install')", name, err)
			}
		}
		return &Model{name: name, cfg: c, seed: seed}, nil
	}}
}

// Model is a fitted semantic or hybrid search. It is safe for concurrent
// use once fitted.
type Model struct {
	name  string
	cfg   Config
	seed  uint64
	index *semantic.Index
	items map[tailor.ItemID]int32
}

// Embedder says what the model embeds with: "glove-sif" or "lsa".
func (m *Model) Embedder() string {
	if m.cfg.Vectors != "" {
		return "glove-sif"
	}
	return "lsa"
}

// Fit embeds the catalog's offerable items and, for hybrid, indexes them.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	opts := semantic.Options{Dims: m.cfg.Dims, Text: *m.cfg.Text, Seed: m.seed}
	if m.cfg.Vectors != "" {
		v, err := glove.Load(m.cfg.Vectors)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		opts.Embedder = v
	}
	x, err := semantic.Build(ctx, d.Catalog, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", m.name, err)
	}
	m.index = x
	m.items = make(map[tailor.ItemID]int32, d.NumItems())
	for i, id := range d.Items {
		m.items[tailor.ItemID(id)] = int32(i)
	}
	return nil
}

// Tasks: search.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskSearch} }

// Answer ranks the allowed items for q.Text.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskSearch {
		return dst, &model.TaskError{Model: m.name, Task: q.Task}
	}
	if m.index == nil {
		return dst, errors.New(m.name + ": not fitted")
	}
	if err := model.CheckQuery(m.name, q, len(m.items)); err != nil {
		return dst, err
	}
	hits, err := m.index.Search(context.Background(), q.Text, q.N, func(id tailor.ItemID) bool {
		i, ok := m.items[id]
		return ok && q.Allowed(i)
	})
	if err != nil {
		return dst, err
	}
	for _, h := range hits {
		dst = append(dst, topk.Entry{Index: m.items[h.Item], Score: float32(h.Score)})
	}
	return dst, nil
}
