package analytics

import (
	"fmt"
	"slices"
	"time"
)

// Cohort is the shoppers who first bought in one period, and what they did
// in the periods after.
type Cohort struct {
	// Start is the first day of the acquisition period.
	Start time.Time `json:"start"`
	Size  int       `json:"size"`
	// Retention[k] is the share of the cohort that bought in the k-th
	// period after acquisition (Retention[0] is 1).
	Retention []float64 `json:"retention"`
	// Revenue[k] is the net amount the cohort spent in that period.
	Revenue []float64 `json:"revenue"`
}

// Cohorts groups shoppers by the month (period "month") or ISO week
// ("week") of their first purchase, up to the last purchase's period.
func Cohorts(ps []Purchase, period string) ([]Cohort, error) {
	var start func(time.Time) time.Time
	var next func(time.Time) time.Time
	switch period {
	case "month":
		start = func(t time.Time) time.Time {
			y, m, _ := t.UTC().Date()
			return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		}
		next = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	case "week":
		start = func(t time.Time) time.Time {
			d := day(t)
			return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) // Monday
		}
		next = func(t time.Time) time.Time { return t.AddDate(0, 0, 7) }
	default:
		return nil, fmt.Errorf("cohorts: period %q: use month or week", period)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("cohorts: there are no purchases")
	}
	first := map[string]time.Time{}
	var last time.Time
	for _, p := range ps {
		if p.Amount <= 0 {
			continue
		}
		if f, ok := first[p.User]; !ok || p.Time.Before(f) {
			first[p.User] = p.Time
		}
		if p.Time.After(last) {
			last = p.Time
		}
	}
	// Periods are indexed from the earliest cohort.
	var periods []time.Time
	for t := start(minTime(first)); !t.After(start(last)); t = next(t) {
		periods = append(periods, t)
	}
	index := func(t time.Time) int {
		i, _ := slices.BinarySearchFunc(periods, start(t), func(a, b time.Time) int { return a.Compare(b) })
		return i
	}
	cohorts := make([]Cohort, len(periods))
	active := make([]map[int]map[string]bool, len(periods))
	for i, p := range periods {
		n := len(periods) - i
		cohorts[i] = Cohort{Start: p, Retention: make([]float64, n), Revenue: make([]float64, n)}
		active[i] = map[int]map[string]bool{}
	}
	for u, f := range first {
		cohorts[index(f)].Size++
		_ = u
	}
	for _, p := range ps {
		f, ok := first[p.User]
		if !ok {
			continue
		}
		c, k := index(f), index(p.Time)-index(f)
		if k < 0 {
			continue // a return before the first purchase
		}
		cohorts[c].Revenue[k] += p.Amount
		if p.Amount > 0 {
			if active[c][k] == nil {
				active[c][k] = map[string]bool{}
			}
			active[c][k][p.User] = true
		}
	}
	for i := range cohorts {
		for k := range cohorts[i].Retention {
			if cohorts[i].Size > 0 {
				cohorts[i].Retention[k] = float64(len(active[i][k])) / float64(cohorts[i].Size)
			}
		}
	}
	return cohorts, nil
}

func minTime(m map[string]time.Time) time.Time {
	var out time.Time
	for _, t := range m {
		if out.IsZero() || t.Before(out) {
			out = t
		}
	}
	return out
}
