package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// The OpenAPI document is generated from the route table and the Go types
// of request and response bodies, so it cannot drift from the code.

func (s *Server) openAPIHandler(*http.Request) (any, error) {
	return s.openapi, nil
}

// openAPIDocument builds the OpenAPI 3.1 document of the routes.
func openAPIDocument(routes []route) ([]byte, error) {
	return json.MarshalIndent(openAPIMap(routes), "", "  ")
}

func openAPIMap(routes []route) map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": operationID(rt),
		}
		if rt.role != RoleNone {
			desc := "Needs an API key with the " + rt.role.String() + " role (or higher)."
			switch tokenScopes[rt.method+" "+rt.path] {
			case tokenCatalog:
				desc += " A shopper token may call it too (a user parameter, if given, must be the token's shopper)."
			case tokenOwn:
				desc += " A shopper token may call it for its own shopper."
			case tokenEvents:
				desc += " A shopper token may call it with events of its own shopper."
			case tokenBody:
				desc += " A shopper token may call it as its shopper (user_id, when given, must be the token's)."
			}
			op["description"] = desc
			op["security"] = []map[string][]string{{"bearer": {}}, {"apiKey": {}}}
		} else {
			op["security"] = []map[string][]string{}
		}
		var params []map[string]any
		for _, p := range rt.params {
			sch := map[string]any{"type": p.typ}
			if p.multi {
				sch = map[string]any{"type": "array", "items": map[string]any{"type": p.typ}}
			}
			params = append(params, map[string]any{
				"name": p.name, "in": p.in, "required": p.in == "path", "description": p.doc, "schema": sch,
			})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = map[string]any{
				"required": true,
				"content":  map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.body))}},
			}
		}
		okContent := map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.response))}}
		if rt.raw != nil {
			okContent = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		responses := map[string]any{
			"200": map[string]any{"description": "OK", "content": okContent},
		}
		errRef := map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(errorBody{}))}}
		for code, desc := range errorResponses(rt) {
			responses[code] = map[string]any{"description": desc, "content": errRef}
		}
		op["responses"] = responses
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Tailor API",
			"version":     "1",
			"description": "Ingest a shop's items, users and events; read them back. Errors have the body {\"error\": {\"code\", \"message\", \"rows\"}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
				"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
			},
		},
	}
}

func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	for _, part := range strings.Split(rt.path, "/") {
		part = strings.Trim(part, "{}")
		part = strings.NewReplacer(".", "", "-", "").Replace(part)
		if part == "" || part == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func errorResponses(rt route) map[string]string {
	out := map[string]string{}
	if rt.role != RoleNone {
		out["401"] = "No API key, or an unknown one"
		out["403"] = "The key's role is not enough"
	}
	if rt.body != nil {
		out["400"] = "Malformed JSON, or invalid rows (listed by index; nothing was written)"
		out["413"] = "The body is too large"
	} else if len(rt.params) > 0 {
		out["400"] = "A parameter is invalid"
	}
	if strings.Contains(rt.path, "{id}") {
		out["404"] = "No such record"
	}
	if rt.path == "/healthz" {
		out["503"] = "The store is not available"
	}
	return out
}

// schemaGen turns Go types into JSON Schemas, following encoding/json's
// rules for field names and omitempty.
type schemaGen struct {
	defs map[string]any
}

var timeType = reflect.TypeOf(time.Time{})

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		return g.schema(t.Elem())
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{"description": "a string or a number"}
	case reflect.Struct:
		name := schemaName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // guards recursion
			props := map[string]any{}
			var required []string
			g.fields(t, props, &required)
			def := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
			if len(required) > 0 {
				def["required"] = required
			}
			g.defs[name] = def
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}

// schemaName names a struct's schema: "Item", or "Page_Item" for
// store.Page[tailor.Item].
func schemaName(t reflect.Type) string {
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		arg := name[i+1 : len(name)-1]
		if j := strings.LastIndexByte(arg, '.'); j >= 0 {
			arg = arg[j+1:]
		}
		name = name[:i] + "_" + arg
	}
	if name == "errorBody" {
		return "ErrorResponse"
	}
	return name
}
