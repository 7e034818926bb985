package analytics

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// CLVPrediction is one customer's outlook over the horizon.
type CLVPrediction struct {
	User string `json:"user_id"`
	Customer
	// ExpectedPurchases over the horizon, the probability of being still
	// active, the expected value of a purchase and their product, the
	// expected spend over the horizon (undiscounted).
	ExpectedPurchases float64 `json:"expected_purchases"`
	PAlive            float64 `json:"p_alive"`
	ExpectedSpend     float64 `json:"expected_spend"`
	CLV               float64 `json:"clv"`
	// Tier is "high", "medium" or "low": the top fifth of CLV, the next
	// two fifths, the rest.
	Tier string `json:"tier"`
}

// CLVResult is the fit and the predictions.
type CLVResult struct {
	CalibrationEnd time.Time  `json:"calibration_end"`
	HorizonWeeks   float64    `json:"horizon_weeks"`
	Customers      int        `json:"customers"`
	Repeaters      int        `json:"repeaters"`
	BGNBD          BGNBD      `json:"bgnbd"`
	GammaGamma     GammaGamma `json:"gamma_gamma"`
	// Warnings say where the data cannot identify part of a model.
	Warnings    []string        `json:"warnings,omitempty"`
	Predictions []CLVPrediction `json:"predictions,omitempty"`
}

// ComputeCLV summarizes purchases up to calibrationEnd (in weeks), fits
// BG/NBD and Gamma-Gamma, and predicts each customer's next horizon weeks.
func ComputeCLV(ps []Purchase, calibrationEnd time.Time, horizonWeeks float64) (*CLVResult, error) {
	if !(horizonWeeks > 0) {
		return nil, fmt.Errorf("clv: the horizon %v weeks must be positive", horizonWeeks)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("clv: there are no purchases")
	}
	first, last := ps[0].Time, ps[0].Time
	for _, p := range ps {
		if p.Time.Before(first) {
			first = p.Time
		}
		if p.Time.After(last) {
			last = p.Time
		}
	}
	if calibrationEnd.Before(day(first)) || calibrationEnd.After(last.AddDate(1, 0, 0)) {
		return nil, fmt.Errorf("clv: the calibration end %s is outside the data (%s to %s)",
			calibrationEnd.Format(time.DateOnly), first.Format(time.DateOnly), last.Format(time.DateOnly))
	}
	var positive []Purchase // returns left out; free purchases count
	for _, p := range ps {
		if p.Amount >= 0 {
			positive = append(positive, p)
		}
	}
	cs := Summarize(positive, calibrationEnd)
	res := &CLVResult{CalibrationEnd: day(calibrationEnd), HorizonWeeks: horizonWeeks, Customers: len(cs)}
	for _, c := range cs {
		if c.X > 0 {
			res.Repeaters++
		}
	}
	var err error
	if res.BGNBD, err = FitBGNBD(cs); err != nil {
		return nil, err
	}
	if res.GammaGamma, err = FitGammaGamma(cs); err != nil {
		return nil, err
	}
	if m := res.BGNBD; m.A < 1e-3 || m.B > 1e4 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the dropout process is not identified (a %.2g, b %.3g: almost no customer looks lost "+
			"within the calibration period), so P(alive) is about 1 for everyone and purchases are forecast as if nobody left; "+
			"a longer history identifies it", m.A, m.B))
	}
	if g := res.GammaGamma; g.Q <= 1 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("Gamma-Gamma q %.3g ≤ 1: the population mean spend is unbounded", g.Q))
	}
	for _, c := range cs {
		p := CLVPrediction{User: c.ID, Customer: c,
			ExpectedPurchases: res.BGNBD.ExpectedPurchases(horizonWeeks, c.X, c.TX, c.T),
			PAlive:            res.BGNBD.PAlive(c.X, c.TX, c.T),
			ExpectedSpend:     res.GammaGamma.ExpectedSpend(c.X, c.ZBar)}
		p.CLV = p.ExpectedPurchases * p.ExpectedSpend
		res.Predictions = append(res.Predictions, p)
	}
	order := make([]int, len(res.Predictions))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(res.Predictions[b].CLV, res.Predictions[a].CLV) })
	for rank, i := range order {
		switch {
		case rank < len(order)/5:
			res.Predictions[i].Tier = "high"
		case rank < 3*len(order)/5:
			res.Predictions[i].Tier = "medium"
		default:
			res.Predictions[i].Tier = "low"
		}
	}
	return res, nil
}
