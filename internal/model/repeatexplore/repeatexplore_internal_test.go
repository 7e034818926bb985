package repeatexplore

import (
	"math"
	"testing"
)

// TestLogistic checks the regression against hand-computed cases: with
// the intercept alone, the log-odds of the labels' mean; and a feature that
// separates the labels gets a weight of its sign.
func TestLogistic(t *testing.T) {
	x := [][]float64{{1}, {1}, {1}, {1}}
	w := logistic(x, []float64{1, 1, 1, 0}, 1)
	if math.Abs(w[0]-math.Log(3)) > 3e-3 { // the L2 term pulls it a little towards 0
		t.Errorf("intercept %v, want ln 3 = %v", w[0], math.Log(3))
	}
	x = [][]float64{{1, -2}, {1, -1}, {1, 1}, {1, 2}, {1, 0.5}, {1, -0.5}}
	w = logistic(x, []float64{0, 0, 1, 1, 0, 1}, 2)
	if !(w[1] > 0) {
		t.Errorf("weights %v: the feature that goes with the label should weigh positive", w)
	}
	// Labels all alike: a constant chance near them.
	if w := logistic(x, []float64{0, 0, 0, 0, 0, 0}, 2); !(w[0] < -2) || w[1] != 0 {
		t.Errorf("no positives: %v", w)
	}
	if s, ok := solve([]float64{2, 1, 1, 3}, []float64{3, 5}, 2); !ok || math.Abs(s[0]-0.8) > 1e-12 || math.Abs(s[1]-1.4) > 1e-12 {
		t.Errorf("solve: %v %v, want [0.8 1.4]", s, ok)
	}
}
