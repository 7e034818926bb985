package analytics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
)

// FeatureNames are the propensity features, in order, each computed from
// a shopper's purchases before the cutoff.
var FeatureNames = []string{
	"log_recency_days", "log_orders", "log_net_spend", "log_tenure_days", "log_mean_gap_days",
	"recency_over_gap", "orders_last_30d", "orders_last_90d", "log_mean_order_value", "log_lines_per_order",
	"log_distinct_items", "bought_last_30d",
}

// shopperFeatures computes the features of every shopper with an order
// before cutoff.
func shopperFeatures(ps []Purchase, cutoff time.Time) (users []string, x [][]float64) {
	type acc struct {
		first, last time.Time
		orders      map[string]time.Time
		spent       float64
		lines       int
		items       map[string]bool
	}
	by := map[string]*acc{}
	for _, p := range ps {
		if !p.Time.Before(cutoff) {
			continue
		}
		a := by[p.User]
		if a == nil {
			a = &acc{orders: map[string]time.Time{}, items: map[string]bool{}}
			by[p.User] = a
		}
		a.spent += p.Amount
		if p.Amount <= 0 {
			continue
		}
		key := p.Order
		if key == "" {
			key = day(p.Time).Format(time.DateOnly)
		}
		if t, ok := a.orders[key]; !ok || p.Time.Before(t) {
			a.orders[key] = p.Time
		}
		if a.first.IsZero() || p.Time.Before(a.first) {
			a.first = p.Time
		}
		if p.Time.After(a.last) {
			a.last = p.Time
		}
		a.lines++
		a.items[p.Item] = true
	}
	for u, a := range by {
		if len(a.orders) > 0 {
			users = append(users, u)
		}
	}
	slices.SortFunc(users, cmpID)
	days := func(d time.Duration) float64 { return d.Hours() / 24 }
	for _, u := range users {
		a := by[u]
		n := float64(len(a.orders))
		rec := days(cutoff.Sub(a.last))
		tenure := days(cutoff.Sub(a.first))
		gap := tenure
		if n > 1 {
			gap = days(a.last.Sub(a.first)) / (n - 1)
		}
		var last30, last90 float64
		for _, t := range a.orders {
			if age := days(cutoff.Sub(t)); age <= 30 {
				last30++
				last90++
			} else if age <= 90 {
				last90++
			}
		}
		recent := 0.0
		if rec <= 30 {
			recent = 1
		}
		x = append(x, []float64{
			math.Log1p(rec), math.Log1p(n), math.Log1p(math.Max(0, a.spent)), math.Log1p(tenure), math.Log1p(gap),
			rec / math.Max(gap, 1), last30, last90, math.Log1p(math.Max(0, a.spent) / n), math.Log1p(float64(a.lines) / n),
			math.Log1p(float64(len(a.items))), recent,
		})
	}
	return users, x
}

// labels reports, for each user, whether they ordered in [from, to).
func labels(ps []Purchase, users []string, from, to time.Time) []bool {
	bought := map[string]bool{}
	for _, p := range ps {
		if p.Amount > 0 && !p.Time.Before(from) && p.Time.Before(to) {
			bought[p.User] = true
		}
	}
	out := make([]bool, len(users))
	for i, u := range users {
		out[i] = bought[u]
	}
	return out
}

// Logistic is a fitted L2-regularized logistic regression over
// standardized features.
type Logistic struct {
	Mean, Std []float64 // the standardization
	Weights   []float64 // per feature, then the intercept last
}

