// Package pricing estimates how demand responds to price and recommends
// prices within guardrails: weekly demand per item from purchase events,
// own-price elasticities from a log-log model with item and week effects
// and an order-size control, shrunk towards their category's by empirical
// Bayes, and revenue- or profit-maximizing prices on a grid. Prices are
// per item, never per shopper.
package pricing

import (
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
)

// Sale is one purchase line.
type Sale struct {
	Item      tailor.ItemID
	User      tailor.UserID
	Time      time.Time
	Quantity  float64
	UnitPrice float64
}

// Sales extracts purchase lines with a positive quantity and unit price;
// skip leaves out items (non-products). Returns are left out: they say
// little about the price a shopper was willing to pay.
func Sales(events []tailor.Event, skip func(tailor.ItemID) bool) []Sale {
	return AppendSales(nil, events, skip)
}

// AppendSales appends the purchase lines of events to out, as Sales
// extracts them, and returns the extended slice.
func AppendSales(out []Sale, events []tailor.Event, skip func(tailor.ItemID) bool) []Sale {
	for i := range events {
		e := &events[i]
		if e.Type != tailor.Purchase || e.UnitPrice == nil || *e.UnitPrice <= 0 || (skip != nil && skip(e.ItemID)) {
			continue
		}
		q := 1.0
		if e.Value != nil {
			q = *e.Value
		}
		if q <= 0 {
			continue
		}
		out = append(out, Sale{Item: e.ItemID, User: e.UserID, Time: e.Timestamp, Quantity: q, UnitPrice: *e.UnitPrice})
	}
	return out
}

// Week is one item's demand in one week.
type Week struct {
	// Start is the Monday (UTC) the week begins.
	Start time.Time `json:"start"`
	// Units sold, and the quantity-weighted mean unit price paid (0 in a
	// week without sales).
	Units float64 `json:"units"`
	Price float64 `json:"price"`
	// Lines is the number of purchase lines, and MeanLineQty the mean
	// quantity per line (the order-size control: Online Retail mixes
	// wholesale and retail buyers, who pay different unit prices).
	Lines       int     `json:"lines"`
	MeanLineQty float64 `json:"mean_line_qty"`
	// Buyers is the number of distinct shoppers (anonymous lines count
	// none).
	Buyers int `json:"buyers"`
	// Marked says why the week is left out of the estimates ("promotion",
	// "stockout", ...; empty for a normal week).
	Marked string `json:"marked,omitempty"`
}

// Mark is a week of an item that is not a normal week: a promotion, a
// stock-out. Week may be any day of it.
type Mark struct {
	Item   tailor.ItemID
	Week   time.Time
	Reason string
}

// ApplyMarks marks the weeks; marks for items or weeks without a series
// are ignored, and it returns how many it applied.
func ApplyMarks(demand map[tailor.ItemID]*Demand, marks []Mark) int {
	n := 0
	for _, mk := range marks {
		d := demand[mk.Item]
		if d == nil {
			continue
		}
		w := monday(mk.Week)
		for i := range d.Weeks {
			if d.Weeks[i].Start.Equal(w) {
				d.Weeks[i].Marked = mk.Reason
				n++
			}
		}
	}
	return n
}

// Demand is an item's weekly series, with zero-sale weeks filled in
// between its first sale and the end.
type Demand struct {
	Item  tailor.ItemID `json:"item_id"`
	Weeks []Week        `json:"weeks"`
}

// monday returns the start of t's ISO week.
func monday(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
}

// WeeklyDemand aggregates sales before end into weekly series per item.
func WeeklyDemand(sales []Sale, end time.Time) map[tailor.ItemID]*Demand {
	type acc struct {
		units, revenue float64
		lines          int
		buyers         map[tailor.UserID]bool
	}
	by := map[tailor.ItemID]map[time.Time]*acc{}
	first := map[tailor.ItemID]time.Time{}
	for k, s := range sales {
		if k%4096 == 4095 {
			runtime.Gosched() // a background refresh yields to requests (as in CrossPrices)
		}
		if !s.Time.Before(end) {
			continue
		}
		w := monday(s.Time)
		if by[s.Item] == nil {
			by[s.Item] = map[time.Time]*acc{}
		}
		a := by[s.Item][w]
		if a == nil {
			a = &acc{buyers: map[tailor.UserID]bool{}}
			by[s.Item][w] = a
		}
		if s.User != "" {
			a.buyers[s.User] = true
		}
		a.units += s.Quantity
		a.revenue += s.Quantity * s.UnitPrice
		a.lines++
		if f, ok := first[s.Item]; !ok || w.Before(f) {
			first[s.Item] = w
		}
	}
	last := monday(end.Add(-time.Nanosecond))
	out := map[tailor.ItemID]*Demand{}
	for item, weeks := range by {
		d := &Demand{Item: item, Weeks: make([]Week, 0, int(last.Sub(first[item]).Hours()/(24*7))+1)}
		for w := first[item]; !w.After(last); w = w.AddDate(0, 0, 7) {
			wk := Week{Start: w}
			if a := weeks[w]; a != nil {
				wk.Units, wk.Price, wk.Lines, wk.MeanLineQty, wk.Buyers = a.units, a.revenue/a.units, a.lines, a.units/float64(a.lines), len(a.buyers)
			}
			d.Weeks = append(d.Weeks, wk)
		}
		out[item] = d
	}
	return out
}

