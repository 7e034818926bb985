package analytics

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/shareddata"
)

var d0 = time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)

func buy(user, order string, daysAfter int, amount float64) Purchase {
	return Purchase{User: user, Order: order, Item: "i" + order, Time: d0.AddDate(0, 0, daysAfter), Amount: amount}
}

func TestPurchasesNetReturns(t *testing.T) {
	q, p := 3.0, 2.5
	evs := []tailor.Event{
		{UserID: "a", ItemID: "x", Type: tailor.Purchase, Value: &q, UnitPrice: &p, Timestamp: d0},
		{UserID: "a", ItemID: "x", Type: tailor.Return, Value: &q, UnitPrice: &p, Timestamp: d0},
		{UserID: "a", ItemID: "POST", Type: tailor.Purchase, UnitPrice: &p, Timestamp: d0},
		{ItemID: "x", Type: tailor.Purchase, UnitPrice: &p, Timestamp: d0}, // no user
		{UserID: "a", ItemID: "x", Type: tailor.View, Timestamp: d0},
	}
	ps := Purchases(evs, func(id tailor.ItemID) bool { return id == "POST" })
	if len(ps) != 2 || ps[0].Amount != 7.5 || ps[1].Amount != -7.5 {
		t.Errorf("purchases = %+v", ps)
	}
}

func TestRFM(t *testing.T) {
	// Five shoppers with 1..5 orders, the last one day d before day 100.
	var ps []Purchase
	for i, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		for k := 0; k <= i; k++ {
			ps = append(ps, buy(u, u+string(rune('a'+k)), 90-10*i+k, 10*float64(i+1)))
		}
	}
	ps = append(ps, Purchase{User: "u1", Order: "r", Time: d0.AddDate(0, 0, 95), Amount: -5}) // a return
	rows, err := ComputeRFM(ps, d0.AddDate(0, 0, 100))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		rec      float64
		f        int
		m        float64
		r, fs, s int
		seg      string
	}{
		"u1": {10, 1, 5, 5, 1, 0, "new"},
		"u2": {19, 2, 40, 4, 2, 0, "potential_loyalists"},
		"u3": {28, 3, 90, 3, 3, 0, "need_attention"},
		"u4": {37, 4, 160, 2, 4, 0, "at_risk"},
		"u5": {46, 5, 250, 1, 5, 0, "cant_lose"},
	}
	for _, r := range rows {
		w := want[r.User]
		if math.Abs(r.RecencyDays-w.rec) > 1e-9 || r.Frequency != w.f || r.Monetary != w.m || r.R != w.r || r.F != w.fs || r.Segment != w.seg {
			t.Errorf("%s: %+v, want %+v", r.User, r, w)
		}
	}
	if c := SegmentCounts(rows); c["new"] != 1 || c["champions"] != 0 || len(c) != len(Segments) {
		t.Errorf("counts = %v", c)
	}
	if _, err := ComputeRFM(ps, d0.AddDate(-1, 0, 0)); err == nil || !strings.Contains(err.Error(), "reference date") {
		t.Errorf("a reference date before the data: %v", err)
	}
	// Every score pair has a segment.
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			if s := Segment(r, f); !contains(Segments, s) {
				t.Errorf("R%d F%d: segment %q", r, f, s)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestCohorts(t *testing.T) {
	ps := []Purchase{
		buy("a", "1", 0, 10), buy("a", "2", 35, 5), // Jan cohort, back in Feb
		buy("b", "3", 3, 20),                       // Jan cohort, once
		buy("c", "4", 40, 7), buy("c", "5", 70, 1), // Feb cohort, back in Mar
		{User: "b", Time: d0.AddDate(0, 0, 66), Amount: -4}, // a return in Mar
	}
	cs, err := Cohorts(ps, "month")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].Size != 2 || cs[1].Size != 1 || cs[2].Size != 0 {
		t.Fatalf("cohorts = %+v", cs)
	}
	jan := cs[0]
	if jan.Retention[0] != 1 || jan.Retention[1] != 0.5 || jan.Retention[2] != 0 || jan.Revenue[0] != 30 || jan.Revenue[1] != 5 || jan.Revenue[2] != -4 {
		t.Errorf("January = %+v", jan)
	}
	if cs[1].Retention[1] != 1 || len(cs[1].Retention) != 2 {
		t.Errorf("February = %+v", cs[1])
	}
	if _, err := Cohorts(ps, "year"); err == nil {
		t.Error("a yearly period accepted")
	}
	if ws, err := Cohorts(ps, "week"); err != nil || ws[0].Start.Weekday() != time.Monday {
		t.Errorf("weekly: %v %v", ws, err)
	}
}