// FitLogistic fits by Newton's method (iteratively reweighted least
// squares) with L2 penalty lambda on the weights (not the intercept).
func FitLogistic(x [][]float64, y []bool, lambda float64) (*Logistic, error) {
	n := len(x)
	if n == 0 {
		return nil, fmt.Errorf("logistic: no examples")
	}
	pos := 0
	for _, v := range y {
		if v {
			pos++
		}
	}
	if pos == 0 || pos == n {
		return nil, fmt.Errorf("logistic: all %d examples have the same label; nothing to learn", n)
	}
	d := len(x[0])
	m := &Logistic{Mean: make([]float64, d), Std: make([]float64, d), Weights: make([]float64, d+1)}
	for j := 0; j < d; j++ {
		var s, s2 float64
		for i := range x {
			s += x[i][j]
			s2 += x[i][j] * x[i][j]
		}
		m.Mean[j] = s / float64(n)
		m.Std[j] = math.Sqrt(math.Max(s2/float64(n)-m.Mean[j]*m.Mean[j], 0))
		if m.Std[j] == 0 {
			m.Std[j] = 1
		}
	}
	z := make([][]float64, n)
	for i := range x {
		z[i] = m.standardize(x[i])
	}
	w := m.Weights
	w[d] = math.Log(float64(pos) / float64(n-pos))
	for iter := 0; iter < 50; iter++ {
		h := mat.NewSymDense(d+1, nil)
		g := mat.NewVecDense(d+1, nil)
		for i := range z {
			p := sigmoid(dot(w, z[i]))
			r := p * (1 - p)
			t := p
			if y[i] {
				t = p - 1
			}
			for a := 0; a <= d; a++ {
				za := 1.0
				if a < d {
					za = z[i][a]
				}
				g.SetVec(a, g.AtVec(a)+t*za)
				for b := a; b <= d; b++ {
					zb := 1.0
					if b < d {
						zb = z[i][b]
					}
					h.SetSym(a, b, h.At(a, b)+r*za*zb)
				}
			}
		}
		for a := 0; a < d; a++ {
			g.SetVec(a, g.AtVec(a)+lambda*w[a])
			h.SetSym(a, a, h.At(a, a)+lambda)
		}
		var step mat.VecDense
		var chol mat.Cholesky
		if !chol.Factorize(h) {
			return nil, fmt.Errorf("logistic: the Hessian is singular at iteration %d (constant or duplicated features?)", iter)
		}
		if err := chol.SolveVecTo(&step, g); err != nil {
			return nil, fmt.Errorf("logistic: iteration %d: %w", iter, err)
		}
		var moved float64
		for a := range w {
			w[a] -= step.AtVec(a)
			moved = math.Max(moved, math.Abs(step.AtVec(a)))
		}
		if moved < 1e-8 {
			return m, nil
		}
	}
	return m, nil
}

func (m *Logistic) standardize(x []float64) []float64 {
	z := make([]float64, len(x))
	for j, v := range x {
		z[j] = (v - m.Mean[j]) / m.Std[j]
	}
	return z
}

func dot(w, z []float64) float64 {
	s := w[len(w)-1]
	for j, v := range z {
		s += w[j] * v
	}
	return s
}

func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// Predict returns the probability for features x.
func (m *Logistic) Predict(x []float64) float64 { return sigmoid(dot(m.Weights, m.standardize(x))) }

