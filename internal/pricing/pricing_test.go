package pricing

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/shareddata"
)

var t0 = time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC) // a Monday

// synthetic makes sales of items over weeks with units = A·price^beta ×
// season × noise, prices varying ±15% around a base.
func synthetic(items, weeks int, beta func(i int) float64, seed uint64) []Sale {
	r := rand.New(rand.NewPCG(seed, 9))
	var out []Sale
	for i := 0; i < items; i++ {
		base := 2 + 3*r.Float64()
		level := 200 + 100*r.Float64()
		for w := 0; w < weeks; w++ {
			p := math.Round(base*(0.85+0.3*r.Float64())*100) / 100
			season := 1 + 0.3*math.Sin(2*math.Pi*float64(w)/52)
			mean := level * math.Pow(p/base, beta(i)) * season * math.Exp(0.1*r.NormFloat64())
			units := math.Round(mean)
			if units <= 0 {
				continue
			}
			// Split into lines of one to five units.
			for units > 0 {
				q := math.Min(units, float64(1+r.IntN(5)))
				out = append(out, Sale{Item: tailor.ItemID(fmt.Sprint("i", i)), Time: t0.AddDate(0, 0, 7*w+r.IntN(7)), Quantity: q, UnitPrice: p})
				units -= q
			}
		}
	}
	return out
}

