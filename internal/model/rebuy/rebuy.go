// Package rebuy predicts which of their past purchases a shopper will buy
// again, and when: each (shopper, item) has a repurchase interval (their
// own mean gap between purchase days when they bought it at least twice,
// else the item's median gap over all shoppers, else the overall median),
// which gives the date it is due and how overdue it is. The rebuy model
// ranks items by their purchase days weighted by recency (a half-life of
// about four months) times the share of the item's buyers who bought it
// again: on Online Retail that ranked better on validation data than
// scores built on the due date. The frequent (most purchase days) and
// recent (last bought) models are the baselines.
//
// All three answer repurchase queries from the shopper's purchases in the
// query's history, so a purchase made a second ago counts.
package rebuy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/topk"
)

// DefaultHalfLifeDays is the default half-life of a purchase's weight in
// the score. The score was chosen on a validation split of Online Retail
// (cutoff 2011-07-01, the next 61 days; the test cutoff is 2011-09-01)
// among a log-normal bump around the due date, the chance of a purchase
// within the horizon, time-decayed counts with time constants of 90, 180
// and 365 days, and the last times the item's repeat share to the power 0,
// ¼, ½ or 1.
const DefaultHalfLifeDays = 180 * math.Ln2

// Config holds the rebuy model's parameters.
type Config struct {
	// HalfLifeDays is the half-life of a purchase day's weight (default
	// DefaultHalfLifeDays).
	HalfLifeDays float64 `json:"half_life_days"`
	// RepeatPower is the power of the item's repeat share in the score
	// (default 1; 0 ignores it).
	RepeatPower *float64 `json:"repeat_power"`
}

// Kind is how a model ranks past purchases.
type Kind int

// The kinds.
const (
	Rebuy Kind = iota
	Frequent
	Recent
)

// Info describes the rebuy model for package all.
func Info() model.Info {
	var grid []json.RawMessage
	for _, hl := range []float64{62.4, DefaultHalfLifeDays, 249.5} {
		for _, p := range []float64{0, 0.25, 0.5, 1} {
			b, _ := json.Marshal(Config{HalfLifeDays: hl, RepeatPower: &p})
			grid = append(grid, b)
		}
	}
	return model.Info{Name: "rebuy", Grid: grid, New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var c Config
		if err := model.DecodeParams("rebuy", params, &c); err != nil {
			return nil, err
		}
		if c.HalfLifeDays == 0 {
			c.HalfLifeDays = DefaultHalfLifeDays
		}
		if !(c.HalfLifeDays > 0) || math.IsInf(c.HalfLifeDays, 0) {
			return nil, fmt.Errorf("rebuy: half_life_days %v must be a positive number", c.HalfLifeDays)
		}
		power := 1.0
		if c.RepeatPower != nil {
			power = *c.RepeatPower
		}
		if !(power >= 0) || math.IsInf(power, 0) {
			return nil, fmt.Errorf("rebuy: repeat_power %v must be a number from 0 up", power)
		}
		return &Model{name: "rebuy", kind: Rebuy, halfLife: c.HalfLifeDays, power: power}, nil
	}}
}

// FrequentInfo describes the "most purchase days" baseline.
func FrequentInfo() model.Info { return baseline("frequent", Frequent) }

// RecentInfo describes the "last bought" baseline.
func RecentInfo() model.Info { return baseline("recent", Recent) }

func baseline(name string, k Kind) model.Info {
	return model.Info{Name: name, New: func(params json.RawMessage, _ uint64) (model.Model, error) {
		var none struct{}
		if err := model.DecodeParams(name, params, &none); err != nil {
			return nil, err
		}
		return &Model{name: name, kind: k, halfLife: DefaultHalfLifeDays, power: 1}, nil
	}}
}

// Model holds what was learnt of the items' repurchase cycles. It is safe
// for concurrent use once fitted.
type Model struct {
	name     string
	kind     Kind
	halfLife float64
	power    float64

	n        int
	interval []float64 // item → median gap in days (0: none)
	repeat   []float64 // item → share of its buyers who bought it on two days or more
	global   float64   // median gap over all items
	end      int64     // the newest purchase, Unix nanoseconds
}