func TestFunnel(t *testing.T) {
	ev := func(user string, typ tailor.EventType, minutes int) tailor.Event {
		return tailor.Event{UserID: tailor.UserID(user), ItemID: "x", Type: typ, Timestamp: d0.Add(time.Duration(minutes) * time.Minute)}
	}
	evs := []tailor.Event{
		ev("a", "view", 0), ev("a", "add_to_cart", 5), ev("a", "purchase", 9), // all three
		ev("b", "view", 0), ev("b", "add_to_cart", 5), // two
		ev("c", "add_to_cart", 0), ev("c", "view", 1), ev("c", "purchase", 2), // cart before view: one step
		ev("d", "view", 0), ev("d", "add_to_cart", 90), // cart outside a 60-minute window
		ev("e", "purchase", 0),
	}
	f, err := ComputeFunnel(evs, FunnelOptions{Steps: []tailor.EventType{"view", "add_to_cart", "purchase"}, Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got := []int{f.Steps[0].Reached, f.Steps[1].Reached, f.Steps[2].Reached}
	if got[0] != 4 || got[1] != 2 || got[2] != 1 || f.Steps[1].Conversion != 0.5 || f.Steps[2].DropOff != 0.5 || f.Steps[2].Overall != 0.25 {
		t.Errorf("funnel = %+v", f.Steps)
	}
	for _, bad := range []FunnelOptions{
		{Steps: []tailor.EventType{"view"}},
		{Steps: []tailor.EventType{"view", "teleport"}},
		{Steps: []tailor.EventType{"view", "Buy Now"}},
		{Steps: []tailor.EventType{"view", "purchase"}, Window: -time.Hour},
	} {
		if _, err := ComputeFunnel(evs, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestAUCAndLogistic(t *testing.T) {
	if a := AUC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}); a != 0.75 {
		t.Errorf("AUC = %v, want 0.75", a)
	}
	if a := AUC([]float64{1, 1, 0, 0}, []bool{true, false, true, false}); a != 0.5 {
		t.Errorf("AUC with ties = %v, want 0.5", a)
	}
	// y = 1 when x > 0, with noise: the weight must be positive and large.
	var x [][]float64
	var y []bool
	for i := 0; i < 400; i++ {
		v := float64(i%40)/10 - 2
		x = append(x, []float64{v, float64(i % 3)})
		y = append(y, v+0.3*math.Sin(float64(i)) > 0)
	}
	m, err := FitLogistic(x, y, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	if m.Weights[0] < 2 || m.Predict([]float64{1.5, 0}) < 0.9 || m.Predict([]float64{-1.5, 0}) > 0.1 {
		t.Errorf("weights %v", m.Weights)
	}
	if _, err := FitLogistic(x, make([]bool, len(x)), 1e-3); err == nil {
		t.Error("one label only: no error")
	}
}

// TestOnlineRetailPropensity is the must-show: on Online Retail the
// propensity model's AUC beats the "bought in the last 30 days" baseline.
func TestOnlineRetailPropensity(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	path := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := dataset.ReadRecords(context.Background(), "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ps := Purchases(data.Events, func(id tailor.ItemID) bool { it, ok := data.Items[id]; return ok && it.NonProduct })
	rep, model, err := EvaluatePropensity(ps, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test users %d, base rate %.3f; logistic AUC %.4f ECE %.4f; baseline AUC %.4f ECE %.4f",
		rep.TestUsers, rep.BaseRate, rep.Model.AUC, rep.Model.ECE, rep.Baseline.AUC, rep.Baseline.ECE)
	if !(rep.Model.AUC > rep.Baseline.AUC) {
		t.Errorf("logistic AUC %.4f is not above the baseline's %.4f", rep.Model.AUC, rep.Baseline.AUC)
	}
	if rep.Model.ECE > 0.1 {
		t.Errorf("logistic ECE %.4f: badly calibrated", rep.Model.ECE)
	}
	scores := model.Score(ps, rep.TestCutoff.Add(30*24*time.Hour))
	if len(scores) < rep.TestUsers {
		t.Errorf("%d shoppers scored", len(scores))
	}
	// RFM, cohorts and the CLV fit work on the whole file too.
	last := rep.TestCutoff.Add(30 * 24 * time.Hour)
	rows, err := ComputeRFM(ps, last)
	if err != nil || len(rows) < 3000 {
		t.Errorf("rfm: %d rows, %v", len(rows), err)
	}
	if cs, err := Cohorts(ps, "month"); err != nil || len(cs) != 11 {
		t.Errorf("cohorts: %d, %v", len(cs), err)
	}
	cust := Summarize(ps, last.AddDate(0, -3, 0))
	if m, err := FitBGNBD(cust); err != nil || m.R <= 0 {
		t.Errorf("bg/nbd on Online Retail: %+v, %v", m, err)
	}
}