// TestRecoversKnownElasticity is the must-show: sales generated
// from a known elasticity, estimated back within the interval.
func TestRecoversKnownElasticity(t *testing.T) {
	truth := func(i int) float64 { return -1.2 - 0.1*float64(i%5) } // −1.2 … −1.6
	sales := synthetic(20, 52, truth, 1)
	el, priors, err := Estimate(WeeklyDemand(sales, t0.AddDate(1, 0, 0)), EstimateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	covered := 0
	for i := 0; i < 20; i++ {
		e := el[tailor.ItemID(fmt.Sprint("i", i))]
		if !e.Reliable {
			t.Errorf("item %d: unreliable: %s", i, e.Reason)
		}
		if e.CI95[0] <= truth(i) && truth(i) <= e.CI95[1] {
			covered++
		}
		if math.Abs(e.Estimate-truth(i)) > 0.3 {
			t.Errorf("item %d: estimate %.3f (raw %.3f ± %.3f), truth %.2f", i, e.Estimate, e.Raw, e.RawSE, truth(i))
		}
	}
	// A 95% interval covers the truth for most items (17 of 20 with margin
	// for chance).
	if covered < 17 {
		t.Errorf("the 95%% intervals cover the true elasticity for %d of 20 items", covered)
	}
	if p := priors["all"]; math.Abs(p.Mean+1.4) > 0.15 || p.Items != 20 {
		t.Errorf("prior = %+v, want a mean near −1.4", p)
	}
}

func TestShrinkageAndReliability(t *testing.T) {
	sales := synthetic(15, 40, func(int) float64 { return -2 }, 2)
	// An item with a constant price and a new item with three weeks.
	price := 3.0
	for w := 0; w < 30; w++ {
		sales = append(sales, Sale{Item: "flat", Time: t0.AddDate(0, 0, 7*w), Quantity: 10, UnitPrice: price})
	}
	for w := 0; w < 3; w++ {
		sales = append(sales, Sale{Item: "new", Time: t0.AddDate(0, 0, 7*(37+w)), Quantity: float64(5 + w), UnitPrice: 2 + 0.3*float64(w)})
	}
	el, _, err := Estimate(WeeklyDemand(sales, t0.AddDate(0, 0, 7*40)), EstimateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []tailor.ItemID{"flat", "new"} {
		e := el[id]
		if e.Reliable || e.Reason == "" || math.Abs(e.Estimate+2) > 0.5 {
			t.Errorf("%s: %+v, want unreliable and near the category's −2", id, e)
		}
	}
}

func TestRecommend(t *testing.T) {
	d := &Demand{Item: "x"}
	for w := 0; w < 10; w++ {
		d.Weeks = append(d.Weeks, Week{Start: t0.AddDate(0, 0, 7*w), Units: 100, Price: 10, Lines: 10, MeanLineQty: 10})
	}
	elastic := &Elasticity{Item: "x", Estimate: -3, SE: 0.2, Reliable: true}
	inelastic := &Elasticity{Item: "x", Estimate: -0.5, SE: 0.2, Reliable: true}
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name   string
		e      *Elasticity
		c      Constraints
		price  float64
		action string
	}{
		// Revenue p·p^β: with β −0.5 the most allowed price, 10% up.
		{"inelastic revenue", inelastic, Constraints{}, 11, "change"},
		// With β −3 revenue falls with price: 10% down.
		{"elastic revenue", elastic, Constraints{}, 9, "change"},
		// Profit (p − 6)·p^−3 peaks at 9 = 6·3/2: within ±10%.
		{"elastic profit", elastic, Constraints{Cost: f(6)}, 9, "change"},
		// Endings: 10.99 is past 11; 10.95 and 10.49 are allowed.
		{"endings", inelastic, Constraints{Endings: []float64{0.49, 0.95}}, 10.95, "change"},
		// Profit would peak at 5.7·1.5 = 8.55, but a 40% margin needs 9.50.
		{"min margin", elastic, Constraints{Cost: f(5.7), MinMargin: 0.4}, 9.5, "change"},
		{"unreliable", &Elasticity{Item: "x", Estimate: -3, SE: 2, Reason: "too uncertain"}, Constraints{}, 10, "keep"},
		{"no ending allowed", inelastic, Constraints{MaxChange: 0.04, Endings: []float64{0.5}}, 10, "keep"},
	} {
		r, err := Recommend(d.Baseline(BaselineWeeks), tc.e, tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if math.Abs(r.Price-tc.price) > 1e-9 || r.Action != tc.action {
			t.Errorf("%s: %+v, want price %v (%s)", tc.name, r, tc.price, tc.action)
		}
		if r.Action == "keep" && r.Reason == "" {
			t.Errorf("%s: kept without a reason", tc.name)
		}
		if r.Action == "change" && !(r.ChangeUnits.Low <= r.ChangeUnits.Value && r.ChangeUnits.Value <= r.ChangeUnits.High) {
			t.Errorf("%s: interval %+v", tc.name, r.ChangeUnits)
		}
	}
	for _, tc := range []struct {
		c     Constraints
		field string
	}{
		{Constraints{Cost: f(-1)}, "cost"},
		{Constraints{Cost: f(12)}, "cost"},                      // above every allowed price
		{Constraints{Cost: f(9), MinMargin: 0.3}, "min_margin"}, // needs 12.86 > 11
		{Constraints{MinMargin: 0.2}, "min_margin"},             // no cost
		{Constraints{MaxChange: 1.5}, "max_change"},
		{Constraints{CurrentPrice: f(-2)}, "current_price"},
		{Constraints{Endings: []float64{0.999}}, "endings[0]"},
	} {
		_, err := Recommend(d.Baseline(BaselineWeeks), elastic, tc.c)
		ie, ok := err.(*InputError)
		if !ok || ie.Field != tc.field {
			t.Errorf("%+v: %v, want an error for %s", tc.c, err, tc.field)
		}
	}
	if r, err := Recommend((&Demand{Item: "none"}).Baseline(BaselineWeeks), elastic, Constraints{}); err != nil || r.Action != "keep" || r.Reason == "" {
		t.Errorf("no sales: %+v, %v", r, err)
	}
}

// TestOnlineRetailBacktest is the backtest: fit before 2011-08-01,
// test August to October 2011.
func TestOnlineRetailBacktest(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	path := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := dataset.ReadRecords(context.Background(), "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sales := Sales(data.Events, func(id tailor.ItemID) bool { it, ok := data.Items[id]; return ok && it.NonProduct })
	scores, _, err := Backtest(sales, BacktestOptions{Cutoff: time.Date(2011, 8, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		t.Logf("%-15s WAPE %.4f bias %+.4f (%d items, %d item-weeks)", s.Model, s.WAPE, s.Bias, s.Items, s.Weeks)
	}
	if !(scores[0].WAPE < scores[1].WAPE && scores[0].WAPE < scores[2].WAPE) {
		t.Errorf("the elasticity model's WAPE %.4f is not below both baselines (%.4f, %.4f)", scores[0].WAPE, scores[1].WAPE, scores[2].WAPE)
	}
}

// BenchmarkOnlineRetail times the elasticities of every item and one
// price recommendation, the file read once beforehand.
func BenchmarkOnlineRetail(b *testing.B) {
	path := shareddata.Path(b, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := dataset.ReadRecords(context.Background(), "online-retail:"+path)
	if err != nil {
		b.Fatal(err)
	}
	sales := Sales(data.Events, func(id tailor.ItemID) bool { it, ok := data.Items[id]; return ok && it.NonProduct })
	end := time.Date(2011, 11, 1, 0, 0, 0, 0, time.UTC)
	var demand map[tailor.ItemID]*Demand
	var el map[tailor.ItemID]*Elasticity
	b.Run("demand+elasticities", func(b *testing.B) {
		for b.Loop() {
			demand = WeeklyDemand(sales, end)
			if el, _, err = Estimate(demand, EstimateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(el)), "items")
	})
	cost := 1.5
	b.Run("recommend-one", func(b *testing.B) {
		for b.Loop() {
			if _, err := Recommend(demand["85123A"].Baseline(BaselineWeeks), el["85123A"], Constraints{Cost: &cost, Endings: []float64{0.49, 0.95, 0.99}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestWeeklyAndCategoryDemand(t *testing.T) {
	sales := []Sale{
		{Item: "a", User: "u1", Time: t0, Quantity: 2, UnitPrice: 3},
		{Item: "a", User: "u2", Time: t0.AddDate(0, 0, 2), Quantity: 6, UnitPrice: 2},
		{Item: "a", User: "u1", Time: t0.AddDate(0, 0, 3), Quantity: 2, UnitPrice: 2},
		{Item: "b", Time: t0.AddDate(0, 0, 14), Quantity: 1, UnitPrice: 10}, // anonymous
	}
	d := WeeklyDemand(sales, time.Date(2024, 1, 22, 0, 0, 0, 0, time.UTC)) // three whole weeks
	a := d["a"]
	if len(a.Weeks) != 3 || a.Weeks[0].Units != 10 || a.Weeks[0].Price != 2.2 || a.Weeks[0].Buyers != 2 || a.Weeks[0].Lines != 3 ||
		a.Weeks[1].Units != 0 || a.Weeks[2].Units != 0 {
		t.Errorf("a = %+v", a.Weeks)
	}
	if len(d["b"].Weeks) != 1 || d["b"].Weeks[0].Buyers != 0 {
		t.Errorf("b = %+v", d["b"].Weeks)
	}
	cats := CategoryDemand(d, func(tailor.ItemID) []string { return []string{"gifts"} })
	g := cats["gifts"]
	if len(g.Weeks) != 3 || g.Weeks[0].Units != 10 || g.Weeks[2].Units != 1 || g.Weeks[2].Price != 10 {
		t.Errorf("gifts = %+v", g.Weeks)
	}
}

// TestCrossPriceAndMarks: a red bag whose sales rise when the pink bag's
// price does (cross elasticity +0.8), and promotion weeks that would bias
// the own elasticity unless marked.
func TestCrossPriceAndMarks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var sales []Sale
	var marks []Mark
	for w := 0; w < 52; w++ {
		at := t0.AddDate(0, 0, 7*w)
		pr := 2 * (0.85 + 0.3*r.Float64())
		pp := 2 * (0.85 + 0.3*r.Float64())
		red := 300 * math.Pow(pr/2, -1.5) * math.Pow(pp/2, 0.8) * math.Exp(0.05*r.NormFloat64())
		pink := 300 * math.Pow(pp/2, -1.5) * math.Exp(0.05*r.NormFloat64())
		if w%10 == 5 { // a promotion of the red bag: -30% and a display
			pr, red = 1.4, red*6
			marks = append(marks, Mark{Item: "red", Week: at.AddDate(0, 0, 2), Reason: "promotion"})
		}
		for _, x := range []struct {
			item  tailor.ItemID
			units float64
			price float64
		}{{"red", math.Round(red), pr}, {"pink", math.Round(pink), pp}} {
			for u := x.units; u > 0; { // lines of one to five units
				q := math.Min(u, float64(1+r.IntN(5)))
				sales = append(sales, Sale{Item: x.item, Time: at, Quantity: q, UnitPrice: x.price})
				u -= q
			}
		}
	}
	title := func(id tailor.ItemID) string {
		return map[tailor.ItemID]string{"red": "JUMBO BAG RED", "pink": "JUMBO BAG PINK"}[id]
	}
	estimate := func(mark bool) *Elasticity {
		d := WeeklyDemand(sales, t0.AddDate(0, 0, 7*52))
		if mark {
			if n := ApplyMarks(d, marks); n != len(marks) {
				t.Fatalf("applied %d of %d marks", n, len(marks))
			}
		}
		el, _, err := Estimate(d, EstimateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		CrossPrices(d, el, title, 8)
		return el["red"]
	}
	plain, marked := estimate(false), estimate(true)
	// Marked, the promotions leave the estimate near the truth; unmarked,
	// they pull it far off (six times the units at a 30% cut).
	if math.Abs(marked.Raw+1.5) > 0.15 {
		t.Errorf("with promotions marked: own %.3f, want about -1.5", marked.Raw)
	}
	if math.Abs(plain.Raw+1.5) < 0.5 {
		t.Errorf("unmarked promotions left the estimate at %.3f", plain.Raw)
	}
	cp := marked.Substitute
	if cp == nil || cp.Substitute != "pink" || !(cp.CI95[0] <= 0.8 && 0.8 <= cp.CI95[1]) {
		t.Errorf("cross price = %+v, want pink with 0.8 inside", cp)
	}
}
