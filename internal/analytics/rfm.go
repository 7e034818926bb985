package analytics

import (
	"fmt"
	"slices"
	"time"
)

// RFM is one shopper's recency, frequency and monetary value at a
// reference date, their quintile scores (5 is best) and segment.
type RFM struct {
	User string `json:"user_id"`
	// RecencyDays is the number of days from the last purchase to the
	// reference date.
	RecencyDays float64 `json:"recency_days"`
	// Frequency is the number of distinct orders (or purchase days, for
	// lines without an order id).
	Frequency int `json:"frequency"`
	// Monetary is the net amount spent (returns subtracted).
	Monetary float64 `json:"monetary"`
	R        int     `json:"r"`
	F        int     `json:"f"`
	M        int     `json:"m"`
	Segment  string  `json:"segment"`
}

// Segments lists the RFM segments, from the recency and frequency scores:
//
//	champions            R 5,   F 4–5
//	loyal                R 3–4, F 4–5
//	potential_loyalists  R 4–5, F 2–3
//	new                  R 5,   F 1
//	promising            R 4,   F 1
//	need_attention       R 3,   F 3
//	about_to_sleep       R 3,   F 1–2
//	at_risk              R 1–2, F 3–4
//	cant_lose            R 1–2, F 5
//	hibernating          R 2,   F 1–2
//	lost                 R 1,   F 1–2
//
// (the usual R×F grid; monetary value is reported but does not change the
// segment).
var Segments = []string{"champions", "loyal", "potential_loyalists", "new", "promising", "need_attention",
	"about_to_sleep", "at_risk", "cant_lose", "hibernating", "lost"}

// Segment names the segment of recency and frequency scores (1–5).
func Segment(r, f int) string {
	switch {
	case r == 5 && f >= 4:
		return "champions"
	case r >= 3 && f >= 4:
		return "loyal"
	case r >= 4 && f >= 2:
		return "potential_loyalists"
	case r == 5:
		return "new"
	case r == 4:
		return "promising"
	case r == 3 && f == 3:
		return "need_attention"
	case r == 3:
		return "about_to_sleep"
	case f == 5:
		return "cant_lose"
	case f >= 3:
		return "at_risk"
	case r == 2:
		return "hibernating"
	default:
		return "lost"
	}
}

// ComputeRFM scores every shopper with a purchase before at. Scores are
// quintiles by rank (ties share the lower score): a shopper scores
// 1 + ⌊5 · (shoppers strictly worse) / (shoppers)⌋. It fails when at is
// before the first purchase.
func ComputeRFM(ps []Purchase, at time.Time) ([]RFM, error) {
	type acc struct {
		last   time.Time
		orders map[string]bool
		spent  float64
	}
	by := map[string]*acc{}
	var first time.Time
	for _, p := range ps {
		if first.IsZero() || p.Time.Before(first) {
			first = p.Time
		}
		if !p.Time.Before(at) {
			continue
		}
		a := by[p.User]
		if a == nil {
			a = &acc{orders: map[string]bool{}}
			by[p.User] = a
		}
		a.spent += p.Amount
		if p.Amount > 0 {
			if p.Time.After(a.last) {
				a.last = p.Time
			}
			key := p.Order
			if key == "" {
				key = day(p.Time).Format("2006-01-02")
			}
			a.orders[key] = true
		}
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("rfm: there are no purchases")
	}
	if !at.After(first) {
		return nil, fmt.Errorf("rfm: the reference date %s is not after the first purchase (%s)", at.Format(time.DateOnly), first.Format(time.DateOnly))
	}
	var out []RFM
	for u, a := range by {
		if len(a.orders) == 0 {
			continue // only returns
		}
		out = append(out, RFM{User: u, RecencyDays: at.Sub(a.last).Hours() / 24, Frequency: len(a.orders), Monetary: a.spent})
	}
	slices.SortFunc(out, func(a, b RFM) int { return cmpID(a.User, b.User) })
	score := func(vals []float64, higherBetter bool) []int {
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		n := len(vals)
		s := make([]int, n)
		for i, v := range vals {
			var worse int
			if higherBetter {
				worse, _ = slices.BinarySearch(sorted, v) // strictly below
			} else {
				j, found := slices.BinarySearch(sorted, v)
				for found && j < n && sorted[j] == v {
					j++
				}
				worse = n - j // strictly above (longer ago)
			}
			s[i] = 1 + 5*worse/n
		}
		return s
	}
	rec, freq, mon := make([]float64, len(out)), make([]float64, len(out)), make([]float64, len(out))
	for i, r := range out {
		rec[i], freq[i], mon[i] = r.RecencyDays, float64(r.Frequency), r.Monetary
	}
	rs, fs, ms := score(rec, false), score(freq, true), score(mon, true)
	for i := range out {
		out[i].R, out[i].F, out[i].M = rs[i], fs[i], ms[i]
		out[i].Segment = Segment(rs[i], fs[i])
	}
	return out, nil
}

// SegmentCounts counts shoppers per segment, in Segments order.
func SegmentCounts(rows []RFM) map[string]int {
	out := map[string]int{}
	for _, s := range Segments {
		out[s] = 0
	}
	for _, r := range rows {
		out[r.Segment]++
	}
	return out
}
