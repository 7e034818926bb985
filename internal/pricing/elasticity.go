package pricing

import (
	"fmt"
	"math"

	"github.com/tailorhq/tailor"
)

// Elasticity is an item's own-price elasticity of demand: the percentage
// change in weekly units for a one-percent change in price.
type Elasticity struct {
	Item     tailor.ItemID `json:"item_id"`
	Category string        `json:"category"`
	// Weeks is the number of weeks with sales, and PriceSD the standard
	// deviation of the log price over them (the price variation the
	// estimate rests on).
	Weeks   int     `json:"weeks"`
	PriceSD float64 `json:"price_sd"`
	// Raw and RawSE are the item's own least-squares estimate (NaN when
	// its data cannot identify one, null in JSON).
	Raw   float64 `json:"raw"`
	RawSE float64 `json:"raw_se"`
	// Estimate, SE and CI95 are after shrinkage towards the category.
	Estimate float64    `json:"estimate"`
	SE       float64    `json:"se"`
	CI95     [2]float64 `json:"ci95"`
	// Reliable says whether a price may be set from it; Reason says why
	// not.
	Reliable bool   `json:"reliable"`
	Reason   string `json:"reason,omitempty"`
	// Substitute is the cross-price effect of the closest substitute, when
	// CrossPrices found one.
	Substitute *CrossPrice `json:"substitute,omitempty"`
}

// Prior is a category's distribution of elasticities: mean and the
// between-item standard deviation (DerSimonian–Laird), over Items items.
type Prior struct {
	Mean   float64 `json:"mean"`
	MeanSE float64 `json:"mean_se"`
	SD     float64 `json:"sd"`
	Items  int     `json:"items"`
}

// EstimateOptions configure Estimate.
type EstimateOptions struct {
	// Category names an item's category for the shrinkage (default: all
	// items in one, "all").
	Category func(tailor.ItemID) string
	// MinWeeks and MinPriceSD are what a reliable estimate needs: weeks
	// with sales (default 8) and variation of the log price (default 0.02,
	// about 2%).
	MinWeeks   int
	MinPriceSD float64
	// MaxSE is the largest standard error a reliable estimate may have
	// (default 0.75).
	MaxSE float64
}

