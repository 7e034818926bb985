package pricing

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestJSONHasNoNaN encodes elasticities and recommendations whose
// estimates are not numbers: they encode, as null, and the finite fields
// keep their values.
func TestJSONHasNoNaN(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name string
		v    any
		want []string
	}{
		{"unidentified", Elasticity{Item: "a", Weeks: 3, PriceSD: 0.2, Raw: nan, RawSE: nan, Estimate: -1.5, SE: 0.4, CI95: [2]float64{-2.3, -0.7}},
			[]string{`"raw":null`, `"raw_se":null`, `"estimate":-1.5`, `"ci95":[-2.3,-0.7]`, `"weeks":3`, `"item_id":"a"`}},
		{"no sales", Elasticity{Item: "b", Raw: nan, RawSE: inf, Estimate: nan, SE: nan, CI95: [2]float64{nan, nan}, Reason: "the item has no sales"},
			[]string{`"estimate":null`, `"raw_se":null`, `"ci95":[null,null]`, `"reason":"the item has no sales"`}},
		{"substitute", Elasticity{Item: "c", Substitute: &CrossPrice{Substitute: "d", Elasticity: nan, SE: 0.1, CI95: [2]float64{nan, 1}}},
			[]string{`"substitute":{"substitute":"d"`, `"elasticity":null`, `"ci95":[null,1]`}},
		{"recommendation", &Recommendation{Item: "e", Action: "keep", Elasticity: nan, ElasticitySE: nan, Reason: "the item has no sales to learn from"},
			[]string{`"elasticity":null`, `"elasticity_se":null`, `"action":"keep"`}},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %s lacks %s", tc.name, b, w)
			}
		}
		for _, key := range []string{`"raw":`, `"estimate":`, `"elasticity":`, `"ci95":`} {
			if strings.Count(string(b), key) > 1+strings.Count(string(b), `"substitute":{`) {
				t.Errorf("%s: %s has %s more than once", tc.name, b, key)
			}
		}
	}
}
