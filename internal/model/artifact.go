package model

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tailorhq/tailor/internal/feature"
)

// Persistent is implemented by models that can be saved as an artifact
// and loaded again. Without it, a model can be evaluated but not saved in
// the registry.
type Persistent interface {
	Model
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// PersistentMatrix is implemented by matrix models that can be saved.
type PersistentMatrix interface {
	Matrix
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// Forgetter is implemented by models whose state holds shoppers' own data
// (their ids, their rows of the training matrix, their vectors).
// ForgetUsers removes all of it for the shoppers gone reports true for,
// keeping what was learned from everyone together (item similarities,
// item vectors, counts), and returns how many it removed. It is called on
// a loaded model that serves nothing else (a stored version being
// scrubbed after deletions), so it need not be safe for concurrent use.
type Forgetter interface {
	ForgetUsers(gone func(id string) bool) int
}

// ForgetUsers removes the shoppers gone reports true for from m, when m
// keeps any (Forgetter), and returns how many it removed.
func ForgetUsers(m Model, gone func(id string) bool) int {
	if f, ok := m.(Forgetter); ok {
		return f.ForgetUsers(gone)
	}
	return 0
}

// Sized is implemented by models that know the size of the catalog they
// were fitted on; artifacts record it, and loading tells it back.
type Sized interface {
	NumItems() int
	SetNumItems(n int)
}

// IsPersistent reports whether m can be saved.
func IsPersistent(m Model) bool {
	if a, ok := m.(*matrixModel); ok {
		return a.persistent()
	}
	_, ok := m.(Persistent)
	return ok
}

// ArtifactVersion is the version of the artifact layout Save writes.
// Version 1 lacked the catalog size; Load reads both.
const ArtifactVersion = 2

const artifactMagic = "TAILOR-MODEL"

// ErrNotPersistent is returned by Save for models that cannot be saved.
var ErrNotPersistent = errors.New("the model cannot be saved")

// Save writes the model as a versioned artifact: a header naming the
// layout version, the model, its parameters and the size of its catalog,
// then the model's own binary form. It returns the bytes written.
func Save(w io.Writer, name string, params json.RawMessage, m Model) (int64, error) {
	p, ok := m.(Persistent)
	if !ok || !IsPersistent(m) {
		return 0, fmt.Errorf("save %s: %w", name, ErrNotPersistent)
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		return 0, fmt.Errorf("save %s: %w", name, err)
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	var n int
	if s, ok := m.(Sized); ok {
		n = s.NumItems()
	}
	e := feature.NewEncoder(w)
	e.String(artifactMagic)
	e.Uint64(ArtifactVersion)
	e.String(name)
	e.String(string(params))
	e.Uint64(uint64(n))
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
// payload (the model makes its own arrays from it). A model of a version 1
// artifact does not know its catalog size: the caller tells it (Sized).
func LoadBytes(b []byte, lookup func(name string) (Info, error)) (Model, string, json.RawMessage, error) {
	d := feature.NewDecoder(b)
	if magic := d.String(); d.Err() != nil || magic != artifactMagic {
		return nil, "", nil, errors.New("load model: not a Tailor model artifact")
	}
	v := d.Uint64()
	if v != 1 && v != ArtifactVersion {
		return nil, "", nil, fmt.Errorf("load model: artifact version %d; this build reads versions 1 and %d", v, ArtifactVersion)
	}
	name, params := d.String(), json.RawMessage(d.String())
	var n uint64
	if v >= 2 {
		n = d.Uint64()
	}
	payload := d.Bytes()
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
	if !ok || !IsPersistent(m) {
		return nil, "", nil, fmt.Errorf("load %s: %w", name, ErrNotPersistent)
	}
	if err := p.UnmarshalBinary(payload); err != nil {
		return nil, "", nil, fmt.Errorf("load %s: %w", name, err)
	}
	if s, ok := m.(Sized); ok && n > 0 {
		s.SetNumItems(int(n))
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
