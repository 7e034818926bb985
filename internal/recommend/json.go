package recommend

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the response as encoding/json encodes it without
// HTML escaping (json.Encoder.SetEscapeHTML(false)), without the final
// newline, written out for the serving path: the reflection of
// encoding/json was a tenth of a list's CPU time. An item's Details and
// anything encoding/json refuses (a score that is not finite) go through
// encoding/json; TestAppendJSON compares the two on random responses.
func (r *Response) AppendJSON(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, `{"recommendation_id":`...)
	b = appendString(b, r.RecommendationID)
	b = append(b, `,"model_version":`...)
	b = appendString(b, r.ModelVersion)
	if r.Model != "" {
		b = append(b, `,"model":`...)
		b = appendString(b, r.Model)
	}
	if r.Scenario != "" {
		b = append(b, `,"scenario":`...)
		b = appendString(b, r.Scenario)
	}
	if r.Fallback != "" {
		b = append(b, `,"fallback":`...)
		b = appendString(b, r.Fallback)
	}
	b = append(b, `,"items":`...)
	if r.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for k := range r.Items {
			if k > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = r.Items[k].appendJSON(b); !ok {
				return marshalInto(b[:start], r)
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendJSON appends the item; false when encoding/json must say why it
// cannot.
func (it *Item) appendJSON(b []byte) ([]byte, bool) {
	if !finite64(it.Score) {
		return b, false
	}
	b = append(b, `{"item_id":`...)
	b = appendString(b, string(it.ItemID))
	b = append(b, `,"score":`...)
	b = appendFloat(b, it.Score)
	if it.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, it.Reason)
	}
	if d := it.Due; d != nil {
		if !finite64(d.IntervalDays) || !finite64(d.Ratio) || !jsonTime(d.LastBought) || !jsonTime(d.ExpectedNext) {
			return b, false
		}
		b = append(b, `,"due":{"times":`...)
		b = strconv.AppendInt(b, int64(d.Times), 10)
		b = append(b, `,"last_bought":"`...)
		b = d.LastBought.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","interval_days":`...)
		b = appendFloat(b, d.IntervalDays)
		b = append(b, `,"ratio":`...)
		b = appendFloat(b, d.Ratio)
		b = append(b, `,"expected_next":"`...)
		b = d.ExpectedNext.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `"}`...)
	}
	if it.Details != nil {
		b = append(b, `,"details":`...)
		var err error
		if b, err = marshalInto(b, it.Details); err != nil {
			return b, false
		}
	}
	if it.Explanation != "" {
		b = append(b, `,"explanation":`...)
		b = appendString(b, it.Explanation)
	}
	return append(b, '}'), true
}

// marshalInto appends v as encoding/json encodes it without HTML escaping
// and without the final newline.
func marshalInto(b []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil
}

func finite64(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// jsonTime reports whether time.Time's MarshalJSON accepts t (a year of
// four digits).
func jsonTime(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }

// appendFloat appends f as encoding/json writes a float64.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString appends s as a JSON string the way encoding/json does
// without HTML escaping: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