// AUC is the area under the ROC curve of scores against labels (ties
// count half).
func AUC(scores []float64, y []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for k := i; k < j; k++ {
			if y[idx[k]] {
				rankSum += mid
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// CalibrationBin is one bin of a reliability table.
type CalibrationBin struct {
	Low           float64 `json:"low"`
	High          float64 `json:"high"`
	Count         int     `json:"count"`
	MeanPredicted float64 `json:"mean_predicted"`
	Observed      float64 `json:"observed"`
}

// Scores is how well probabilities predict labels.
type Scores struct {
	AUC     float64 `json:"auc"`
	LogLoss float64 `json:"log_loss"`
	Brier   float64 `json:"brier"`
	// ECE is the expected calibration error over ten equal-width bins.
	ECE         float64          `json:"ece"`
	Calibration []CalibrationBin `json:"calibration"`
}

func score(p []float64, y []bool) Scores {
	s := Scores{AUC: AUC(p, y)}
	bins := make([]CalibrationBin, 10)
	for b := range bins {
		bins[b].Low, bins[b].High = float64(b)/10, float64(b+1)/10
	}
	for i, v := range p {
		t := 0.0
		if y[i] {
			t = 1
		}
		q := math.Min(math.Max(v, 1e-12), 1-1e-12)
		s.LogLoss -= t*math.Log(q) + (1-t)*math.Log(1-q)
		s.Brier += (v - t) * (v - t)
		b := min(int(v*10), 9)
		bins[b].Count++
		bins[b].MeanPredicted += v
		bins[b].Observed += t
	}
	n := float64(len(p))
	s.LogLoss /= n
	s.Brier /= n
	for b := range bins {
		if c := float64(bins[b].Count); c > 0 {
			bins[b].MeanPredicted /= c
			bins[b].Observed /= c
			s.ECE += c / n * math.Abs(bins[b].MeanPredicted-bins[b].Observed)
		}
	}
	s.Calibration = bins
	return s
}

// PropensityReport is the evaluation of the propensity model.
type PropensityReport struct {
	HorizonDays int       `json:"horizon_days"`
	TrainCutoff time.Time `json:"train_cutoff"`
	TestCutoff  time.Time `json:"test_cutoff"`
	TrainUsers  int       `json:"train_users"`
	TestUsers   int       `json:"test_users"`
	// BaseRate is the share of test shoppers who bought in the horizon.
	BaseRate float64 `json:"base_rate"`
	// Model is the logistic regression; Baseline predicts, for a shopper
	// who bought in the last 30 days, the training share of such shoppers
	// who bought again, and for the others theirs.
	Model    Scores             `json:"logistic"`
	Baseline Scores             `json:"baseline_bought_last_30d"`
	Weights  map[string]float64 `json:"weights"`
}

// Propensity is a fitted model that scores shoppers at a time.
type Propensity struct {
	model   *Logistic
	horizon time.Duration
}

// EvaluatePropensity splits by time: the model learns from features at
// end − 2·horizon and purchases in the horizon after, and is tested on
// features at end − horizon and purchases up to end (the last purchase).
// It returns the report and a model fitted on the later cutoff, for
// scoring shoppers now.
func EvaluatePropensity(ps []Purchase, horizon time.Duration) (*PropensityReport, *Propensity, error) {
	if horizon <= 0 {
		return nil, nil, fmt.Errorf("propensity: the horizon %s must be positive", horizon)
	}
	var first, end time.Time
	for _, p := range ps {
		if first.IsZero() || p.Time.Before(first) {
			first = p.Time
		}
		if p.Time.After(end) {
			end = p.Time
		}
	}
	end = end.Add(time.Nanosecond)
	c2, c1 := end.Add(-horizon), end.Add(-2*horizon)
	if !c1.After(first) {
		return nil, nil, fmt.Errorf("propensity: the data spans %s, too little for two horizons of %s", end.Sub(first).Round(time.Hour), horizon)
	}
	trU, trX := shopperFeatures(ps, c1)
	trY := labels(ps, trU, c1, c2)
	teU, teX := shopperFeatures(ps, c2)
	teY := labels(ps, teU, c2, end)
	m, err := FitLogistic(trX, trY, 1e-3)
	if err != nil {
		return nil, nil, fmt.Errorf("propensity: %w", err)
	}
	recentCol := slices.Index(FeatureNames, "bought_last_30d")
	var nRecent, buyRecent, nOld, buyOld float64
	for i, x := range trX {
		if x[recentCol] == 1 {
			nRecent++
			if trY[i] {
				buyRecent++
			}
		} else {
			nOld++
			if trY[i] {
				buyOld++
			}
		}
	}
	pm, pb := make([]float64, len(teX)), make([]float64, len(teX))
	var base float64
	for i, x := range teX {
		pm[i] = m.Predict(x)
		if x[recentCol] == 1 {
			pb[i] = buyRecent / math.Max(nRecent, 1)
		} else {
			pb[i] = buyOld / math.Max(nOld, 1)
		}
		if teY[i] {
			base++
		}
	}
	rep := &PropensityReport{HorizonDays: int(horizon.Hours() / 24), TrainCutoff: c1, TestCutoff: c2, TrainUsers: len(trU), TestUsers: len(teU),
		BaseRate: base / float64(len(teU)), Model: score(pm, teY), Baseline: score(pb, teY), Weights: map[string]float64{}}
	for j, n := range FeatureNames {
		rep.Weights[n] = m.Weights[j]
	}
	rep.Weights["intercept"] = m.Weights[len(FeatureNames)]
	// For scoring now: learn from the latest complete horizon.
	now, err := FitLogistic(teX, teY, 1e-3)
	if err != nil {
		return nil, nil, fmt.Errorf("propensity: %w", err)
	}
	return rep, &Propensity{model: now, horizon: horizon}, nil
}

// Score returns each shopper's probability of buying within the horizon
// after at, from their purchases before it.
func (p *Propensity) Score(ps []Purchase, at time.Time) map[string]float64 {
	users, x := shopperFeatures(ps, at)
	out := make(map[string]float64, len(users))
	for i, u := range users {
		out[u] = p.model.Predict(x[i])
	}
	return out
}
