package recommend

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
)

// encodingJSON is what the server wrote before AppendJSON: encoding/json
// without HTML escaping, less the final newline.
func encodingJSON(t *testing.T, v any) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// TestAppendJSON checks that AppendJSON writes exactly what encoding/json
// writes, on random responses full of what JSON escapes and of floats at
// the edges of encoding/json's formats, and refuses what it refuses.
func TestAppendJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", "a", "Mug", `"`, `\`, "\n", "\t", "\r", "\b", "\f", "\x00", "\x1f", "\x7f", "<b>&amp;</b>",
		"é", "日本", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", "\ud7ff", " ", "/"}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(5) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-9, 1e20, 1e21, 1.7e21, -2.5e-300,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 123.456, 1.0 / 3}
	num := func() float64 {
		if r.IntN(2) == 0 {
			return floats[r.IntN(len(floats))]
		}
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	}
	when := func() time.Time {
		t := time.Unix(r.Int64N(4e9), r.Int64N(1e9)*int64(r.IntN(2)))
		if r.IntN(2) == 0 {
			return t.UTC()
		}
		return t.In(time.FixedZone("x", 3600*(r.IntN(25)-12)))
	}
	for n := range 3000 {
		resp := &Response{RecommendationID: str(), ModelVersion: str(), Model: str(), Scenario: str(), Fallback: str()}
		if n%7 != 0 {
			resp.Items = []Item{}
			for range r.IntN(6) {
				it := Item{ItemID: tailor.ItemID(str()), Score: num(), Reason: str(), Explanation: str()}
				if r.IntN(3) == 0 {
					it.Due = &DueDate{Times: r.IntN(20) - 2, LastBought: when(), IntervalDays: num(), Ratio: num(), ExpectedNext: when()}
				}
				if r.IntN(4) == 0 {
					price := num()
					it.Details = &tailor.Item{ID: it.ItemID, Title: str(), Categories: []string{str()}, Price: &price,
						Attributes: map[string]any{"color": str(), "size": 3.5}}
				}
				resp.Items = append(resp.Items, it)
			}
		}
		want, werr := encodingJSON(t, resp)
		got, gerr := resp.AppendJSON([]byte("prefix"))
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("response %d: encoding/json says %v, AppendJSON %v", n, werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("response %d:\n got %s\nwant prefix%s", n, got, want)
		}
	}
	for _, bad := range []*Response{
		{Items: []Item{{ItemID: "a", Score: math.NaN()}}},
		{Items: []Item{{ItemID: "a", Score: 1}, {ItemID: "b", Score: math.Inf(1)}}},
		{Items: []Item{{ItemID: "a", Due: &DueDate{Ratio: math.Inf(-1)}}}},
		{Items: []Item{{ItemID: "a", Due: &DueDate{LastBought: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}},
	} {
		_, werr := encodingJSON(t, bad)
		if _, err := bad.AppendJSON(nil); err == nil || werr == nil || err.Error() != werr.Error() {
			t.Errorf("AppendJSON of a response encoding/json refuses: %v, want %v", err, werr)
		}
	}
}

// BenchmarkAppendJSON compares the two on a list of ten explained items.
func BenchmarkAppendJSON(b *testing.B) {
	resp := &Response{RecommendationID: "01M985FAFXV4FFW96SMRN521SF.01M985FAFXV4FFW96SMRN521SF", ModelVersion: "01M985FAFXV4FFW96SMRN521SF", Model: "ease"}
	for k := range 10 {
		resp.Items = append(resp.Items, Item{ItemID: tailor.ItemID("2282" + string(rune('0'+k))), Score: 0.123456789 * float64(k+1),
			Reason: "because you bought WHITE HANGING HEART T-LIGHT HOLDER"})
	}
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = resp.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
