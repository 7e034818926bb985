package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
)

// checkText reports what encoding/json accepts in a valid JSON text but
// this API refuses, as JSON parsers that follow RFC 8259's advice do:
//   - an object with the same key twice (encoding/json keeps the last);
//   - a \u escape of half a surrogate pair, which encoding/json turns into
//     U+FFFD, so that two different ids would become one;
//   - in the row objects (depth rows: 0 for a text that is one row, 1 for
//     an array of rows), a key that matches one of the fields only when
//     case is ignored (encoding/json matches names case-insensitively),
//     and a time field given as Go's zero time 0001-01-01T00:00:00Z, which
//     decodes to the same value as a time not given at all.
//
// b must be valid JSON (checkText runs after a decode succeeded).
func checkText(b []byte, rows int, fields rowFields) *tailor.FieldError {
	type object struct {
		keys []string
		set  map[string]bool // once keys is long
	}
	var (
		stack []*object // nil for an array
		key   []byte
	)
	for i := 0; i < len(b); {
		switch b[i] {
		case '{':
			stack = append(stack, &object{})
			i++
		case '[':
			stack = append(stack, nil)
			i++
		case '}', ']':
			if len(stack) == 0 {
				return &tailor.FieldError{Reason: fmt.Sprintf("unexpected %q", b[i])} // not valid JSON: never after a decode
			}
			stack = stack[:len(stack)-1]
			i++
		case '"':
			j, escaped, fe := scanString(b, i+1)
			if fe != nil {
				return fe
			}
			k := j + 1
			for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
				k++
			}
			if top := len(stack) - 1; top >= 0 && stack[top] != nil && k < len(b) && b[k] == ':' {
				key = b[i+1 : j]
				name := string(key)
				if escaped {
					_ = json.Unmarshal(b[i:j+1], &name) // valid: scanned above
				}
				o := stack[top]
				if o.set == nil && len(o.keys) == 16 {
					o.set = map[string]bool{}
					for _, k := range o.keys {
						o.set[k] = true
					}
				}
				dup := false
				if o.set != nil {
					dup = o.set[name]
					o.set[name] = true
				} else {
					for _, k := range o.keys {
						dup = dup || k == name
					}
					o.keys = append(o.keys, name)
				}
				if dup {
					return &tailor.FieldError{Field: name, Reason: "given twice in one object"}
				}
				if top == rows {
					for _, f := range fields.names {
						if name != f && strings.EqualFold(name, f) {
							return &tailor.FieldError{Field: name, Reason: fmt.Sprintf("unknown field (names are case-sensitive: %q)", f)}
						}
					}
					if slices.Contains(fields.times, name) && k+1 < len(b) {
						v := k + 1
						for v < len(b) && (b[v] == ' ' || b[v] == '\t' || b[v] == '\n' || b[v] == '\r') {
							v++
						}
						if v < len(b) && b[v] == '"' {
							if end, _, fe := scanString(b, v+1); fe == nil {
								if t, err := time.Parse(time.RFC3339Nano, string(b[v+1:end])); err == nil && t.IsZero() {
									return &tailor.FieldError{Field: name, Reason: "0001-01-01T00:00:00Z is not accepted: it reads as no time at all (leave the field out for the time of receipt)"}
								}
							}
						}
					}
				}
			}
			i = j + 1
		default:
			i++
		}
	}
	return nil
}

// scanString scans the JSON string whose contents begin at b[i], returning
// the index of its closing quote and whether it has escapes; an escaped
// surrogate that is not half of a pair is an error.
func scanString(b []byte, i int) (int, bool, *tailor.FieldError) {
	escaped := false
	for ; b[i] != '"'; i++ {
		if b[i] != '\\' {
			continue
		}
		escaped = true
		if b[i+1] != 'u' {
			i++
			continue
		}
		v := hex4(b[i+2 : i+6])
		switch {
		case v >= 0xD800 && v <= 0xDBFF:
			if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' || !(hex4(b[i+8:i+12]) >= 0xDC00 && hex4(b[i+8:i+12]) <= 0xDFFF) {
				return 0, false, &tailor.FieldError{Reason: fmt.Sprintf(`\u%04x is half of a UTF-16 surrogate pair: not valid text`, v)}
			}
			i += 11
		case v >= 0xDC00 && v <= 0xDFFF:
			return 0, false, &tailor.FieldError{Reason: fmt.Sprintf(`\u%04x is half of a UTF-16 surrogate pair: not valid text`, v)}
		default:
			i += 5
		}
	}
	return i, escaped, nil
}

// hex4 decodes four hexadecimal digits (valid JSON has them).
func hex4(h []byte) int {
	v := 0
	for _, c := range h {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int(c - '0')
		case c >= 'a' && c <= 'f':
			v |= int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v |= int(c-'A') + 10
		}
	}
	return v
}

// rowFields are the JSON names of a row type's fields, and those of them
// that hold a time.Time.
type rowFields struct{ names, times []string }

// jsonNames returns the JSON names of t's fields, those of embedded
// structs included.
func jsonNames(t reflect.Type) rowFields {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out rowFields
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "":
			sub := jsonNames(f.Type)
			out.names, out.times = append(out.names, sub.names...), append(out.times, sub.times...)
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		out.names = append(out.names, name)
		if f.Type == reflect.TypeFor[time.Time]() {
			out.times = append(out.times, name)
		}
	}
	return out
}
