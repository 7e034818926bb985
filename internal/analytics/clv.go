package analytics

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// Customer is the (frequency, recency, age) summary the BG/NBD and
// Gamma-Gamma models take, in weeks: X repeat purchase days in the
// calibration period, TX the time of the last one after the first
// purchase, T the time from the first purchase to the end of calibration,
// and ZBar the mean value of the repeat purchases.
type Customer struct {
	ID          string  `json:"id"`
	X           float64 `json:"x"`
	TX          float64 `json:"t_x"`
	T           float64 `json:"T"`
	ZBar        float64 `json:"zbar"`
	FirstBought time.Time
}

// Week is the time unit of the CLV models.
const Week = 7 * 24 * time.Hour

// Summarize builds the customers' summaries from purchases, with
// calibration ending at end (inclusive, to the day): purchases on the same
// day are merged into one (summing their amounts); customers whose first
// purchase is after end are left out.
func Summarize(ps []Purchase, end time.Time) []Customer {
	end = day(end)
	type dayKey struct {
		user string
		day  time.Time
	}
	amounts := map[dayKey]float64{}
	for _, p := range ps {
		amounts[dayKey{p.User, day(p.Time)}] += p.Amount
	}
	days := map[string][]time.Time{}
	for k := range amounts {
		days[k.user] = append(days[k.user], k.day)
	}
	var out []Customer
	for user, ds := range days {
		slices.SortFunc(ds, func(a, b time.Time) int { return a.Compare(b) })
		first := ds[0]
		if first.After(end) {
			continue
		}
		c := Customer{ID: user, T: end.Sub(first).Hours() / 24 / 7, FirstBought: first}
		var sum float64
		for _, d := range ds[1:] {
			if d.After(end) {
				break
			}
			c.X++
			c.TX = d.Sub(first).Hours() / 24 / 7
			sum += amounts[dayKey{user, d}]
		}
		if c.X > 0 {
			c.ZBar = sum / c.X
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Customer) int { return cmpID(a.ID, b.ID) })
	return out
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// BGNBD holds the BG/NBD parameters (Fader, Hardie & Lee 2005): purchase
// rates are Gamma(r, α) across customers, the dropout probability after
// each purchase Beta(a, b).
type BGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
	// LogLik is the log-likelihood at the fit.
	LogLik float64 `json:"loglik"`
}

func logAddExp(u, v float64) float64 {
	if u < v {
		u, v = v, u
	}
	return u + math.Log1p(math.Exp(v-u))
}

// LogLikelihood returns the log-likelihood of the customers. The terms
// that depend on x only are computed once per distinct x (most customers
// share a few small counts), which makes a fit several times faster.
func (m BGNBD) LogLikelihood(cs []Customer) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	base := lg(a+b) - lg(b) - lg(r) + r*math.Log(al)
	byX := map[float64]float64{}
	var s float64
	for _, c := range cs {
		x := c.X
		ax, ok := byX[x]
		if !ok {
			ax = lg(r+x) + lg(b+x) - lg(a+b+x)
			byX[x] = ax
		}
		a3 := -(r + x) * math.Log(al+c.T)
		if x == 0 {
			s += base + ax + a3
			continue
		}
		a4 := math.Log(a) - math.Log(b+x-1) - (r+x)*math.Log(al+c.TX)
		s += base + ax + logAddExp(a3, a4)
	}
	return s
}

// ErrTooFewRepeaters is returned when the data cannot identify a model.
var ErrTooFewRepeaters = errors.New("too few repeat buyers")

// FitError is a fit that did not converge: Best holds the best
// parameters found and Reason says why the optimizer stopped.
type FitError struct {
	Model  string
	Best   []float64
	Reason string
}

func (e *FitError) Error() string {
	return fmt.Sprintf("%s fit did not converge (%s); best parameters %v", e.Model, e.Reason, e.Best)
}

// minimize runs Nelder–Mead on the log of the parameters (which keeps
// them positive) and returns the parameters at the minimum of nll.
func minimize(name string, nll func(p []float64) float64, start []float64) ([]float64, error) {
	x0 := make([]float64, len(start))
	for i, v := range start {
		x0[i] = math.Log(v)
	}
	f := func(lx []float64) float64 {
		// Fits run in a server's background (the analyses' refresh):
		// each evaluation (under a millisecond for thousands of
		// shoppers) hands the processor to waiting requests first.
		runtime.Gosched()
		p := make([]float64, len(lx))
		for i, v := range lx {
			p[i] = math.Exp(v)
		}
		v := nll(p)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.MaxFloat64
		}
		return v
	}
	var best []float64
	var status optimize.Status
	// Restart from the last optimum until it stops moving: Nelder–Mead
	// can stall on a flat ridge.
	for round := 0; round < 5; round++ {
		res, err := optimize.Minimize(optimize.Problem{Func: f}, x0, &optimize.Settings{
			FuncEvaluations: 20000,
			Converger:       &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: 200},
		}, &optimize.NelderMead{})
		if res == nil {
			return nil, &FitError{Model: name, Reason: err.Error()}
		}
		status = res.Status
		moved := 0.0
		for i := range x0 {
			moved = math.Max(moved, math.Abs(res.X[i]-x0[i]))
		}
		x0 = res.X
		best = make([]float64, len(x0))
		for i, v := range x0 {
			best[i] = math.Exp(v)
		}
		if err != nil && status != optimize.FunctionConvergence {
			return nil, &FitError{Model: name, Best: best, Reason: err.Error()}
		}
		if moved < 1e-7 {
			break
		}
	}
	if status != optimize.FunctionConvergence && status != optimize.Success {
		return nil, &FitError{Model: name, Best: best, Reason: status.String()}
	}
	if v := nll(best); math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, &FitError{Model: name, Best: best, Reason: "the likelihood is not finite at the optimum"}
	}
	return best, nil
}

