package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/tailorhq/tailor"
)

// maxLineBytes is the longest line the line-based formats accept.
const maxLineBytes = 1 << 20

// The JSON Lines format holds one object per line, each with a "kind" of
// "item", "user" or "event" and the fields of that record as in the HTTP
// API. Blank lines are skipped.
type (
	jsonlKind struct {
		Kind string `json:"kind"`
	}
	jsonlItem struct {
		Kind string `json:"kind"`
		tailor.Item
	}
	jsonlUser struct {
		Kind string `json:"kind"`
		tailor.User
	}
	jsonlEvent struct {
		Kind string `json:"kind"`
		tailor.Event
	}
)

func parseJSONL(ctx context.Context, r io.Reader, name string, s *Sink) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		loc := Loc{File: name, Line: line}
		var k jsonlKind
		if err := json.Unmarshal(b, &k); err != nil {
			fe := DecodeObject(b, &k)
			if fe == nil {
				fe = &tailor.FieldError{Reason: err.Error()}
			}
			s.Reject(loc, "malformed_json", fe.Field, fe.Reason)
			continue
		}
		var err error
		switch k.Kind {
		case "item":
			err = jsonlRecord(s, loc, b, func(v *jsonlItem) error { return s.Item(loc, v.Item) })
		case "user":
			err = jsonlRecord(s, loc, b, func(v *jsonlUser) error { return s.User(loc, v.User) })
		case "event":
			err = jsonlRecord(s, loc, b, func(v *jsonlEvent) error { _, err := s.Event(loc, v.Event); return err })
		case "":
			s.Reject(loc, "missing_kind", "kind", `required: "item", "user" or "event"`)
		default:
			s.Reject(loc, "unknown_kind", "kind", fmt.Sprintf(`%q is not "item", "user" or "event"`, truncate(k.Kind, 32)))
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxLineBytes)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// jsonlRecord decodes one line strictly into a T and hands it to accept,
// or rejects the line.
func jsonlRecord[T any](s *Sink, loc Loc, line []byte, accept func(*T) error) error {
	var v T
	if fe := DecodeObject(line, &v); fe != nil {
		s.Reject(loc, "malformed_json", fe.Field, fe.Reason)
		return nil
	}
	return accept(&v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
