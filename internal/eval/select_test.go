package eval

import (
	"strings"
	"testing"
	"time"
)

// TestSelect places four hand-made results: the front, what each misses,
// and the most accurate within the budget.
func TestSelect(t *testing.T) {
	res := func(name string, ndcg, p99 float64, mem uint64, train float64) Result {
		return Result{Model: name, Metrics: map[string]float64{"ndcg@10": ndcg}, LatencyMs: map[string]float64{"p99": p99}, PeakHeapBytes: mem, TrainSeconds: train}
	}
	results := []Result{
		res("big", 0.40, 9, 3<<30, 100),        // most accurate, too slow and too big
		res("mid", 0.35, 2, 500<<20, 20),       // the best within the budget
		res("small", 0.20, 0.5, 10<<20, 1),     // cheapest
		res("dominated", 0.30, 3, 600<<20, 30), // worse than mid on all four
	}
	b, err := ParseBudget("p99=5ms, memory=2GiB, train=10m")
	if err != nil {
		t.Fatal(err)
	}
	st, best := Select(results, "ndcg@10", b)
	if best != 1 {
		t.Errorf("best %d, want 1 (mid)", best)
	}
	for i, want := range []bool{true, true, true, false} {
		if st[i].Front != want {
			t.Errorf("%s: front %v, want %v", st[i].Label, st[i].Front, want)
		}
	}
	if m := strings.Join(st[0].Misses, "; "); !strings.Contains(m, "p99 9.00 ms > 5ms") || !strings.Contains(m, "memory 3072 MiB > 2048 MiB") || strings.Contains(m, "train") {
		t.Errorf("big misses %q", m)
	}
	if _, best := Select(results, "ndcg@10", Budget{P99: 100 * time.Microsecond}); best != -1 {
		t.Errorf("a budget no model meets chose %d", best)
	}
	for _, bad := range []struct{ s, want string }{
		{"p99=fast", "p99"}, {"memory=2GB", "memory"}, {"latency=5ms", `unknown key "latency"`}, {"p99", "KEY=VALUE"}, {"train=-1m", "train"},
	} {
		if _, err := ParseBudget(bad.s); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want an error naming %s", bad.s, err, bad.want)
		}
	}
}
