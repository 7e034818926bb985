package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tailorhq/tailor"
)

// RowError says what is wrong with one element of a batch.
type RowError struct {
	// Index is the 0-based position of the element in the batch.
	Index int `json:"index"`
	tailor.FieldError
}

// BatchTooLargeError is returned by DecodeArray when a batch has more rows
// than allowed.
type BatchTooLargeError struct{ Max int }

func (e *BatchTooLargeError) Error() string {
	return fmt.Sprintf("the batch has more than %d rows; split it into batches of at most %d", e.Max, e.Max)
}

// DecodeArray reads a JSON array of objects of type T from r, decoding
// every element strictly (unknown fields, wrong types and invalid UTF-8 are
// errors). It returns the decoded elements, with the zero T in place of
// those that failed, and one RowError per failed element. The error is not
// nil when the input as a whole is unusable: not a JSON array, malformed
// JSON, or more than max elements (a *BatchTooLargeError).
//
// Valid input is decoded in one pass; only input with errors is taken
// apart element by element to say which rows are wrong.
func DecodeArray[T any](r io.Reader, max int) ([]T, []RowError, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	if rows, ok := decodeArrayFast[T](body, max); ok {
		return rows, nil, nil
	}
	return decodeArraySlow[T](body, max)
}

// decodeArrayFast decodes body in one pass and reports whether it was a
// valid array of at most max objects.
func decodeArrayFast[T any](body []byte, max int) ([]T, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' || !utf8.Valid(trimmed) || bytes.Contains(trimmed, []byte("null")) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var rows []T
	if err := dec.Decode(&rows); err != nil || dec.More() || len(rows) > max || len(rows) == 0 {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	if checkText(trimmed, 1, jsonNames(reflect.TypeFor[T]())) != nil {
		return nil, false // the slow path says which row
	}
	return rows, true
}

// decodeArraySlow decodes body element by element to report every bad
// row.
func decodeArraySlow[T any](body []byte, max int) ([]T, []RowError, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, describeSyntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, nil, errors.New("the body must be a JSON array of objects")
	}
	var (
		out  []T
		errs []RowError
		raw  json.RawMessage
	)
	for dec.More() {
		if len(out) >= max {
			return nil, nil, &BatchTooLargeError{Max: max}
		}
		raw = raw[:0]
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("element %d: %w", len(out), describeSyntax(err))
		}
		var v T
		if fe := DecodeObject(raw, &v); fe != nil {
			errs = append(errs, RowError{Index: len(out), FieldError: *fe})
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, describeSyntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("unexpected data after the JSON array")
	}
	return out, errs, nil
}

func describeSyntax(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("malformed JSON: unexpected end of input")
	}
	return err
}

// DecodeObject decodes one JSON object into v, rejecting invalid UTF-8,
// unknown fields, wrong types, trailing data, duplicate keys, field names
// in another case and half surrogate pairs, and returns what is wrong as a
// FieldError naming the field.
func DecodeObject(raw []byte, v any) *tailor.FieldError {
	if !utf8.Valid(raw) {
		return &tailor.FieldError{Reason: "not valid UTF-8"}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return &tailor.FieldError{Reason: "must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Whatever follows the object is refused (dec.More alone misses a
		// stray '}' or ']').
		if end := dec.InputOffset(); end != int64(len(raw)) {
			return &tailor.FieldError{Reason: "unexpected data after the JSON object"}
		}
		return checkText(raw, 0, jsonNames(reflect.TypeOf(v)))
	}
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
		pe *time.ParseError
	)
	switch {
	case errors.As(err, &te):
		return &tailor.FieldError{Field: jsonField(te.Field), Reason: fmt.Sprintf("expected %s, got %s", typeName(te.Type), te.Value)}
	case errors.As(err, &se):
		return &tailor.FieldError{Reason: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)}
	case errors.As(err, &pe):
		return &tailor.FieldError{Field: badTimeField(raw, reflect.TypeOf(v)), Reason: "must be an RFC 3339 time such as 2024-05-01T12:00:00Z"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &tailor.FieldError{Field: name, Reason: "unknown field"}
	}
	return &tailor.FieldError{Reason: err.Error()}
}

// jsonField drops the Go names of embedded structs from a field path
// reported by encoding/json ("Item.price" becomes "price"): JSON names in
// this API are lower case.
func jsonField(path string) string {
	for {
		head, rest, ok := strings.Cut(path, ".")
		if !ok || head == "" || head[0] < 'A' || head[0] > 'Z' {
			return path
		}
		path = rest
	}
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "an array"
	case reflect.Map, reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			return "an RFC 3339 time string"
		}
		return "an object"
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Interface:
		return "a value"
	}
	return t.String()
}

// badTimeField finds which time.Time field of the struct behind typ failed
// to parse in raw, since encoding/json does not say.
func badTimeField(raw []byte, typ reflect.Type) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return ""
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for _, name := range timeFields(typ) {
		v, ok := fields[name]
		if !ok {
			continue
		}
		var t time.Time
		if json.Unmarshal(v, &t) != nil {
			return name
		}
	}
	return ""
}

func timeFields(typ reflect.Type) []string {
	var out []string
	if typ.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Anonymous {
			out = append(out, timeFields(f.Type)...)
			continue
		}
		if f.Type == reflect.TypeOf(time.Time{}) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out = append(out, name)
		}
	}
	return out
}
