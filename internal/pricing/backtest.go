package pricing

import (
	"fmt"
	"math"
	"time"

	"github.com/tailorhq/tailor"
)

// Score is a forecaster's accuracy over the test item-weeks: WAPE
// (Σ|forecast − actual| / Σ actual) and bias (Σ(forecast − actual) /
// Σ actual).
type Score struct {
	Model   string  `json:"model"`
	WAPE    float64 `json:"wape"`
	Bias    float64 `json:"bias"`
	Items   int     `json:"items"`
	Weeks   int     `json:"item_weeks"`
	Actual  float64 `json:"actual_units"`
	Predict float64 `json:"forecast_units"`
}

// BacktestOptions say where to split.
type BacktestOptions struct {
	// Cutoff starts the test (the models learn from the weeks before it)
	// and End ends it (exclusive; default: after the last sale).
	Cutoff, End time.Time
	// Estimate configures the elasticities.
	Estimate EstimateOptions
}

// Backtest fits on the weeks before the cutoff and forecasts the weekly
// units of every item sold in the 13 weeks before it, for each test week,
// at the price actually charged that week (in a week without sales, the
// last price charged before it):
//
//   - elasticity: the mean of the last 4 weeks, moved by (price / their
//     mean price)^elasticity;
//   - naive-4w: the mean of the last 4 weeks;
//   - seasonal-naive: the same week of the last 4-week cycle before the
//     cutoff (the data are too short for a yearly season).
func Backtest(sales []Sale, opts BacktestOptions) ([]Score, map[tailor.ItemID]*Elasticity, error) {
	if opts.End.IsZero() {
		for _, s := range sales {
			if s.Time.After(opts.End) {
				opts.End = s.Time
			}
		}
		opts.End = opts.End.Add(time.Nanosecond)
	}
	cut := monday(opts.Cutoff)
	if !opts.End.After(cut.AddDate(0, 0, 7)) {
		return nil, nil, fmt.Errorf("price backtest: the test period from %s to %s holds less than a week", cut.Format(time.DateOnly), opts.End.Format(time.DateOnly))
	}
	train := WeeklyDemand(sales, cut)
	if len(train) == 0 {
		return nil, nil, fmt.Errorf("price backtest: no sales before %s", cut.Format(time.DateOnly))
	}
	full := WeeklyDemand(sales, opts.End)
	el, _, err := Estimate(train, opts.Estimate)
	if err != nil {
		return nil, nil, err
	}
	models := []string{"elasticity", "naive-4w", "seasonal-naive"}
	scores := make([]Score, len(models))
	for m := range scores {
		scores[m].Model = models[m]
	}
	for item, tr := range train {
		if tr.RecentUnits(13) == 0 || len(tr.Weeks) < 4 {
			continue // not selling lately, or too new to forecast
		}
		base := tr.RecentUnits(4)
		ref := tr.RecentPrice(4)
		price := tr.LastPrice()
		beta := el[item].Estimate
		n := len(tr.Weeks)
		for m := range scores {
			scores[m].Items++
		}
		for _, w := range full[item].Weeks {
			if w.Start.Before(cut) {
				continue
			}
			if w.Units > 0 {
				price = w.Price
			}
			k := int(w.Start.Sub(cut).Hours()/24/7) % 4
			forecasts := []float64{
				base * math.Pow(price/ref, beta),
				base,
				tr.Weeks[n-4+k].Units,
			}
			for m, f := range forecasts {
				scores[m].Weeks++
				scores[m].Actual += w.Units
				scores[m].Predict += f
				scores[m].WAPE += math.Abs(f - w.Units)
			}
		}
	}
	for m := range scores {
		if scores[m].Actual == 0 {
			return nil, nil, fmt.Errorf("price backtest: nothing was sold in the test period")
		}
		scores[m].WAPE /= scores[m].Actual
		scores[m].Bias = (scores[m].Predict - scores[m].Actual) / scores[m].Actual
	}
	return scores, el, nil
}
