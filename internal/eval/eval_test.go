package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-4 }

func TestRankHandComputed(t *testing.T) {
	rel := map[string]bool{"b": true, "d": true, "x": true}
	got := Rank([]string{"a", "b", "c", "d", "e"}, rel, []int{1, 3, 5})
	// Rows: precision, recall, ndcg, map, mrr, hit; columns: K = 1, 3, 5.
	want := [][]float64{
		{0, 1.0 / 3, 0.4},
		{0, 1.0 / 3, 2.0 / 3},
		{0, 0.63093 / 2.13093, (0.63093 + 0.43068) / 2.13093},
		{0, 0.5 / 3, 1.0 / 3},
		{0, 0.5, 0.5},
		{0, 1, 1},
	}
	for m, name := range RankingMetrics {
		for j, k := range []int{1, 3, 5} {
			if !near(got[m][j], want[m][j]) {
				t.Errorf("%s: %v, want %v", Key(name, k), got[m][j], want[m][j])
			}
		}
	}
}

func TestRankShortList(t *testing.T) {
	got := Rank([]int{7}, map[int]bool{7: true}, []int{1, 10})
	want := [][]float64{{1, 0.1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}
	for m, name := range RankingMetrics {
		for j, k := range []int{1, 10} {
			if !near(got[m][j], want[m][j]) {
				t.Errorf("%s: %v, want %v", Key(name, k), got[m][j], want[m][j])
			}
		}
	}
	// A perfect list of more relevant items than K has NDCG and MAP 1.
	rel := map[int]bool{1: true, 2: true, 3: true, 4: true}
	got = Rank([]int{1, 2, 3}, rel, []int{3})
	if !near(got[2][0], 1) || !near(got[3][0], 1) || !near(got[1][0], 0.75) {
		t.Errorf("perfect prefix: ndcg %v map %v recall %v", got[2][0], got[3][0], got[1][0])
	}
}

func TestAUC(t *testing.T) {
	// Ranking P N N P N: P0 beats 3 negatives, P3 beats 1, of 2×3 pairs.
	if got := AUC([]int{3, 0}, 5); !near(got, 4.0/6) {
		t.Errorf("AUC = %v, want %v", got, 4.0/6)
	}
	if got := AUC([]int{0, 1}, 4); !near(got, 1) {
		t.Errorf("best AUC = %v", got)
	}
	if got := AUC([]int{2, 3}, 4); !near(got, 0) {
		t.Errorf("worst AUC = %v", got)
	}
	if !math.IsNaN(AUC(nil, 4)) || !math.IsNaN(AUC([]int{0}, 1)) {
		t.Error("AUC without positives or negatives is not NaN")
	}
}

func TestMeanAndCI(t *testing.T) {
	var m Mean
	if !math.IsNaN(m.Value()) {
		t.Error("empty mean is not NaN")
	}
	for i := 0; i < 100; i++ {
		m.Add(float64(i % 2))
	}
	if m.N() != 100 || !near(m.Value(), 0.5) {
		t.Errorf("mean = %v over %d", m.Value(), m.N())
	}
	lo, hi := m.CI(0.95, 2000, rand.NewPCG(1, 1))
	lo2, hi2 := m.CI(0.95, 2000, rand.NewPCG(1, 1))
	if lo != lo2 || hi != hi2 {
		t.Error("the same seed gave another interval")
	}
	// The standard error of a mean of 100 fair coins is 0.05: the 95%
	// interval is about ±0.098.
	if lo > 0.43 || lo < 0.36 || hi < 0.57 || hi > 0.64 {
		t.Errorf("CI = [%v, %v], want about [0.40, 0.60]", lo, hi)
	}
	var c Mean
	c.Add(0.3)
	c.Add(0.3)
	if lo, hi := c.CI(0.95, 100, rand.NewPCG(2, 2)); lo != 0.3 || hi != 0.3 {
		t.Errorf("constant CI = [%v, %v]", lo, hi)
	}
}

func TestBeyondAccuracy(t *testing.T) {
	lists := [][]string{{"a", "b"}, {"b", "c"}}
	if got := Coverage(lists, 10); !near(got, 0.3) {
		t.Errorf("coverage = %v", got)
	}
	users := map[string]int{"a": 1, "b": 2}
	if got := Novelty(lists, users, 4); !near(got, 1.5) {
		t.Errorf("novelty = %v", got)
	}
	if got := MeanPopularity(lists, users); !near(got, 5.0/4) {
		t.Errorf("mean popularity = %v", got)
	}
	cats := map[string][]string{"a": {"x"}, "b": {"x", "y"}}
	if got := IntraListDiversity(lists, cats); !near(got, 0.75) {
		t.Errorf("diversity = %v", got)
	}
	if !math.IsNaN(IntraListDiversity([][]string{{"a"}}, cats)) {
		t.Error("diversity of one-item lists is not NaN")
	}
}

func TestParseKs(t *testing.T) {
	ks, err := ParseKs("20, 10,10")
	if err != nil || len(ks) != 2 || ks[0] != 10 || ks[1] != 20 {
		t.Errorf("ParseKs = %v, %v", ks, err)
	}
	for _, bad := range []string{"0", "-5", "ten", "10,", ""} {
		if _, err := ParseKs(bad); err == nil {
			t.Errorf("ParseKs(%q) gave no error", bad)
		}
	}
}
