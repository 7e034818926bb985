package server

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query parameters are declared once per route, as the fields of a struct:
// the same type decodes the request (withQuery) and describes the route in
// the OpenAPI document (queryParams), so a parameter the document does not
// list cannot be read, and one the route does not declare is refused.
//
// A field's tag `query:"NAME[,OPTION]"` names the parameter; `doc:"..."`
// describes it. Field types: string, int, float64, *float64 (absent is
// nil), bool, time.Time (RFC 3339; option "date": YYYY-MM-DD),
// time.Duration and *time.Duration (such as "24h"), *int (absent is nil), []string (the parameter repeated; option
// "comma": one value, comma-separated) and map[string][]string for a
// family of parameters (NAME "attr.*": attr.color=red,blue).

// ParamError is a query parameter that cannot be read, or that the route
// does not take.
type ParamError struct {
	Name, Value, Want string
}

func (e *ParamError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("%s: the route takes no such parameter", e.Name)
	}
	return fmt.Sprintf("%s: %q must be %s", e.Name, e.Value, e.Want)
}

// queryRoute is a route's typed query: its struct type and the handler
// that receives it decoded.
type queryRoute struct {
	typ    reflect.Type
	handle func(r *http.Request) (any, error)
}

// withQuery makes a handler of one that takes its query parameters as a
// Q, which also documents them.
func withQuery[Q any](h func(r *http.Request, q *Q) (any, error)) queryRoute {
	fs := fields(reflect.TypeFor[Q]()) // once, not per request
	return queryRoute{typ: reflect.TypeFor[Q](), handle: func(r *http.Request) (any, error) {
		var q Q
		if r.URL.RawQuery != "" {
			vals, err := queryValues(r)
			if err != nil {
				return nil, err
			}
			if err := decodeFields(vals, fs, reflect.ValueOf(&q).Elem()); err != nil {
				return nil, err
			}
		}
		return h(r, &q)
	}}
}

// MaxQueryParams is the most parameters a query may have (Go's URL parser
// refuses more).
const MaxQueryParams = 10000

// queryValues parses the request's query strictly: r.URL.Query() drops
// what it cannot parse (a bad escape, a semicolon, every parameter past
// MaxQueryParams) and would let the route answer as if it had not been
// sent.
func queryValues(r *http.Request) (url.Values, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		if strings.Count(r.URL.RawQuery, "&") >= MaxQueryParams {
			return nil, badRequest("query: more than %d parameters", MaxQueryParams)
		}
		return nil, badRequest("query: %v", err)
	}
	return vals, nil
}

// field is one declared parameter.
type field struct {
	index  []int
	name   string // "attr.*" for a family
	option string
	doc    string
	typ    reflect.Type
}

// fields lists the declared parameters of a query struct (embedded
// structs included).
func fields(t reflect.Type) []field {
	var out []field
	for _, f := range reflect.VisibleFields(t) {
		tag, ok := f.Tag.Lookup("query")
		if !ok {
			continue
		}
		name, option, _ := strings.Cut(tag, ",")
		out = append(out, field{index: f.Index, name: name, option: option, doc: f.Tag.Get("doc"), typ: f.Type})
	}
	return out
}

var (
	queryTime     = reflect.TypeFor[time.Time]()
	queryDuration = reflect.TypeFor[time.Duration]()
)

// decodeQuery reads vals into dst, a pointer to a query struct (nil: the
// route takes no parameters). A parameter dst does not declare is an
// error, and so is a value of the wrong form.
func decodeQuery(vals url.Values, dst any) error {
	var fs []field
	var v reflect.Value
	if dst != nil {
		v = reflect.ValueOf(dst).Elem()
		fs = fields(v.Type())
	}
	return decodeFields(vals, fs, v)
}

