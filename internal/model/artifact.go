package model

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/topk"
)

// Persistent is implemented by models that can be saved as an artifact
// and loaded again.
type Persistent interface {
	Model
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// Similar is implemented by models that know which items are alike.
type Similar interface {
	// SimilarItems appends to dst the n items most similar to item i,
	// best first.
	SimilarItems(i int32, n int, dst []topk.Entry) []topk.Entry
}

// ArtifactVersion is the version of the artifact layout Save writes.
const ArtifactVersion = 1

const artifactMagic = "TAILOR-MODEL"

// ErrNotPersistent is returned by Save for models that cannot be saved.
var ErrNotPersistent = errors.New("the model cannot be saved")

// Save writes the model as a versioned artifact: a header naming the
// layout version, the model and its parameters, then the model's own
// binary form. It returns the bytes written.
func Save(w io.Writer, name string, params json.RawMessage, m Model) (int64, error) {
	p, ok := m.(Persistent)
	if !ok {
		return 0, fmt.Errorf("save %s: %w", name, ErrNotPersistent)
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		return 0, fmt.Errorf("save %s: %w", name, err)
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	e := feature.NewEncoder(w)
	e.String(artifactMagic)
	e.Uint64(ArtifactVersion)
	e.String(name)
	e.String(string(params))
	e.String(string(payload))
	if err := e.Err(); err != nil {
		return e.N(), fmt.Errorf("save %s: %w", name, err)
	}
	return e.N(), nil
}

// Load reads an artifact written by Save and returns the model, its name
// and its parameters. lookup finds the model kind by name.
func Load(r io.Reader, lookup func(name string) (Info, error)) (Model, string, json.RawMessage, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, "", nil, fmt.Errorf("load model: %w", err)
	}
	return LoadBytes(b, lookup)
}

// LoadBytes is Load from an artifact in memory, without copying its
// payload (the model makes its own arrays from it).
func LoadBytes(b []byte, lookup func(name string) (Info, error)) (Model, string, json.RawMessage, error) {
	d := feature.NewDecoder(b)
	if magic := d.String(); d.Err() != nil || magic != artifactMagic {
		return nil, "", nil, errors.New("load model: not a Tailor model artifact")
	}
	if v := d.Uint64(); v != ArtifactVersion {
		return nil, "", nil, fmt.Errorf("load model: artifact version %d; this build reads version %d", v, ArtifactVersion)
	}
	name, params, payload := d.String(), json.RawMessage(d.String()), d.Bytes()
	if err := d.Err(); err != nil {
		return nil, "", nil, fmt.Errorf("load model: %w", err)
	}
	info, err := lookup(name)
	if err != nil {
		return nil, "", nil, fmt.Errorf("load model: %w", err)
	}
	m, err := info.New(params, 0)
	if err != nil {
		return nil, "", nil, fmt.Errorf("load %s: %w", name, err)
	}
	p, ok := m.(Persistent)
	if !ok {
		return nil, "", nil, fmt.Errorf("load %s: %w", name, ErrNotPersistent)
	}
	if err := p.UnmarshalBinary(payload); err != nil {
		return nil, "", nil, fmt.Errorf("load %s: %w", name, err)
	}
	return p, name, params, nil
}

// Size returns the size in bytes of the model's artifact, or an error if it
// cannot be saved.
func Size(name string, params json.RawMessage, m Model) (int64, error) {
	var c counter
	return Save(&c, name, params, m)
}

type counter struct{}

func (counter) Write(b []byte) (int, error) { return len(b), nil }