// Estimate fits log(units) = item effect + week effect + β_item·log(price)
// + γ_item·log(mean line quantity) + ε on the weeks with sales (week
// effects, common to all items, take up seasonality and trend; each item's
// are taken from the other items, and only from five or more), by least
// squares per item after removing the effects; then shrinks each β
// towards its category's mean by empirical Bayes. Marked weeks (see
// ApplyMarks: promotions, stock-outs) are left out.
func Estimate(demand map[tailor.ItemID]*Demand, opts EstimateOptions) (map[tailor.ItemID]*Elasticity, map[string]Prior, error) {
	if opts.Category == nil {
		opts.Category = func(tailor.ItemID) string { return "all" }
	}
	if opts.MinWeeks == 0 {
		opts.MinWeeks = 8
	}
	if opts.MinPriceSD == 0 {
		opts.MinPriceSD = 0.02
	}
	if opts.MaxSE == 0 {
		opts.MaxSE = 0.75
	}
	if len(demand) == 0 {
		return nil, nil, fmt.Errorf("pricing: no item has sales")
	}
	tau := weekEffects(demand)
	out := map[tailor.ItemID]*Elasticity{}
	for item, d := range demand {
		e := &Elasticity{Item: item, Category: opts.Category(item), Raw: math.NaN(), RawSE: math.NaN()}
		out[item] = e
		n, mq, mp, mz, sdp := logStats(d.Weeks)
		e.Weeks, e.PriceSD = n, sdp
		if n < 4 || sdp < 1e-6 {
			continue
		}
		var mt float64
		for _, w := range d.Weeks {
			if w.usable() {
				mt += tau.of(w.Start, math.Log(w.Units)-mq)
			}
		}
		mt /= float64(n)
		// Normal equations of y on (x, z), all demeaned.
		var sxx, sxz, szz, sxy, szy float64
		type obs struct{ x, z, y float64 }
		var os []obs
		for _, w := range d.Weeks {
			if !w.usable() {
				continue
			}
			o := obs{x: math.Log(w.Price) - mp, z: math.Log(w.MeanLineQty) - mz, y: math.Log(w.Units) - mq - (tau.of(w.Start, math.Log(w.Units)-mq) - mt)}
			os = append(os, o)
			sxx, sxz, szz = sxx+o.x*o.x, sxz+o.x*o.z, szz+o.z*o.z
			sxy, szy = sxy+o.x*o.y, szy+o.z*o.y
		}
		det := sxx*szz - sxz*sxz
		var beta, gamma, invXX float64
		if det > 1e-12*sxx*math.Max(szz, 1e-12) && szz > 1e-12 {
			beta = (szz*sxy - sxz*szy) / det
			gamma = (sxx*szy - sxz*sxy) / det
			invXX = szz / det
		} else { // no order-size variation: price alone
			beta, gamma, invXX = sxy/sxx, 0, 1/sxx
		}
		var rss float64
		for _, o := range os {
			r := o.y - beta*o.x - gamma*o.z
			rss += r * r
		}
		df := float64(n - 2 - 1) // two slopes and the item mean (week effects are shared)
		if df < 1 {
			continue
		}
		e.Raw, e.RawSE = beta, math.Sqrt(rss/df*invXX)
		if !(e.RawSE > 0) {
			e.RawSE = math.NaN()
			e.Raw = math.NaN()
		}
	}
	// Category priors (DerSimonian–Laird random effects) and shrinkage.
	byCat := map[string][]*Elasticity{}
	for _, e := range out {
		if !math.IsNaN(e.Raw) {
			byCat[e.Category] = append(byCat[e.Category], e)
		}
	}
	priors := map[string]Prior{}
	var all []*Elasticity
	for cat, es := range byCat {
		priors[cat] = randomEffects(es)
		all = append(all, es...)
	}
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("pricing: no item has enough weeks of sales and price variation to estimate an elasticity")
	}
	global := randomEffects(all)
	for _, e := range out {
		pr, ok := priors[e.Category]
		if !ok || pr.Items < 3 {
			pr = global // too few items to say what the category is like
		}
		tau2 := math.Max(pr.SD*pr.SD, 1e-4)
		if math.IsNaN(e.Raw) {
			e.Estimate, e.SE = pr.Mean, math.Sqrt(tau2+pr.MeanSE*pr.MeanSE)
		} else {
			prec := 1/(e.RawSE*e.RawSE) + 1/tau2
			e.Estimate = (e.Raw/(e.RawSE*e.RawSE) + pr.Mean/tau2) / prec
			e.SE = 1 / math.Sqrt(prec)
		}
		e.CI95 = [2]float64{e.Estimate - 1.96*e.SE, e.Estimate + 1.96*e.SE}
		switch {
		case e.Weeks < opts.MinWeeks:
			e.Reason = fmt.Sprintf("%d weeks with sales; %d are needed", e.Weeks, opts.MinWeeks)
		case e.PriceSD < opts.MinPriceSD:
			e.Reason = fmt.Sprintf("the price hardly varied (log-price sd %.3f; %.3f is needed)", e.PriceSD, opts.MinPriceSD)
		case e.SE > opts.MaxSE:
			e.Reason = fmt.Sprintf("the estimate is too uncertain (standard error %.2f; at most %.2f)", e.SE, opts.MaxSE)
		case e.Estimate >= 0:
			e.Reason = fmt.Sprintf("the estimate %.2f says demand rises with price, which points to something the model does not see "+
				"(promotions, a changing mix of wholesale and retail buyers) rather than to a price to set", e.Estimate)
		default:
			e.Reliable = true
		}
	}
	return out, priors, nil
}

// randomEffects pools estimates by DerSimonian–Laird.
func randomEffects(es []*Elasticity) Prior {
	var sw, swb, sw2 float64
	for _, e := range es {
		w := 1 / (e.RawSE * e.RawSE)
		sw, swb, sw2 = sw+w, swb+w*e.Raw, sw2+w*w
	}
	fixed := swb / sw
	var q float64
	for _, e := range es {
		d := e.Raw - fixed
		q += d * d / (e.RawSE * e.RawSE)
	}
	k := float64(len(es))
	tau2 := 0.0
	if den := sw - sw2/sw; den > 0 {
		tau2 = math.Max(0, (q-(k-1))/den)
	}
	var sw2s, swb2 float64
	for _, e := range es {
		w := 1 / (e.RawSE*e.RawSE + tau2)
		sw2s, swb2 = sw2s+w, swb2+w*e.Raw
	}
	return Prior{Mean: swb2 / sw2s, MeanSE: math.Sqrt(1 / sw2s), SD: math.Sqrt(tau2), Items: len(es)}
}
