package analytics

import (
	"fmt"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
)

// FunnelStep is how many shoppers (or sessions) reached a step.
type FunnelStep struct {
	Type    tailor.EventType `json:"type"`
	Reached int              `json:"reached"`
	// Conversion is Reached over the previous step's (1 for the first),
	// and DropOff is 1 − Conversion.
	Conversion float64 `json:"conversion"`
	DropOff    float64 `json:"drop_off"`
	// Overall is Reached over the first step's.
	Overall float64 `json:"overall"`
}

// Funnel is the conversion through ordered event types.
type Funnel struct {
	By    string       `json:"by"` // "user" or "session"
	Steps []FunnelStep `json:"steps"`
	// ByCategory is the same funnel per category of the item at the
	// first step (items without categories count as "").
	ByCategory map[string][]FunnelStep `json:"by_category,omitempty"`
}

// FunnelOptions configure ComputeFunnel.
type FunnelOptions struct {
	// Steps are the ordered event types (at least two).
	Steps []tailor.EventType
	// Window is the most time from the first step to the last (0: no
	// limit).
	Window time.Duration
	// BySession follows anonymous sessions (events' session ids) instead
	// of shoppers.
	BySession bool
	// Categories, when set, gives the categories of an item for the
	// per-category funnels.
	Categories func(tailor.ItemID) []string
}

// ComputeFunnel counts, for each step k, the shoppers (or sessions) with
// events of the first k step types in that order, the k-th within the
// window of the first. A shopper's best chain counts: each occurrence of
// the first step starts a chain, matched greedily to the earliest later
// events of the next steps.
func ComputeFunnel(events []tailor.Event, opts FunnelOptions) (*Funnel, error) {
	if len(opts.Steps) < 2 {
		return nil, fmt.Errorf("funnel: %d steps; a funnel needs at least two", len(opts.Steps))
	}
	for i, s := range opts.Steps {
		if !tailor.ValidTypeName(string(s)) {
			return nil, fmt.Errorf("funnel: step %d: %q is not an event type name", i+1, s)
		}
	}
	if opts.Window < 0 {
		return nil, fmt.Errorf("funnel: the window %s is negative", opts.Window)
	}
	known := map[tailor.EventType]bool{}
	for i := range events {
		known[events[i].Type] = true
	}
	for i, s := range opts.Steps {
		if !known[s] {
			return nil, fmt.Errorf("funnel: step %d: no event has type %q", i+1, s)
		}
	}
	groups := map[string][]*tailor.Event{}
	for i := range events {
		e := &events[i]
		key := string(e.UserID)
		if opts.BySession {
			key = e.SessionID
		}
		if key == "" || !slices.Contains(opts.Steps, e.Type) {
			continue
		}
		groups[key] = append(groups[key], e)
	}
	n := len(opts.Steps)
	reached := make([]int, n)
	byCat := map[string][]int{}
	for _, evs := range groups {
		slices.SortStableFunc(evs, func(a, b *tailor.Event) int { return a.Timestamp.Compare(b.Timestamp) })
		best, bestStart := 0, -1
		for i, e := range evs {
			if e.Type != opts.Steps[0] {
				continue
			}
			depth, at := 1, i
			for depth < n {
				j := slices.IndexFunc(evs[at+1:], func(x *tailor.Event) bool { return x.Type == opts.Steps[depth] })
				if j < 0 {
					break
				}
				at += 1 + j
				if opts.Window > 0 && evs[at].Timestamp.Sub(e.Timestamp) > opts.Window {
					break
				}
				depth++
			}
			if depth > best {
				best, bestStart = depth, i
			}
			if best == n {
				break
			}
		}
		for k := 0; k < best; k++ {
			reached[k]++
		}
		if opts.Categories != nil && bestStart >= 0 {
			cats := opts.Categories(evs[bestStart].ItemID)
			if len(cats) == 0 {
				cats = []string{""}
			}
			for _, c := range cats {
				if byCat[c] == nil {
					byCat[c] = make([]int, n)
				}
				for k := 0; k < best; k++ {
					byCat[c][k]++
				}
			}
		}
	}
	f := &Funnel{By: "user", Steps: steps(opts.Steps, reached)}
	if opts.BySession {
		f.By = "session"
	}
	if opts.Categories != nil {
		f.ByCategory = map[string][]FunnelStep{}
		for c, r := range byCat {
			f.ByCategory[c] = steps(opts.Steps, r)
		}
	}
	return f, nil
}

func steps(types []tailor.EventType, reached []int) []FunnelStep {
	out := make([]FunnelStep, len(types))
	for k, t := range types {
		out[k] = FunnelStep{Type: t, Reached: reached[k], Conversion: 1}
		if k > 0 && reached[k-1] > 0 {
			out[k].Conversion = float64(reached[k]) / float64(reached[k-1])
		} else if k > 0 {
			out[k].Conversion = 0
		}
		out[k].DropOff = 1 - out[k].Conversion
		if reached[0] > 0 {
			out[k].Overall = float64(reached[k]) / float64(reached[0])
		}
	}
	return out
}
