package feature

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
)

// PrepareOptions say how events become a training matrix. The zero value
// keeps every event at weight 1 only when Weights is set; see Weights.
type PrepareOptions struct {
	// Weights is what each event type counts for (the configuration's
	// events.weights). Types not listed, or weighing 0, are dropped.
	Weights map[tailor.EventType]float64
	// UseRating multiplies a rating event's weight by its value.
	UseRating bool
	// SkipItem, if not nil, drops the events of the items it returns true
	// for (such as non-products: postage, fees, vouchers).
	SkipItem func(tailor.ItemID) bool
	// NetReturns subtracts returned quantities from the same user's
	// purchases of the item; a pair whose purchases are all returned is
	// dropped.
	NetReturns bool
	// MaxUserEvents drops users with more events than this, as bots or
	// outliers; 0 keeps all.
	MaxUserEvents int
	// MinUserSupport and MinItemSupport drop users and items with fewer
	// distinct partners than this (one pass); KCore, when above 0, then
	// applies the iterative k-core to both.
	MinUserSupport, MinItemSupport, KCore int
	// HalfLife, when above 0, multiplies each event's weight by
	// 2^(−age/HalfLife), age measured back from Now.
	HalfLife time.Duration
	Now      time.Time
	// ConfidenceAlpha, when above 0, turns each pair's summed weight w
	// into the implicit-feedback confidence 1 + α·log(1 + w/ε), with ε
	// ConfidenceEps (default 1).
	ConfidenceAlpha, ConfidenceEps float64
}

// Step is what one preprocessing step did.
type Step struct {
	Name    string `json:"name"`
	Removed int    `json:"removed"`
	Changed int    `json:"changed,omitempty"`
	Note    string `json:"note,omitempty"`
}

// PrepareReport says what preprocessing did, step by step.
type PrepareReport struct {
	Events int    `json:"events"`
	Steps  []Step `json:"steps"`
	Users  int    `json:"users"`
	Items  int    `json:"items"`
	Pairs  int    `json:"pairs"`
}

// Prepare cleans, weighs and aggregates events into a dataset whose index
// space holds only the users and items that remain. Steps, in order:
// duplicate event ids, event types without weight, returns netted against
// purchases, users over MaxUserEvents, minimum support, k-core, time decay,
// aggregation per (user, item), confidence.
func Prepare(events []tailor.Event, opts PrepareOptions) (*Dataset, *PrepareReport, error) {
	if len(opts.Weights) == 0 {
		return nil, nil, fmt.Errorf("prepare: no event type has a weight")
	}
	if opts.HalfLife > 0 && opts.Now.IsZero() {
		return nil, nil, fmt.Errorf("prepare: a half-life needs the time it is measured from")
	}
	if opts.ConfidenceEps == 0 {
		opts.ConfidenceEps = 1
	}
	rep := &PrepareReport{Events: len(events)}
	step := func(name string, before, after int, note string) {
		rep.Steps = append(rep.Steps, Step{Name: name, Removed: before - after, Note: note})
	}

	// Duplicate ids.
	seen := map[string]bool{}
	kept := make([]tailor.Event, 0, len(events))
	for _, e := range events {
		if e.UserID == "" {
			continue // anonymous: not a row of the matrix
		}
		if e.ID != "" && seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		kept = append(kept, e)
	}
	step("anonymous and duplicate events", len(events), len(kept), "")

	// Returns netted against purchases, by (user, item) quantities.
	if opts.NetReturns {
		type key struct {
			u tailor.UserID
			i tailor.ItemID
		}
		returned := map[key]float64{}
		for _, e := range kept {
			if e.Type == tailor.Return {
				returned[key{e.UserID, e.ItemID}] += quantity(e)
			}
		}
		before, changed := len(kept), 0
		var out []tailor.Event
		for _, e := range kept {
			if e.Type == tailor.Return {
				continue
			}
			k := key{e.UserID, e.ItemID}
			if e.Type == tailor.Purchase && returned[k] > 0 {
				q := quantity(e)
				take := math.Min(q, returned[k])
				returned[k] -= take
				if take == q {
					continue // wholly returned
				}
				v := q - take
				e.Value = &v
				changed++
			}
			out = append(out, e)
		}
		kept = out
		rep.Steps = append(rep.Steps, Step{Name: "returns netted against purchases", Removed: before - len(kept), Changed: changed})
	}

	if opts.SkipItem != nil {
		before := len(kept)
		kept = slices.DeleteFunc(kept, func(e tailor.Event) bool { return opts.SkipItem(e.ItemID) })
		step("skipped items (non-products)", before, len(kept), "")
	}

	// Event types without weight.
	before := len(kept)
	kept = slices.DeleteFunc(kept, func(e tailor.Event) bool { return opts.Weights[e.Type] == 0 })
	step("event types without weight", before, len(kept), "")

	// Bots and outliers.
	if opts.MaxUserEvents > 0 {
		n := map[tailor.UserID]int{}
		for _, e := range kept {
			n[e.UserID]++
		}
		before := len(kept)
		kept = slices.DeleteFunc(kept, func(e tailor.Event) bool { return n[e.UserID] > opts.MaxUserEvents })
		step(fmt.Sprintf("users with more than %d events", opts.MaxUserEvents), before, len(kept), "")
	}

	// Minimum support and k-core over distinct (user, item) pairs.
	if opts.MinUserSupport > 0 || opts.MinItemSupport > 0 {
		before := len(kept)
		kept = support(kept, opts.MinUserSupport, opts.MinItemSupport, false)
		step("users and items below the minimum support", before, len(kept), "")
	}
	if opts.KCore > 0 {
		before := len(kept)
		kept = support(kept, opts.KCore, opts.KCore, true)
		step(fmt.Sprintf("iterative %d-core", opts.KCore), before, len(kept), "")
	}

	// Weights, decay, aggregation.
	users, items := NewIndex(), NewIndex()
	xs := make([]Interaction, 0, len(kept))
	for _, e := range kept {
		w := opts.Weights[e.Type]
		if opts.UseRating && e.Type == tailor.Rating && e.Value != nil {
			w *= *e.Value
		}
		if opts.HalfLife > 0 {
			age := opts.Now.Sub(e.Timestamp)
			w *= math.Exp2(-float64(age) / float64(opts.HalfLife))
		}
		xs = append(xs, Interaction{User: users.Add(string(e.UserID)), Item: items.Add(string(e.ItemID)), Weight: float32(w), Time: e.Timestamp.Unix()})
	}
	d, err := Build(users.IDs(), items.IDs(), xs)
	if err != nil {
		return nil, nil, err
	}
	if opts.HalfLife > 0 {
		rep.Steps = append(rep.Steps, Step{Name: "time decay", Changed: len(xs), Note: fmt.Sprintf("half-life %s", opts.HalfLife)})
	}
	rep.Steps = append(rep.Steps, Step{Name: "aggregated per user and item", Removed: len(xs) - d.NNZ()})
	if opts.ConfidenceAlpha > 0 {
		for k, w := range d.Weights {
			d.Weights[k] = float32(1 + opts.ConfidenceAlpha*math.Log1p(float64(w)/opts.ConfidenceEps))
		}
		rep.Steps = append(rep.Steps, Step{Name: "confidence 1 + α·log(1 + w/ε)", Changed: d.NNZ(),
			Note: fmt.Sprintf("α %g, ε %g", opts.ConfidenceAlpha, opts.ConfidenceEps)})
	}
	rep.Users, rep.Items, rep.Pairs = d.NumUsers(), d.NumItems(), d.NNZ()
	return d, rep, nil
}

