package server

import (
	"strconv"

	"github.com/tailorhq/tailor"
)

// quickListBody decodes the common shape of a list body, such as
// {"items":["a","b"],"n":10}, without reflection: an object of the
// fields items (plain strings), n and offset (integers), scenario (a
// plain string) and details (a boolean), each at most once, in any order,
// with JSON whitespace between tokens. A plain string is printable ASCII
// without escapes. Anything else (rules, escapes, other characters,
// other fields, duplicates, other number forms, trailing data) is left to
// the strict decoder: false. What it accepts, the strict decoder accepts
// and decodes alike (TestQuickListBody).
func quickListBody(raw []byte) (ListBody, bool) {
	var (
		b    ListBody
		seen [5]bool
	)
	p := &scan{b: raw}
	p.space()
	if !p.take('{') {
		return b, false
	}
	p.space()
	if p.take('}') {
		return b, p.end()
	}
	for {
		key, ok := p.plain()
		if !ok {
			return b, false
		}
		p.space()
		if !p.take(':') {
			return b, false
		}
		p.space()
		field := -1
		switch key {
		case "items":
			field = 0
			if !p.take('[') {
				return b, false
			}
			b.Items = []tailor.ItemID{}
			p.space()
			if !p.take(']') {
				for {
					s, ok := p.plain()
					if !ok {
						return b, false
					}
					b.Items = append(b.Items, tailor.ItemID(s))
					p.space()
					if p.take(']') {
						break
					}
					if !p.take(',') {
						return b, false
					}
					p.space()
				}
			}
		case "n":
			field = 1
			b.N, ok = p.integer()
		case "offset":
			field = 2
			b.Offset, ok = p.integer()
		case "scenario":
			field = 3
			b.Scenario, ok = p.plain()
		case "details":
			field = 4
			b.Details = p.word("true")
			ok = b.Details || p.word("false")
		default:
			return b, false
		}
		if !ok || seen[field] {
			return b, false
		}
		seen[field] = true
		p.space()
		if p.take('}') {
			return b, p.end()
		}
		if !p.take(',') {
			return b, false
		}
		p.space()
	}
}

// scan reads JSON tokens from b at i.
type scan struct {
	b []byte
	i int
}

func (p *scan) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *scan) take(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (p *scan) end() bool {
	p.space()
	return p.i == len(p.b)
}

func (p *scan) word(w string) bool {
	if len(p.b)-p.i >= len(w) && string(p.b[p.i:p.i+len(w)]) == w {
		p.i += len(w)
		return true
	}
	return false
}

// plain reads a string of printable ASCII without escapes.
func (p *scan) plain() (string, bool) {
	if !p.take('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
	}
	return "", false
}

// integer reads an integer in JSON's form (no leading zeros, no fraction
// or exponent) of at most 15 digits.
func (p *scan) integer() (int, bool) {
	start := p.i
	p.take('-')
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 15 || (n > 1 && p.b[digits] == '0') {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	v, err := strconv.Atoi(string(p.b[start:p.i]))
	return v, err == nil
}
