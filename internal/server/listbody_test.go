package server

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/ingest"
)

// TestQuickListBody: what the quick decoder accepts, the strict decoder
// accepts and decodes to the same body; the shapes it is for are
// accepted; and on random bodies made of JSON's pieces, right and wrong,
// it never accepts what the strict decoder refuses.
func TestQuickListBody(t *testing.T) {
	check := func(raw string) bool {
		t.Helper()
		got, ok := quickListBody([]byte(raw))
		var want ListBody
		fe := ingest.DecodeObject([]byte(raw), &want)
		if ok && fe != nil {
			t.Fatalf("%q: accepted; the strict decoder says %v", raw, fe)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, the strict decoder %+v", raw, got, want)
		}
		return ok
	}
	for _, raw := range []string{
		`{"items":["a","b"],"n":10}`,
		` { "n" : 3 , "items" : [ "x y" ] , "offset":20, "scenario":"home", "details":true }` + "\n",
		`{"items":[]}`,
		`{}`,
		`{"details":false,"n":-0,"offset":0}`,
	} {
		if !check(raw) {
			t.Errorf("%q: not accepted", raw)
		}
	}
	for _, raw := range []string{
		`{"items":["a"],"items":["b"]}`, // duplicate: the strict decoder refuses
		`{"Items":["a"]}`,               // another case
		`{"items":["\u0061"]}`,          // an escape
		`{"items":["é"]}`,               // not ASCII: left to the strict decoder
		`{"n":1.0}`, `{"n":1e1}`, `{"n":01}`, `{"n":"1"}`, `{"n":1234567890123456}`,
		`{"items":null}`, `{"rules":{"in_stock_only":true}}`, `{"items":["a"]}x`, `{"items":["a"],}`, `[]`, ``,
	} {
		if check(raw) {
			t.Errorf("%q: accepted", raw)
		}
	}
	pieces := []string{`{`, `}`, `[`, `]`, `,`, `:`, ` `, "\n", `"items"`, `"n"`, `"offset"`, `"scenario"`, `"details"`, `"rules"`, `"N"`,
		`"a"`, `"b c"`, `""`, `"\n"`, `"é"`, `1`, `-2`, `0`, `10`, `1.5`, `01`, `true`, `false`, `null`, `"x`}
	r := rand.New(rand.NewPCG(3, 4))
	accepted := 0
	for range 200000 {
		var sb strings.Builder
		sb.WriteString(`{`)
		for range r.IntN(12) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		if r.IntN(4) > 0 {
			sb.WriteString(`}`)
		}
		if check(sb.String()) {
			accepted++
		}
	}
	for range 20000 { // well-formed bodies in random order and spacing
		fields := []string{`"items":["a","b"]`, `"items":[]`, `"n":7`, `"offset":3`, `"scenario":"s"`, `"details":true`}
		r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		raw := "{" + strings.Join(fields[:r.IntN(len(fields))], strings.Repeat(" ", r.IntN(2))+",") + "}"
		if check(raw) {
			accepted++
		}
	}
	if accepted < 10000 {
		t.Errorf("only %d random bodies accepted: the test does not reach the quick path", accepted)
	}
}
