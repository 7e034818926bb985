package eval

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Budget bounds what a chosen model may cost; a zero field is no bound.
type Budget struct {
	// P99 is the 99th percentile of the time to answer one case.
	P99 time.Duration
	// Memory is the largest Go heap while fitting and answering.
	Memory uint64
	// Train is the time to fit.
	Train time.Duration
}

// ParseBudget reads "p99=5ms,memory=2GiB,train=10m" (any of the three, in
// any order; memory in B, KiB, MiB or GiB).
func ParseBudget(s string) (Budget, error) {
	var b Budget
	if strings.TrimSpace(s) == "" {
		return b, nil
	}
	for _, part := range strings.Split(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return b, fmt.Errorf("budget %q: expected KEY=VALUE (p99=5ms, memory=2GiB, train=10m)", part)
		}
		switch key {
		case "p99", "train":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return b, fmt.Errorf("budget %s: %q is not a positive duration such as 5ms or 10m", key, val)
			}
			if key == "p99" {
				b.P99 = d
			} else {
				b.Train = d
			}
		case "memory":
			n, err := parseBytes(val)
			if err != nil {
				return b, fmt.Errorf("budget memory: %w", err)
			}
			b.Memory = n
		default:
			return b, fmt.Errorf("budget %q: unknown key %q (p99, memory, train)", part, key)
		}
	}
	return b, nil
}

func parseBytes(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || !(f > 0) || math.IsInf(f, 0) {
				break
			}
			return uint64(f * u.mult), nil
		}
	}
	return 0, fmt.Errorf("%q is not a size such as 512MiB or 2GiB", s)
}

// Standing is one model's place in a selection.
type Standing struct {
	Label        string  `json:"model"`
	Accuracy     float64 `json:"accuracy"`
	P99Ms        float64 `json:"p99_ms"`
	MemoryBytes  uint64  `json:"memory_bytes"`
	TrainSeconds float64 `json:"train_seconds"`
	// Front is set when no other model is at least as good on all four
	// (accuracy up, the costs down) and better on one.
	Front bool `json:"pareto_front"`
	// Misses lists the budgets the model exceeds.
	Misses []string `json:"misses,omitempty"`
}

// Select places every result by the metric (such as "ndcg@10") and its
// costs, marks the Pareto front, and returns the index of the most
// accurate result within the budget (−1 when none is).
func Select(results []Result, metric string, b Budget) ([]Standing, int) {
	out := make([]Standing, len(results))
	for i, r := range results {
		out[i] = Standing{Label: r.Model, Accuracy: r.Metrics[metric], P99Ms: r.LatencyMs["p99"], MemoryBytes: r.PeakHeapBytes, TrainSeconds: r.TrainSeconds}
		s := &out[i]
		if b.P99 > 0 && s.P99Ms > float64(b.P99)/float64(time.Millisecond) {
			s.Misses = append(s.Misses, fmt.Sprintf("p99 %.2f ms > %s", s.P99Ms, b.P99))
		}
		if b.Memory > 0 && s.MemoryBytes > b.Memory {
			s.Misses = append(s.Misses, fmt.Sprintf("memory %.0f MiB > %.0f MiB", float64(s.MemoryBytes)/(1<<20), float64(b.Memory)/(1<<20)))
		}
		if b.Train > 0 && s.TrainSeconds > b.Train.Seconds() {
			s.Misses = append(s.Misses, fmt.Sprintf("train %.1f s > %s", s.TrainSeconds, b.Train))
		}
	}
	dominates := func(a, c *Standing) bool {
		ge := a.Accuracy >= c.Accuracy && a.P99Ms <= c.P99Ms && a.MemoryBytes <= c.MemoryBytes && a.TrainSeconds <= c.TrainSeconds
		gt := a.Accuracy > c.Accuracy || a.P99Ms < c.P99Ms || a.MemoryBytes < c.MemoryBytes || a.TrainSeconds < c.TrainSeconds
		return ge && gt
	}
	best := -1
	for i := range out {
		out[i].Front = true
		for j := range out {
			if j != i && dominates(&out[j], &out[i]) {
				out[i].Front = false
				break
			}
		}
		if len(out[i].Misses) == 0 && (best < 0 || out[i].Accuracy > out[best].Accuracy) {
			best = i
		}
	}
	return out, best
}
