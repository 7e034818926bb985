package analytics

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/shareddata"
)

// paper is the BG/NBD fit published by Fader, Hardie & Lee (2005) for
// the CDNOW sample, and the Gamma-Gamma fit of Fader & Hardie (2013).
var (
	paper   = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	paperGG = GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f ± %g", what, got, want, tol)
	}
}

// TestPredictionsWithPublishedParameters checks the expressions against
// the published values (../shared/data/cdnow/README.md), with no data.
func TestPredictionsWithPublishedParameters(t *testing.T) {
	// The paper's example: customer 1 of the sample.
	near(t, "E[Y(39) | 2, 30.43, 38.86]", paper.ExpectedPurchases(39, 2, 30.43, 38.86), 1.226, 0.0005)
	near(t, "P(alive | 2, 30.43, 38.86)", paper.PAlive(2, 30.43, 38.86), 0.7266, 0.00005)
	for _, tc := range []struct{ t, want float64 }{{0.1429, 0.0078}, {1, 0.0533}, {3, 0.1509}, {31.8571, 1.0420}, {32, 1.0452}, {78, 1.8605}} {
		near(t, fmt.Sprintf("E[X(%v)]", tc.t), paper.ExpectedPurchasesNew(tc.t), tc.want, 0.00005)
	}
	// The "increasing frequency paradox" of the BTYD walkthrough, with its
	// parameters.
	btyd := BGNBD{R: 0.2425982, Alpha: 4.4136842, A: 0.7929899, B: 2.4261667}
	near(t, "E[X(52)] (BTYD)", btyd.ExpectedPurchasesNew(52), 1.444004, 0.000005)
	for _, tc := range []struct{ x, want float64 }{{10, 0.3474606}, {15, 0.04283391}, {20, 0.004158973}} {
		got := btyd.ExpectedPurchases(52, tc.x, 20, 39)
		if math.Abs(got-tc.want) > 1e-4*tc.want {
			t.Errorf("E[Y(52) | %v, 20, 39] = %.7g, want %.7g", tc.x, got, tc.want)
		}
	}
	// Gamma-Gamma: customer 6 of note 025 (x = 7, zbar = 73.74) and the
	// population mean.
	near(t, "E[Z | 7, 73.74]", paperGG.ExpectedSpend(7, 73.74), 71.4697, 0.01)
	near(t, "E[Z | 0]", paperGG.ExpectedSpend(0, 0), 35.219, 0.001)
}

// TestFitCDNOW reproduces the published fits from the raw transactions.
func TestFitCDNOW(t *testing.T) {
	dir := shareddata.Path(t, "cdnow")
	data, err := dataset.ReadRecords(context.Background(), "cdnow:"+filepath.Join(dir, "CDNOW_sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cs := Summarize(Purchases(data.Events, nil), time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC))
	if len(cs) != 2357 {
		t.Fatalf("%d customers, want 2,357", len(cs))
	}
	// The summaries match the published ones, rounded to 2 decimals.
	want := readSummary(t, filepath.Join(dir, "cdnow_customers_summary_with_transactions.csv"))
	bad := 0
	for _, c := range cs {
		w := want[c.ID]
		// Published rounded to 2 decimals (half a cent either way: the
		// means of cents can end in exactly 5).
		off := func(v, pub float64) bool { return math.Abs(v-pub) > 0.005+1e-9 }
		if c.X != w[0] || off(c.TX, w[1]) || off(c.T, w[2]) || off(c.ZBar, w[3]) {
			if bad++; bad <= 3 {
				t.Errorf("customer %s: %v %v %v %v, published %v", c.ID, c.X, c.TX, c.T, c.ZBar, w)
			}
		}
	}
	m, err := FitBGNBD(cs)
	if err != nil {
		t.Fatal(err)
	}
	// Published to three decimals (LL to one).
	near(t, "r", m.R, 0.243, 0.0005)
	near(t, "alpha", m.Alpha, 4.414, 0.0005)
	near(t, "a", m.A, 0.793, 0.0005)
	near(t, "b", m.B, 2.426, 0.0005)
	near(t, "log-likelihood", m.LogLik, -9582.4, 0.05)
	near(t, "E[Y(39) | 2, 30.43, 38.86] at the fit", m.ExpectedPurchases(39, 2, 30.43, 38.86), 1.226, 0.0005)
	gg, err := FitGammaGamma(cs)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "p", gg.P, 6.25, 0.005)
	near(t, "q", gg.Q, 3.74, 0.005)
	near(t, "gamma", gg.Gamma, 15.44, 0.005)
	near(t, "gamma-gamma log-likelihood", gg.LogLik, -4055.9177, 0.001)
	t.Logf("BG/NBD %+v; Gamma-Gamma %+v", m, gg)
}

func readSummary(t *testing.T, path string) map[string][4]float64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][4]float64{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ",")
		var v [4]float64
		for i := range v {
			v[i], _ = strconv.ParseFloat(f[i+1], 64)
		}
		out[f[0]] = v
	}
	return out
}

func TestFitErrors(t *testing.T) {
	few := []Customer{{ID: "1", X: 1, TX: 1, T: 5}, {ID: "2", T: 5}}
	if _, err := FitBGNBD(few); err == nil || !strings.Contains(err.Error(), "too few repeat buyers") {
		t.Errorf("two customers: %v", err)
	}
	if _, err := FitGammaGamma(few); err == nil {
		t.Error("gamma-gamma on one repeater: no error")
	}
	if _, err := FitBGNBD([]Customer{{ID: "x", X: 1, TX: 9, T: 5}}); err == nil || !strings.Contains(err.Error(), "impossible") {
		t.Errorf("t_x > T: %v", err)
	}
}
