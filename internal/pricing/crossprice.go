package pricing

import (
	"math"
	"runtime"
	"strings"
	"time"
	"unicode"

	"gonum.org/v1/gonum/mat"

	"github.com/tailorhq/tailor"
)

// CrossPrice is the effect of a close substitute's price on an item's
// demand: the percentage change in the item's weekly units for a one-percent
// change in the substitute's price (positive when they substitute).
type CrossPrice struct {
	Substitute tailor.ItemID `json:"substitute"`
	// Similarity is the share of title words the two items have in common.
	Similarity float64    `json:"similarity"`
	Weeks      int        `json:"weeks"`
	Elasticity float64    `json:"elasticity"`
	SE         float64    `json:"se"`
	CI95       [2]float64 `json:"ci95"`
}

func words(title string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToUpper(title), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) >= 2 {
			out[w] = true
		}
	}
	return out
}

// effects are the week effects: per week, the sum over items of log units
// minus the item's mean, and the number of items.
type effects struct{ sum, cnt map[time.Time]float64 }

// minEffectItems is the fewest other items a week effect is taken from;
// with fewer, a week has none (the effect would carry those items' own
// price effects).
const minEffectItems = 5

// of returns the week effect for an item whose own deviation that week is
// own: the mean over the other items (leave-one-out).
func (e effects) of(w time.Time, own float64) float64 {
	c := e.cnt[w] - 1
	if c < minEffectItems {
		return 0
	}
	return (e.sum[w] - own) / c
}

// weekEffects gathers the week effects of the items with two or more
// usable weeks.
func weekEffects(demand map[tailor.ItemID]*Demand) effects {
	sum, cnt := map[time.Time]float64{}, map[time.Time]float64{}
	for _, d := range demand {
		n, mq, _, _, _ := logStats(d.Weeks)
		if n < 2 {
			continue
		}
		for _, w := range d.Weeks {
			if w.usable() {
				sum[w.Start] += math.Log(w.Units) - mq
				cnt[w.Start]++
			}
		}
	}
	return effects{sum, cnt}
}

// CrossPrices finds, for each item of el, its closest substitute — the item
// of the same category whose title shares the most words with it (at least
// half, by Jaccard) and that sold in at least minWeeks of the same weeks —
// and estimates the cross-price elasticity by adding the substitute's log
// price to the item's regression (after item and week effects, with the
// order-size control). It sets Elasticity.Substitute where it can.
func CrossPrices(demand map[tailor.ItemID]*Demand, el map[tailor.ItemID]*Elasticity, title func(tailor.ItemID) string, minWeeks int) {
	if minWeeks == 0 {
		minWeeks = 8
	}
	tokens := map[tailor.ItemID]map[string]bool{}
	index := map[string][]tailor.ItemID{}
	for id := range demand {
		tokens[id] = words(title(id))
		for w := range tokens[id] {
			index[w] = append(index[w], id)
		}
	}
	tau := weekEffects(demand)
	for id, e := range el {
		if math.IsNaN(e.Raw) || len(tokens[id]) == 0 {
			continue
		}
		// Pricing runs in a server's background (the analyses'
		// refresh): each item hands the processor to waiting requests
		// first, rather than holding it for the scheduler's 10 ms slice.
		runtime.Gosched()
		shared := map[tailor.ItemID]int{}
		for w := range tokens[id] {
			for _, other := range index[w] {
				if other != id && el[other] != nil && el[other].Category == e.Category {
					shared[other]++
				}
			}
		}
		var best tailor.ItemID
		bestSim := 0.0
		for other, c := range shared {
			sim := float64(c) / float64(len(tokens[id])+len(tokens[other])-c)
			if sim < 0.5 {
				continue
			}
			if sim > bestSim || (sim == bestSim && other < best) {
				best, bestSim = other, sim
			}
		}
		if best == "" {
			continue
		}
		if cp := cross(demand[id], demand[best], tau, minWeeks); cp != nil {
			cp.Substitute, cp.Similarity = best, bestSim
			e.Substitute = cp
		}
	}
}

// cross regresses d's log units on its own log price, s's log price and
// its log line quantity over the weeks both sold, after week effects.
func cross(d, s *Demand, tau effects, minWeeks int) *CrossPrice {
	_, mq, _, _, _ := logStats(d.Weeks)
	sp := map[time.Time]float64{}
	for _, w := range s.Weeks {
		if w.usable() {
			sp[w.Start] = math.Log(w.Price)
		}
	}
	type obs struct{ y, x [3]float64 }
	var os []obs
	var mean obs
	for _, w := range d.Weeks {
		p, ok := sp[w.Start]
		if !w.usable() || !ok {
			continue
		}
		o := obs{y: [3]float64{math.Log(w.Units) - tau.of(w.Start, math.Log(w.Units)-mq)}, x: [3]float64{math.Log(w.Price), p, math.Log(w.MeanLineQty)}}
		os = append(os, o)
		mean.y[0] += o.y[0]
		for k := range 3 {
			mean.x[k] += o.x[k]
		}
	}
	n := len(os)
	if n < minWeeks || n < 6 {
		return nil
	}
	mean.y[0] /= float64(n)
	for k := range 3 {
		mean.x[k] /= float64(n)
	}
	xtx := mat.NewSymDense(3, nil)
	xty := mat.NewVecDense(3, nil)
	for _, o := range os {
		var x [3]float64
		for k := range 3 {
			x[k] = o.x[k] - mean.x[k]
		}
		y := o.y[0] - mean.y[0]
		for a := range 3 {
			xty.SetVec(a, xty.AtVec(a)+x[a]*y)
			for b := a; b < 3; b++ {
				xtx.SetSym(a, b, xtx.At(a, b)+x[a]*x[b])
			}
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(xtx) {
		return nil // no independent variation of the two prices
	}
	var beta mat.VecDense
	if err := chol.SolveVecTo(&beta, xty); err != nil {
		return nil
	}
	var inv mat.SymDense
	if err := chol.InverseTo(&inv); err != nil {
		return nil
	}
	var rss float64
	for _, o := range os {
		r := o.y[0] - mean.y[0]
		for k := range 3 {
			r -= beta.AtVec(k) * (o.x[k] - mean.x[k])
		}
		rss += r * r
	}
	se := math.Sqrt(rss / float64(n-4) * inv.At(1, 1))
	if math.IsNaN(se) || math.IsInf(se, 0) {
		return nil
	}
	b := beta.AtVec(1)
	return &CrossPrice{Weeks: n, Elasticity: b, SE: se, CI95: [2]float64{b - 1.96*se, b + 1.96*se}}
}
