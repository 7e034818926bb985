package feature

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Encoder writes the little-endian binary form of numbers, slices and
// strings, remembering the first error. It is what model artifacts are
// made of.
type Encoder struct {
	w   io.Writer
	buf [8]byte
	n   int64
	err error
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Err returns the first write error.
func (e *Encoder) Err() error { return e.err }

// N returns the number of bytes written.
func (e *Encoder) N() int64 { return e.n }

func (e *Encoder) write(b []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(b)
	e.n += int64(n)
	e.err = err
}

// Uint64 writes v.
func (e *Encoder) Uint64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.write(e.buf[:8])
}

// String writes a length-prefixed string.
func (e *Encoder) String(s string) {
	e.Uint64(uint64(len(s)))
	e.write([]byte(s))
}

// Strings writes a length-prefixed list of strings.
func (e *Encoder) Strings(ss []string) {
	e.Uint64(uint64(len(ss)))
	for _, s := range ss {
		e.String(s)
	}
}

// Int32s writes a length-prefixed []int32.
func (e *Encoder) Int32s(v []int32) {
	e.Uint64(uint64(len(v)))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	e.write(b)
}

// Int64s writes a length-prefixed []int64.
func (e *Encoder) Int64s(v []int64) {
	e.Uint64(uint64(len(v)))
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	e.write(b)
}

// Float32s writes a length-prefixed []float32.
func (e *Encoder) Float32s(v []float32) {
	e.Uint64(uint64(len(v)))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	e.write(b)
}

// Decoder reads what an Encoder wrote, remembering the first error. Lengths
// are checked against the bytes left, so corrupt input fails cleanly.
type Decoder struct {
	r   *bytes.Reader
	b   []byte // the input, for Bytes
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{r: bytes.NewReader(b), b: b} }

// Err returns the first error.
func (d *Decoder) Err() error { return d.err }

// ErrCorrupt is returned for input that is not a valid encoding.
var ErrCorrupt = errors.New("corrupt binary data")

func (d *Decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

// Uint64 reads a uint64.
func (d *Decoder) Uint64() uint64 {
	var b [8]byte
	if d.err != nil {
		return 0
	}
	if _, err := io.ReadFull(d.r, b[:]); err != nil {
		d.fail("truncated")
		return 0
	}
	return binary.LittleEndian.Uint64(b[:])
}

// length reads a length of elements of size bytes, checking it fits.
func (d *Decoder) length(size int) int {
	n := d.Uint64()
	if d.err == nil && n > uint64(d.r.Len())/uint64(size) {
		d.fail("a length exceeds the data")
		return 0
	}
	return int(n)
}

func (d *Decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.fail("truncated")
		return nil
	}
	return b
}

// String reads a string.
func (d *Decoder) String() string { return string(d.bytes(d.length(1))) }

// Bytes reads what String reads, as a slice of the decoder's input
// rather than a copy (for large payloads): do not modify it.
func (d *Decoder) Bytes() []byte {
	n := d.length(1)
	if d.err != nil {
		return nil
	}
	start := len(d.b) - d.r.Len()
	if _, err := d.r.Seek(int64(n), io.SeekCurrent); err != nil {
		d.fail("truncated")
		return nil
	}
	return d.b[start : start+n : start+n]
}

// Strings reads a list of strings.
func (d *Decoder) Strings() []string {
	n := d.length(8)
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.String())
	}
	return out
}

// Int32s reads a []int32.
func (d *Decoder) Int32s() []int32 {
	n := d.length(4)
	b := d.bytes(4 * n)
	out := make([]int32, n)
	for i := range out {
		if b != nil {
			out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return out
}

// Int64s reads a []int64.
func (d *Decoder) Int64s() []int64 {
	n := d.length(8)
	b := d.bytes(8 * n)
	out := make([]int64, n)
	for i := range out {
		if b != nil {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return out
}

// Float32s reads a []float32.
func (d *Decoder) Float32s() []float32 {
	n := d.length(4)
	if d.err != nil {
		return make([]float32, n)
	}
	// Decode straight from the input (no intermediate copy: model
	// artifacts hold arrays of hundreds of megabytes).
	start := len(d.b) - d.r.Len()
	if _, err := d.r.Seek(int64(4*n), io.SeekCurrent); err != nil {
		d.fail("truncated")
		return make([]float32, n)
	}
	b := d.b[start : start+4*n]
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// Encode writes the dataset.
func (ds *Dataset) Encode(e *Encoder) {
	e.Strings(ds.Users)
	e.Strings(ds.Items)
	e.Int64s(ds.RowPtr)
	e.Int32s(ds.Cols)
	e.Float32s(ds.Weights)
	e.Int64s(ds.Times)
}

// DecodeDataset reads a dataset written by Encode and checks that it is
// consistent.
func DecodeDataset(d *Decoder) (*Dataset, error) {
	ds := &Dataset{Users: d.Strings(), Items: d.Strings(), RowPtr: d.Int64s(), Cols: d.Int32s(), Weights: d.Float32s(), Times: d.Int64s()}
	if err := d.Err(); err != nil {
		return nil, err
	}
	nnz := int64(len(ds.Cols))
	if len(ds.RowPtr) != len(ds.Users)+1 || len(ds.Weights) != len(ds.Cols) || len(ds.Times) != len(ds.Cols) ||
		ds.RowPtr[0] != 0 || ds.RowPtr[len(ds.Users)] != nnz {
		return nil, fmt.Errorf("%w: inconsistent matrix", ErrCorrupt)
	}
	for u := 0; u < len(ds.Users); u++ {
		if ds.RowPtr[u] > ds.RowPtr[u+1] {
			return nil, fmt.Errorf("%w: inconsistent matrix", ErrCorrupt)
		}
	}
	for _, c := range ds.Cols {
		if c < 0 || int(c) >= len(ds.Items) {
			return nil, fmt.Errorf("%w: item index out of range", ErrCorrupt)
		}
	}
	return ds, nil
}

// Float64s writes a length-prefixed []float64.
func (e *Encoder) Float64s(v []float64) {
	e.Uint64(uint64(len(v)))
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	e.write(b)
}

// Float64s reads a []float64.
func (d *Decoder) Float64s() []float64 {
	n := d.length(8)
	b := d.bytes(8 * n)
	out := make([]float64, n)
	for i := range out {
		if b != nil {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return out
}
