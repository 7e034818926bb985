package pricing

import (
	"encoding/json"
	"math"
)

// finite returns v, or nil when v is NaN or infinite: JSON has no such
// numbers, so they are written as null.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// MarshalJSON writes the estimates the data cannot identify (NaN) as null.
func (e Elasticity) MarshalJSON() ([]byte, error) {
	type plain Elasticity // without this method
	return json.Marshal(struct {
		plain
		PriceSD  *float64    `json:"price_sd"`
		Raw      *float64    `json:"raw"`
		RawSE    *float64    `json:"raw_se"`
		Estimate *float64    `json:"estimate"`
		SE       *float64    `json:"se"`
		CI95     [2]*float64 `json:"ci95"`
	}{plain(e), finite(e.PriceSD), finite(e.Raw), finite(e.RawSE), finite(e.Estimate), finite(e.SE), [2]*float64{finite(e.CI95[0]), finite(e.CI95[1])}})
}

// MarshalJSON writes estimates that are not numbers as null.
func (c CrossPrice) MarshalJSON() ([]byte, error) {
	type plain CrossPrice
	return json.Marshal(struct {
		plain
		Elasticity *float64    `json:"elasticity"`
		SE         *float64    `json:"se"`
		CI95       [2]*float64 `json:"ci95"`
	}{plain(c), finite(c.Elasticity), finite(c.SE), [2]*float64{finite(c.CI95[0]), finite(c.CI95[1])}})
}

// MarshalJSON writes the elasticity of an item without one (no sales) as
// null.
func (r Recommendation) MarshalJSON() ([]byte, error) {
	type plain Recommendation
	return json.Marshal(struct {
		plain
		Elasticity   *float64 `json:"elasticity"`
		ElasticitySE *float64 `json:"elasticity_se"`
	}{plain(r), finite(r.Elasticity), finite(r.ElasticitySE)})
}