// quantity is an event's quantity: its value, or 1.
func quantity(e tailor.Event) float64 {
	if e.Value != nil && *e.Value > 0 {
		return *e.Value
	}
	return 1
}

// support drops the events of users with fewer than minUser distinct items
// and of items with fewer than minItem distinct users, once or, with
// iterate, until nothing changes.
func support(events []tailor.Event, minUser, minItem int, iterate bool) []tailor.Event {
	for {
		userItems := map[tailor.UserID]map[tailor.ItemID]bool{}
		itemUsers := map[tailor.ItemID]map[tailor.UserID]bool{}
		for _, e := range events {
			if userItems[e.UserID] == nil {
				userItems[e.UserID] = map[tailor.ItemID]bool{}
			}
			if itemUsers[e.ItemID] == nil {
				itemUsers[e.ItemID] = map[tailor.UserID]bool{}
			}
			userItems[e.UserID][e.ItemID] = true
			itemUsers[e.ItemID][e.UserID] = true
		}
		before := len(events)
		events = slices.DeleteFunc(events, func(e tailor.Event) bool {
			return len(userItems[e.UserID]) < minUser || len(itemUsers[e.ItemID]) < minItem
		})
		if !iterate || len(events) == before {
			return events
		}
	}
}

// Scaler maps a numeric feature to a common scale. Fit it on training data
// only, then Transform any data.
type Scaler interface {
	Fit(xs []float64)
	Transform(x float64) float64
}

// StandardScaler maps x to (x − mean) / standard deviation.
type StandardScaler struct{ Mean, Std float64 }

// Fit learns the mean and the (population) standard deviation.
func (s *StandardScaler) Fit(xs []float64) {
	if len(xs) == 0 {
		s.Mean, s.Std = 0, 1
		return
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	s.Std = math.Sqrt(ss / float64(len(xs)))
}

// Transform scales x; a constant feature maps to 0.
func (s *StandardScaler) Transform(x float64) float64 {
	if s.Std == 0 {
		return 0
	}
	return (x - s.Mean) / s.Std
}

// MinMaxScaler maps x to (x − min) / (max − min), so that the training data
// spans [0, 1].
type MinMaxScaler struct{ Min, Max float64 }

// Fit learns the minimum and maximum.
func (s *MinMaxScaler) Fit(xs []float64) {
	if len(xs) == 0 {
		s.Min, s.Max = 0, 1
		return
	}
	s.Min, s.Max = slices.Min(xs), slices.Max(xs)
}

// Transform scales x; a constant feature maps to 0.
func (s *MinMaxScaler) Transform(x float64) float64 {
	if s.Max == s.Min {
		return 0
	}
	return (x - s.Min) / (s.Max - s.Min)
}

var (
	_ Scaler = (*StandardScaler)(nil)
	_ Scaler = (*MinMaxScaler)(nil)
)