// FitBGNBD fits the BG/NBD model by maximum likelihood. It needs at least
// ten customers with repeat purchases.
func FitBGNBD(cs []Customer) (BGNBD, error) {
	repeaters := 0
	for _, c := range cs {
		if c.X > 0 {
			repeaters++
		}
		if c.X < 0 || c.TX < 0 || c.T < c.TX || math.IsNaN(c.T) {
			return BGNBD{}, fmt.Errorf("bg/nbd: customer %s has an impossible summary (x %v, t_x %v, T %v)", c.ID, c.X, c.TX, c.T)
		}
	}
	if repeaters < 10 {
		return BGNBD{}, fmt.Errorf("bg/nbd: %w: %d of %d customers bought more than once; at least 10 are needed", ErrTooFewRepeaters, repeaters, len(cs))
	}
	p, err := minimize("bg/nbd", func(p []float64) float64 {
		return -BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}.LogLikelihood(cs)
	}, []float64{1, 1, 1, 1})
	if err != nil {
		return BGNBD{}, err
	}
	m := BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}
	m.LogLik = m.LogLikelihood(cs)
	return m, nil
}

// hyp2f1 is the Gauss hypergeometric function ₂F₁(a, b; c; z) for
// 0 ≤ z < 1, by its series.
func hyp2f1(a, b, c, z float64) float64 {
	term, sum := 1.0, 1.0
	for j := 0.0; j < 10000; j++ {
		term *= (a + j) * (b + j) / ((c + j) * (j + 1)) * z
		sum += term
		if math.Abs(term) < 1e-15*math.Abs(sum) {
			break
		}
	}
	return sum
}

// PAlive is the probability that a customer with summary (x, t_x, T) is
// still active at T.
func (m BGNBD) PAlive(x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	return 1 / (1 + m.A/(m.B+x-1)*math.Exp((m.R+x)*math.Log((m.Alpha+T)/(m.Alpha+tx))))
}

// ExpectedPurchases is E[Y(t) | x, t_x, T]: the purchases expected in the
// next t weeks from a customer with that summary.
func (m BGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	z := t / (al + T + t)
	num := (a + b + x - 1) / (a - 1) * (1 - math.Exp((r+x)*math.Log((al+T)/(al+T+t)))*hyp2f1(r+x, b+x, a+b+x-1, z))
	den := 1.0
	if x > 0 {
		den += a / (b + x - 1) * math.Exp((r+x)*math.Log((al+T)/(al+tx)))
	}
	return num / den
}

// ExpectedPurchasesNew is E[X(t)]: the purchases expected in the first t
// weeks of a new customer.
func (m BGNBD) ExpectedPurchasesNew(t float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	return (a + b - 1) / (a - 1) * (1 - math.Pow(al/(al+t), r)*hyp2f1(r, b, a+b-1, t/(al+t)))
}

// GammaGamma holds the Gamma-Gamma spend parameters (Fader, Hardie & Lee
// 2005; Fader & Hardie 2013): each transaction's value is Gamma(p, ν),
// ν is Gamma(q, γ) across customers.
type GammaGamma struct {
	P      float64 `json:"p"`
	Q      float64 `json:"q"`
	Gamma  float64 `json:"gamma"`
	LogLik float64 `json:"loglik"`
}

func (m GammaGamma) logLik(x, zbar float64) float64 {
	p, q, g := m.P, m.Q, m.Gamma
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	px := p * x
	return lg(px+q) - lg(px) - lg(q) + q*math.Log(g) + (px-1)*math.Log(zbar) + px*math.Log(x) - (px+q)*math.Log(g+x*zbar)
}

// FitGammaGamma fits the spend model on the customers with repeat
// purchases of positive value (x > 0, zbar > 0).
func FitGammaGamma(cs []Customer) (GammaGamma, error) {
	var rep []Customer
	for _, c := range cs {
		if c.X > 0 && c.ZBar > 0 {
			rep = append(rep, c)
		}
	}
	if len(rep) < 10 {
		return GammaGamma{}, fmt.Errorf("gamma-gamma: %w: %d customers have repeat purchases of positive value; at least 10 are needed", ErrTooFewRepeaters, len(rep))
	}
	ll := func(m GammaGamma) float64 {
		var s float64
		for _, c := range rep {
			s += m.logLik(c.X, c.ZBar)
		}
		return s
	}
	p, err := minimize("gamma-gamma", func(p []float64) float64 { return -ll(GammaGamma{P: p[0], Q: p[1], Gamma: p[2]}) }, []float64{1, 1, 1})
	if err != nil {
		return GammaGamma{}, err
	}
	m := GammaGamma{P: p[0], Q: p[1], Gamma: p[2]}
	m.LogLik = ll(m)
	return m, nil
}

// ExpectedSpend is E[Z | x, zbar], the expected value of a customer's
// future transactions (the population mean pγ/(q−1) for x = 0).
func (m GammaGamma) ExpectedSpend(x, zbar float64) float64 {
	return m.P * (m.Gamma + x*zbar) / (m.P*x + m.Q - 1)
}