// CategoryDemand adds the items' weekly series by category (an item
// counts in each of its categories): units, revenue-weighted price and
// lines; buyers are summed over items, so a shopper buying two items of a
// category in a week counts twice.
func CategoryDemand(items map[tailor.ItemID]*Demand, categories func(tailor.ItemID) []string) map[string]*Demand {
	type acc struct {
		units, revenue, lines float64
		buyers                int
	}
	by := map[string]map[time.Time]*acc{}
	for id, d := range items {
		for _, c := range categories(id) {
			if by[c] == nil {
				by[c] = map[time.Time]*acc{}
			}
			for _, w := range d.Weeks {
				a := by[c][w.Start]
				if a == nil {
					a = &acc{}
					by[c][w.Start] = a
				}
				a.units += w.Units
				a.revenue += w.Units * w.Price
				a.lines += float64(w.Lines)
				a.buyers += w.Buyers
			}
		}
	}
	out := map[string]*Demand{}
	for c, weeks := range by {
		d := &Demand{Item: tailor.ItemID(c)}
		for start, a := range weeks {
			w := Week{Start: start, Units: a.units, Lines: int(a.lines), Buyers: a.buyers}
			if a.units > 0 {
				w.Price, w.MeanLineQty = a.revenue/a.units, a.units/a.lines
			}
			d.Weeks = append(d.Weeks, w)
		}
		slices.SortFunc(d.Weeks, func(a, b Week) int { return a.Start.Compare(b.Start) })
		out[c] = d
	}
	return out
}

// LastPrice returns the price of the last week with sales (0 if none).
func (d *Demand) LastPrice() float64 {
	for i := len(d.Weeks) - 1; i >= 0; i-- {
		if d.Weeks[i].Units > 0 {
			return d.Weeks[i].Price
		}
	}
	return 0
}

// recent returns the last n unmarked weeks.
func (d *Demand) recent(n int) []Week {
	var out []Week
	for i := len(d.Weeks) - 1; i >= 0 && len(out) < n; i-- {
		if d.Weeks[i].Marked == "" {
			out = append(out, d.Weeks[i])
		}
	}
	return out
}

// RecentUnits is the mean weekly units over the last n unmarked weeks
// (all of them when there are fewer).
func (d *Demand) RecentUnits(n int) float64 {
	ws := d.recent(n)
	if len(ws) == 0 {
		return 0
	}
	var s float64
	for _, w := range ws {
		s += w.Units
	}
	return s / float64(len(ws))
}

// RecentPrice is the unit-weighted mean price over the last n unmarked
// weeks (LastPrice when none sold).
func (d *Demand) RecentPrice(n int) float64 {
	var units, rev float64
	for _, w := range d.recent(n) {
		units += w.Units
		rev += w.Units * w.Price
	}
	if units == 0 {
		return d.LastPrice()
	}
	return rev / units
}

// Baseline is what a price recommendation starts from: an item's recent
// weekly units and price, and all the units it sold. It is a few numbers
// where the series is a year of weeks, so a server keeps baselines, not
// series, once the elasticities are estimated.
type Baseline struct {
	// Units and Price are RecentUnits and RecentPrice over the weeks
	// asked.
	Units, Price float64
	// Total is TotalUnits.
	Total float64
}

// BaselineWeeks is how many recent weeks a recommendation's baseline
// covers.
const BaselineWeeks = 8

// Baseline returns the series' baseline over its last n unmarked weeks;
// a nil series has a zero baseline (no sales).
func (d *Demand) Baseline(n int) Baseline {
	if d == nil {
		return Baseline{}
	}
	return Baseline{Units: d.RecentUnits(n), Price: d.RecentPrice(n), Total: d.TotalUnits()}
}

// TotalUnits sums the series.
func (d *Demand) TotalUnits() float64 {
	var s float64
	for _, w := range d.Weeks {
		s += w.Units
	}
	return s
}

// usable reports whether a week enters the estimates: it sold, and is not
// marked.
func (w *Week) usable() bool { return w.Units > 0 && w.Marked == "" }

// logStats are a series' means over its usable weeks.
func logStats(ws []Week) (n int, meanLogQ, meanLogP, meanLogZ, sdLogP float64) {
	for _, w := range ws {
		if !w.usable() {
			continue
		}
		n++
		meanLogQ += math.Log(w.Units)
		meanLogP += math.Log(w.Price)
		meanLogZ += math.Log(w.MeanLineQty)
	}
	if n == 0 {
		return
	}
	meanLogQ /= float64(n)
	meanLogP /= float64(n)
	meanLogZ /= float64(n)
	for _, w := range ws {
		if w.usable() {
			d := math.Log(w.Price) - meanLogP
			sdLogP += d * d
		}
	}
	sdLogP = math.Sqrt(sdLogP / float64(n))
	return
}

// BestSellers returns the items of m by descending total units.
func BestSellers(m map[tailor.ItemID]*Demand) []tailor.ItemID {
	items := make([]tailor.ItemID, 0, len(m))
	for id := range m {
		items = append(items, id)
	}
	slices.SortFunc(items, func(a, b tailor.ItemID) int {
		ua, ub := m[a].TotalUnits(), m[b].TotalUnits()
		switch {
		case ua > ub:
			return -1
		case ua < ub:
			return 1
		}
		return compareIDs(a, b)
	})
	return items
}

func compareIDs(a, b tailor.ItemID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
