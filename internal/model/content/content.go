// Package content is the content model: items by their text (package
// content's LSA vectors of their title, brand, categories and
// description), a shopper by the mean vector of the items they had. It
// answers personal queries (the items closest to the shopper's mean, such
// as new items nobody has bought yet) and similar-item queries (the items
// closest to one item) for any item with words, trained or not.
package content

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/kernels"
	"github.com/tailorhq/tailor/internal/llm/glove"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/semantic"
	"github.com/tailorhq/tailor/internal/topk"
)

// Config holds the parameters.
type Config struct {
	// Dims is the number of LSA dimensions (default 64).
	Dims int `json:"dims"`
	// Vectors embeds the items with SIF-weighted GloVe word vectors
	// instead of LSA: "glove" for those of 'tailor vectors install', or
	// the path of such a file. Empty: LSA.
	Vectors string `json:"vectors,omitempty"`
}

// Info describes the model for package all.
func Info() model.Info {
	return model.Info{Name: "content", Grid: []json.RawMessage{
		json.RawMessage(`{"dims":32}`), json.RawMessage(`{"dims":64}`), json.RawMessage(`{"dims":128}`),
	}, New: func(params json.RawMessage, seed uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("content", params, &c); err != nil {
			return nil, err
		}
		if c.Dims < 0 {
			return nil, fmt.Errorf("content: dims %d must be positive", c.Dims)
		}
		if c.Vectors == "glove" {
			c.Vectors = glove.DefaultPath()
		}
		if c.Vectors != "" {
			if _, err := os.Stat(c.Vectors); err != nil {
				return nil, fmt.Errorf("content: vectors: %w (install them with 'tailor vectors install')", err)
			}
		}
		return &Model{cfg: c, seed: seed}, nil
	}}
}

// Model holds a unit vector for each item of the dataset (nil for items
// without words). It is safe for concurrent use once fitted.
type Model struct {
	cfg  Config
	seed uint64
	vecs [][]float32 // by item index
}

// Fit builds the vectors of the dataset's catalog (in id order, so that
// the vectors do not depend on the index order).
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	items := slices.Clone(d.Catalog)
	slices.SortFunc(items, func(a, b tailor.Item) int { return cmp.Compare(a.ID, b.ID) })
	var vector func(tailor.ItemID) []float32
	if m.cfg.Vectors != "" {
		v, err := glove.Load(m.cfg.Vectors)
		if err != nil {
			return fmt.Errorf("content: %w", err)
		}
		// Hidden items too: they can be asked about (similar items).
		for k := range items {
			items[k].Hidden, items[k].NonProduct = false, false
		}
		x, err := semantic.Build(ctx, items, semantic.Options{Embedder: v, Seed: m.seed})
		if err != nil {
			return fmt.Errorf("content: %w", err)
		}
		vector = x.Vector
	} else {
		lsa, err := content.Fit(items, content.Options{Dims: m.cfg.Dims, Seed: m.seed})
		if err != nil {
			return err
		}
		vector = lsa.Vector
	}
	m.vecs = make([][]float32, d.NumItems())
	for i, id := range d.Items {
		m.vecs[i] = vector(tailor.ItemID(id))
	}
	return ctx.Err()
}

// Tasks: personal and similar-item queries.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskPersonal, model.TaskSimilar} }

// Profile is the normalized mean of the vectors of a history's items,
// counted as often as they appear (nil when none has words).
func (m *Model) Profile(history []model.Interaction) []float32 {
	var p []float32
	for _, h := range history {
		if int(h.Item) >= len(m.vecs) || m.vecs[h.Item] == nil {
			continue
		}
		if p == nil {
			p = make([]float32, len(m.vecs[h.Item]))
		}
		kernels.Axpy(1, m.vecs[h.Item], p)
	}
	if p == nil {
		return nil
	}
	norm := math.Sqrt(float64(kernels.Dot(p, p)))
	if norm == 0 {
		return nil
	}
	for j := range p {
		p[j] /= float32(norm)
	}
	return p
}

// Answer ranks the allowed items by the cosine of their vector with the
// query's: the profile of q.History (personal) or the vector of q.Item
// (similar). A query without words answers nothing.
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if m.vecs == nil {
		return dst, fmt.Errorf("content: not fitted")
	}
	if err := model.CheckQuery("content", q, len(m.vecs)); err != nil {
		return dst, err
	}
	var vec []float32
	switch q.Task {
	case model.TaskPersonal:
		vec = m.Profile(q.History)
	case model.TaskSimilar:
		vec = m.vecs[q.Item]
	default:
		return dst, &model.TaskError{Model: "content", Task: q.Task}
	}
	if vec == nil {
		return dst, nil
	}
	h := topk.New(q.N)
	push := func(i int32) {
		v := m.vecs[i]
		if v == nil || (q.Task == model.TaskSimilar && i == q.Item) || (q.Exclude != nil && q.Exclude(i)) {
			return
		}
		h.Push(i, q.Boosted(i, kernels.Dot(vec, v)))
	}
	if q.Candidates != nil {
		for _, i := range q.Candidates {
			if int(i) < len(m.vecs) {
				push(i)
			}
		}
	} else {
		for i := range m.vecs {
			push(int32(i))
		}
	}
	return h.Sorted(dst), nil
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int { return len(m.vecs) }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}

// MarshalBinary encodes the vectors.
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.vecs == nil {
		return nil, errors.New("content: not fitted")
	}
	k := 0
	present := make([]int32, len(m.vecs))
	for i, v := range m.vecs {
		if v != nil {
			k, present[i] = len(v), 1
		}
	}
	flat := make([]float32, 0, k*len(m.vecs))
	for _, v := range m.vecs {
		flat = append(flat, v...)
	}
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(k))
	e.Int32s(present)
	e.Float32s(flat)
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	k := int(d.Uint64())
	present, flat := d.Int32s(), d.Float32s()
	if err := d.Err(); err != nil {
		return err
	}
	n := 0
	for _, p := range present {
		n += int(p)
	}
	if n*k != len(flat) {
		return errors.New("content: corrupt artifact")
	}
	m.vecs = make([][]float32, len(present))
	at := 0
	for i, p := range present {
		if p == 1 {
			m.vecs[i] = flat[at : at+k : at+k]
			at += k
		}
	}
	return nil
}

var (
	_ model.Persistent = (*Model)(nil)
	_ model.Sized      = (*Model)(nil)
)
