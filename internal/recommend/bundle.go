package recommend

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tailorhq/tailor/internal/feature"
)

const bundleMagic = "TAILOR-BUNDLE-1"

// EncodeBundle is what the registry stores for a version: the item ids of
// the model's dense indices (index i is items[i]) and the model artifact
// (model.Save's output).
func EncodeBundle(items []string, artifact []byte) ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.String(bundleMagic)
	e.Strings(items)
	e.String(string(artifact))
	return b.Bytes(), e.Err()
}

// DecodeBundle reads what EncodeBundle wrote.
func DecodeBundle(b []byte) (items []string, artifact []byte, err error) {
	d := feature.NewDecoder(b)
	if m := d.String(); d.Err() != nil || m != bundleMagic {
		return nil, nil, errors.New("not a Tailor model bundle")
	}
	items = d.Strings()
	artifact = d.Bytes()
	if err := d.Err(); err != nil {
		return nil, nil, fmt.Errorf("model bundle: %w", err)
	}
	return items, artifact, nil
}