// day is the start of t's day (UTC), in Unix nanoseconds.
func day(t int64) int64 {
	y, mo, d := time.Unix(0, t).UTC().Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).UnixNano()
}

const nsPerDay = 24 * float64(time.Hour)

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Fit learns each item's median gap between a shopper's purchase days and
// its repeat share, from the dataset's purchases.
func (m *Model) Fit(ctx context.Context, d *dataset.Dataset) error {
	p := d.Purchases()
	m.n = d.NumItems()
	gaps := make([][]float64, m.n)
	var all []float64
	buyers, repeaters := make([]float64, m.n), make([]float64, m.n)
	m.end = 0
	for u := range d.Users {
		items, times := p.Of(int32(u))
		for _, h := range histories(items, times) {
			buyers[h.item]++
			if len(h.days) >= 2 {
				repeaters[h.item]++
			}
			for i := 1; i < len(h.days); i++ {
				g := float64(h.days[i]-h.days[i-1]) / nsPerDay
				gaps[h.item] = append(gaps[h.item], g)
				all = append(all, g)
			}
		}
		for _, t := range times {
			m.end = max(m.end, t)
		}
	}
	if len(p.Item) == 0 {
		return fmt.Errorf("%s: the data has no purchases by known shoppers", m.name)
	}
	m.interval, m.repeat = make([]float64, m.n), make([]float64, m.n)
	for i := range m.n {
		m.interval[i] = median(gaps[i])
		if buyers[i] > 0 {
			m.repeat[i] = repeaters[i] / buyers[i]
		}
	}
	m.global = median(all)
	if m.global == 0 {
		m.global = 30
	}
	return ctx.Err()
}

// history is a shopper's distinct purchase days of one item, sorted.
type history struct {
	item int32
	days []int64
}

// histories groups purchases (items and times) by item, in the order of
// the items' indices.
func histories(items []int32, times []int64) []history {
	// Sorted (item, day) pairs, then one shared array of days cut per
	// item: two allocations, whatever the number of items.
	type bought struct {
		item int32
		day  int64
	}
	ps := make([]bought, len(items))
	for k, i := range items {
		ps[k] = bought{i, day(times[k])}
	}
	slices.SortFunc(ps, func(a, b bought) int { return cmp.Or(cmp.Compare(a.item, b.item), cmp.Compare(a.day, b.day)) })
	days := make([]int64, 0, len(ps))
	var out []history
	for k := 0; k < len(ps); {
		i, start := ps[k].item, len(days)
		for ; k < len(ps) && ps[k].item == i; k++ {
			if len(days) == start || days[len(days)-1] != ps[k].day {
				days = append(days, ps[k].day)
			}
		}
		out = append(out, history{item: i, days: days[start:len(days):len(days)]})
	}
	return out
}

// score is the rebuy score of a history at a time: its purchase days
// weighted by 2^(−age/half-life), times the item's repeat share (plus
// 0.01, so that no item scores 0) to the configured power.
func (m *Model) score(h *history, at int64) float64 {
	var s float64
	for _, d := range h.days {
		s += math.Exp2(-float64(at-d) / nsPerDay / m.halfLife)
	}
	return s * math.Pow(m.repeat[h.item]+0.01, m.power)
}

// Tasks: repurchase.
func (m *Model) Tasks() []model.Task { return []model.Task{model.TaskRepurchase} }

// RanksFixed reports true for repurchase: the past purchases are scored
// from the history and the query's time alone, and Exclude only drops
// some (model.FixedRanker).
func (m *Model) RanksFixed(t model.Task) bool { return t == model.TaskRepurchase }

// pastPurchases returns the purchase histories of a query.
func pastPurchases(q *model.Query) []history {
	var items []int32
	var times []int64
	for _, h := range q.History {
		if h.Type == tailor.Purchase {
			items, times = append(items, h.Item), append(times, h.Time)
		}
	}
	return histories(items, times)
}