// decodeFields reads vals into v, the struct whose parameters fs are.
func decodeFields(vals url.Values, fs []field, v reflect.Value) error {
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	slices.Sort(names) // the first unknown one, always the same
	for _, name := range names {
		known := slices.ContainsFunc(fs, func(f field) bool {
			prefix, family := strings.CutSuffix(f.name, "*")
			return f.name == name || family && strings.HasPrefix(name, prefix) && len(name) > len(prefix)
		})
		if !known {
			return &ParamError{Name: name}
		}
	}
	for _, f := range fs {
		fv := v.FieldByIndex(f.index)
		if prefix, family := strings.CutSuffix(f.name, "*"); family {
			m := map[string][]string{}
			for _, name := range names {
				if key, ok := strings.CutPrefix(name, prefix); ok {
					for _, s := range vals[name] {
						m[key] = append(m[key], splitComma(s)...)
					}
				}
			}
			if len(m) > 0 {
				fv.Set(reflect.ValueOf(m))
			}
			continue
		}
		raw, ok := vals[f.name]
		if !ok || len(raw) == 0 {
			continue
		}
		if f.typ.Kind() == reflect.Slice {
			var list []string
			for _, s := range raw {
				if f.option == "comma" {
					list = append(list, splitComma(s)...)
				} else {
					list = append(list, s)
				}
			}
			fv.Set(reflect.ValueOf(list))
			continue
		}
		if len(raw) > 1 {
			return &ParamError{Name: f.name, Value: strings.Join(raw, ","), Want: "given once"}
		}
		if err := setValue(fv, f, raw[0]); err != nil {
			return err
		}
	}
	return nil
}

func splitComma(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// setValue parses one value into a field.
func setValue(fv reflect.Value, f field, s string) error {
	bad := func(want string) error { return &ParamError{Name: f.name, Value: s, Want: want} }
	switch {
	case f.typ == queryTime:
		layout, want := time.RFC3339Nano, "an RFC 3339 time such as 2024-05-01T12:00:00Z"
		if f.option == "date" {
			layout, want = time.DateOnly, "a date YYYY-MM-DD"
		}
		t, err := time.Parse(layout, s)
		if err != nil {
			return bad(want)
		}
		// The store keeps times as Unix nanoseconds in 64 bits: a time
		// outside them would come back as another time, or match nothing.
		if lo, hi := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64); t.Before(lo) || t.After(hi) {
			return bad(fmt.Sprintf("a time from %s to %s", lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339)))
		}
		fv.Set(reflect.ValueOf(t))
	case f.typ == queryDuration, f.typ.Kind() == reflect.Pointer && f.typ.Elem() == queryDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad("a duration such as 24h")
		}
		if f.typ.Kind() == reflect.Pointer {
			fv.Set(reflect.ValueOf(&d))
		} else {
			fv.SetInt(int64(d))
		}
	case f.typ.Kind() == reflect.String:
		fv.SetString(s)
	case f.typ.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return bad("an integer")
		}
		fv.SetInt(int64(n))
	case f.typ.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad("a number")
		}
		fv.SetFloat(x)
	case f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return bad("an integer")
		}
		fv.Set(reflect.ValueOf(&n))
	case f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad("a number")
		}
		fv.Set(reflect.ValueOf(&x))
	case f.typ.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad("true or false")
		}
		fv.SetBool(b)
	default:
		panic(fmt.Sprintf("server: query parameter %s has the unsupported type %s", f.name, f.typ)) // a programming error
	}
	return nil
}

// queryParams describes a query struct's parameters for the OpenAPI
// document.
func queryParams(t reflect.Type) []param {
	if t == nil {
		return nil
	}
	var out []param
	for _, f := range fields(t) {
		p := param{name: f.name, in: "query", doc: f.doc}
		if prefix, family := strings.CutSuffix(f.name, "*"); family {
			p.name = prefix + "NAME"
			p.typ = "string"
			out = append(out, p)
			continue
		}
		switch {
		case f.typ == queryTime, f.typ == queryDuration, f.typ.Kind() == reflect.String, f.typ.Kind() == reflect.Pointer && f.typ.Elem() == queryDuration:
			p.typ = "string"
		case f.typ.Kind() == reflect.Int, f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Int:
			p.typ = "integer"
		case f.typ.Kind() == reflect.Float64, f.typ.Kind() == reflect.Pointer:
			p.typ = "number"
		case f.typ.Kind() == reflect.Bool:
			p.typ = "boolean"
		case f.typ.Kind() == reflect.Slice:
			p.typ = "string"
			p.multi = f.option != "comma"
		}
		out = append(out, p)
	}
	return out
}
