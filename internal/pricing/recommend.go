package pricing

import (
	"fmt"
	"math"
	"slices"

	"github.com/tailorhq/tailor"
)

// Constraints are a merchant's guardrails for one item.
type Constraints struct {
	// Cost is the unit cost; with it the price maximizes profit, never
	// goes below cost and keeps MinMargin. Without it the price maximizes
	// revenue.
	Cost *float64 `json:"cost,omitempty"`
	// MaxChange is the largest change from the current price, as a
	// fraction (default 0.10).
	MaxChange float64 `json:"max_change,omitempty"`
	// MinMargin is the smallest (price − cost)/price (default 0).
	MinMargin float64 `json:"min_margin,omitempty"`
	// Endings, when set, are the allowed cents, such as [0.49, 0.95, 0.99].
	Endings []float64 `json:"endings,omitempty"`
	// CurrentPrice overrides the current price (default: the unit-weighted
	// mean price of the last 8 weeks).
	CurrentPrice *float64 `json:"current_price,omitempty"`
}

// InputError is a constraint that cannot be met or makes no sense.
type InputError struct{ Field, Reason string }

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Recommendation is a price for an item, with what it is expected to do
// to weekly units, revenue and profit.
type Recommendation struct {
	Item         tailor.ItemID `json:"item_id"`
	CurrentPrice float64       `json:"current_price"`
	Price        float64       `json:"price"`
	// Action is "change" or "keep"; Reason says why it keeps.
	Action    string `json:"action"`
	Reason    string `json:"reason,omitempty"`
	Objective string `json:"objective"` // revenue or profit
	// Elasticity is the estimate used, with its standard error.
	Elasticity   float64 `json:"elasticity"`
	ElasticitySE float64 `json:"elasticity_se"`
	// BaseUnits are the mean weekly units of the last 8 weeks, at the
	// current price; Expected* are per week at the recommended price.
	BaseUnits       float64  `json:"base_units"`
	ExpectedUnits   float64  `json:"expected_units"`
	ExpectedRevenue float64  `json:"expected_revenue"`
	ExpectedProfit  *float64 `json:"expected_profit,omitempty"`
	// Change* are the relative changes against the current price, with
	// 90% intervals from the elasticity's uncertainty.
	ChangeUnits   Interval `json:"change_units"`
	ChangeRevenue Interval `json:"change_revenue"`
	ChangeProfit  Interval `json:"change_profit"`
}

// Interval is an estimate with a 90% interval.
type Interval struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

func (c *Constraints) validate() error {
	if c.MaxChange == 0 {
		c.MaxChange = 0.10
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(c.MaxChange) || c.MaxChange <= 0 || c.MaxChange >= 1:
		return &InputError{"max_change", fmt.Sprintf("%v must be above 0 and below 1", c.MaxChange)}
	case !finite(c.MinMargin) || c.MinMargin < 0 || c.MinMargin >= 1:
		return &InputError{"min_margin", fmt.Sprintf("%v must be at least 0 and below 1", c.MinMargin)}
	case c.Cost != nil && (!finite(*c.Cost) || *c.Cost < 0):
		return &InputError{"cost", fmt.Sprintf("%v must not be negative", *c.Cost)}
	case c.CurrentPrice != nil && (!finite(*c.CurrentPrice) || *c.CurrentPrice <= 0):
		return &InputError{"current_price", fmt.Sprintf("%v must be positive", *c.CurrentPrice)}
	case c.MinMargin > 0 && c.Cost == nil:
		return &InputError{"min_margin", "needs a cost"}
	}
	for i, e := range c.Endings {
		if !finite(e) || e < 0 || e >= 1 || math.Abs(e*100-math.Round(e*100)) > 1e-9 {
			return &InputError{fmt.Sprintf("endings[%d]", i), fmt.Sprintf("%v must be cents between 0.00 and 0.99", e)}
		}
	}
	return nil
}