// Answer ranks the past purchases in q.History at q.Time (0: the newest
// training purchase).
func (m *Model) Answer(q *model.Query, dst []topk.Entry) ([]topk.Entry, error) {
	if q.Task != model.TaskRepurchase {
		return dst, &model.TaskError{Model: m.name, Task: q.Task}
	}
	if m.interval == nil {
		return dst, fmt.Errorf("%s: not fitted", m.name)
	}
	if err := model.CheckQuery(m.name, q, m.n); err != nil {
		return dst, err
	}
	at := q.Time
	if at == 0 {
		at = m.end
	}
	hs := pastPurchases(q)
	type ranked struct {
		h     *history
		score float64
	}
	rs := make([]ranked, 0, len(hs))
	for k := range hs {
		h := &hs[k]
		if !q.Allowed(h.item) {
			continue
		}
		var s float64
		switch m.kind {
		case Rebuy:
			s = m.score(h, at)
		case Frequent:
			s = float64(len(h.days))
		case Recent:
			s = float64(h.days[len(h.days)-1]) / nsPerDay
		}
		if q.Boost != nil {
			s = float64(model.Boosted(float32(s), q.Boost(h.item)))
		}
		rs = append(rs, ranked{h, s})
	}
	last := func(h *history) int64 { return h.days[len(h.days)-1] }
	slices.SortFunc(rs, func(a, b ranked) int {
		switch m.kind {
		case Frequent:
			return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(last(b.h), last(a.h)), cmp.Compare(a.h.item, b.h.item))
		case Recent:
			return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(len(b.h.days), len(a.h.days)), cmp.Compare(a.h.item, b.h.item))
		}
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.h.item, b.h.item))
	})
	for _, r := range rs[:min(q.N, len(rs))] {
		dst = append(dst, topk.Entry{Index: r.h.item, Score: float32(r.score)})
	}
	return dst, nil
}

// Due says when an item of the query's history is due again.
func (m *Model) Due(q *model.Query, item int32) (model.Due, bool) {
	if m.interval == nil || item < 0 || int(item) >= m.n {
		return model.Due{}, false
	}
	at := q.Time
	if at == 0 {
		at = m.end
	}
	// The item's purchase days, from the history (one pass, no grouping
	// of the other items).
	var days []int64
	for _, h := range q.History {
		if h.Item == item && h.Type == tailor.Purchase {
			days = append(days, day(h.Time))
		}
	}
	if len(days) > 0 {
		slices.Sort(days)
		days = slices.Compact(days)
		first, last := days[0], days[len(days)-1]
		iv := m.global
		switch {
		case len(days) >= 2:
			iv = float64(last-first) / nsPerDay / float64(len(days)-1)
		case m.interval[item] > 0:
			iv = m.interval[item]
		}
		iv = math.Max(iv, 1)
		return model.Due{Times: len(days), Last: last, IntervalDays: iv, Ratio: math.Max(float64(at-last)/nsPerDay, 0.5) / iv,
			Next: last + int64(iv*nsPerDay)}, true
	}
	return model.Due{}, false
}

// NumItems returns the size of the catalog.
func (m *Model) NumItems() int { return m.n }

// SetNumItems is a no-op: the artifact holds the catalog size.
func (m *Model) SetNumItems(int) {}

// MarshalBinary encodes the items' intervals and repeat shares.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	e := feature.NewEncoder(&b)
	e.Uint64(uint64(m.n))
	e.Float64s(m.interval)
	e.Float64s(m.repeat)
	e.Float64s([]float64{m.global})
	e.Int64s([]int64{m.end})
	return b.Bytes(), e.Err()
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := feature.NewDecoder(data)
	n := int(d.Uint64())
	interval, repeat, global, end := d.Float64s(), d.Float64s(), d.Float64s(), d.Int64s()
	if err := d.Err(); err != nil {
		return err
	}
	if len(interval) != n || len(repeat) != n || len(global) != 1 || len(end) != 1 {
		return errors.New("rebuy: corrupt artifact")
	}
	m.n, m.interval, m.repeat, m.global, m.end = n, interval, repeat, global[0], end[0]
	return nil
}

var (
	_ model.Persistent = (*Model)(nil)
	_ model.DueDater   = (*Model)(nil)
	_ model.Sized      = (*Model)(nil)
)