// Recommend picks the price on a one-cent grid within the guardrails that
// maximizes expected weekly profit (with a cost) or revenue, with units
// following (p/p₀)^elasticity, from the item's baseline (its series'
// Baseline over BaselineWeeks). Unreliable elasticities, items without
// sales and grids with no allowed price answer "keep" with the reason;
// constraints that cannot all hold are an InputError.
func Recommend(b Baseline, e *Elasticity, c Constraints) (*Recommendation, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	r := &Recommendation{Item: e.Item, Action: "keep", Objective: "revenue", Elasticity: e.Estimate, ElasticitySE: e.SE}
	if c.Cost != nil {
		r.Objective = "profit"
	}
	if b.Total == 0 {
		if c.CurrentPrice != nil {
			r.CurrentPrice, r.Price = *c.CurrentPrice, *c.CurrentPrice
		}
		r.Reason = "the item has no sales to learn from"
		return r, nil
	}
	p0 := b.Price
	if c.CurrentPrice != nil {
		p0 = *c.CurrentPrice
	}
	r.CurrentPrice, r.Price = p0, p0
	r.BaseUnits = b.Units
	lo, hi := p0*(1-c.MaxChange), p0*(1+c.MaxChange)
	cost := 0.0
	if c.Cost != nil {
		cost = *c.Cost
		floor := cost / (1 - c.MinMargin)
		if cost >= hi {
			return nil, &InputError{"cost", fmt.Sprintf("%.2f is above every allowed price (at most %.2f, %.0f%% over the current %.2f)", cost, hi, 100*c.MaxChange, p0)}
		}
		if floor > hi {
			return nil, &InputError{"min_margin", fmt.Sprintf("a margin of %.0f%% needs a price of at least %.2f, beyond the allowed %.2f (max_change %.0f%%)",
				100*c.MinMargin, floor, hi, 100*c.MaxChange)}
		}
		lo = math.Max(lo, floor)
	}
	units := func(p, beta float64) float64 { return r.BaseUnits * math.Pow(p/p0, beta) }
	objective := func(p, beta float64) float64 { return (p - cost) * units(p, beta) }
	r.fill(p0, p0, cost, units, e)
	if !e.Reliable {
		r.Reason = "the elasticity is unreliable: " + e.Reason
		return r, nil
	}
	best, bestV := math.NaN(), math.Inf(-1)
	for cents := math.Ceil(lo*100 - 1e-9); cents <= math.Floor(hi*100+1e-9); cents++ {
		p := cents / 100
		if len(c.Endings) > 0 && !slices.ContainsFunc(c.Endings, func(end float64) bool {
			return math.Abs(math.Mod(cents, 100)-math.Round(end*100)) < 0.5
		}) {
			continue
		}
		if p <= cost {
			continue
		}
		if v := objective(p, e.Estimate); v > bestV {
			best, bestV = p, v
		}
	}
	if math.IsNaN(best) {
		r.Reason = "no price within the guardrails has an allowed ending"
		return r, nil
	}
	if v0 := objective(p0, e.Estimate); bestV <= v0*1.001 {
		r.Reason = fmt.Sprintf("no allowed price is expected to raise %s by more than 0.1%%", r.Objective)
		return r, nil
	}
	r.Action, r.Price = "change", best
	r.fill(p0, best, cost, units, e)
	return r, nil
}

// fill computes the expectations at price p against p0.
func (r *Recommendation) fill(p0, p, cost float64, units func(p, beta float64) float64, e *Elasticity) {
	r.ExpectedUnits = units(p, e.Estimate)
	r.ExpectedRevenue = p * r.ExpectedUnits
	if r.Objective == "profit" {
		v := (p - cost) * r.ExpectedUnits
		r.ExpectedProfit = &v
	}
	rel := func(num, den float64) float64 {
		if den == 0 {
			return 0
		}
		return num/den - 1
	}
	at := func(beta float64) (u, rev, prof float64) {
		return rel(units(p, beta), units(p0, beta)), rel(p*units(p, beta), p0*units(p0, beta)),
			rel((p-cost)*units(p, beta), (p0-cost)*units(p0, beta))
	}
	u, rv, pf := at(e.Estimate)
	u1, rv1, pf1 := at(e.Estimate - 1.645*e.SE)
	u2, rv2, pf2 := at(e.Estimate + 1.645*e.SE)
	r.ChangeUnits = Interval{u, math.Min(u1, u2), math.Max(u1, u2)}
	r.ChangeRevenue = Interval{rv, math.Min(rv1, rv2), math.Max(rv1, rv2)}
	r.ChangeProfit = Interval{pf, math.Min(pf1, pf2), math.Max(pf1, pf2)}
}
