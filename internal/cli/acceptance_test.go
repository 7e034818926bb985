package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/shareddata"
)

type importReport struct {
	Read, Accepted, Rejected, Duplicates int
	RejectedByReason                     map[string]int `json:"rejected_by_reason"`
	Items, Users, Events                 int
}

func importJSON(t *testing.T, args ...string) importReport {
	t.Helper()
	code, out, errOut := runMain(t, append([]string{"import", "--json", "--data-dir", t.TempDir()}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Read != rep.Accepted+rep.Rejected+rep.Duplicates {
		t.Errorf("read %d != accepted %d + rejected %d + duplicates %d", rep.Read, rep.Accepted, rep.Rejected, rep.Duplicates)
	}
	return rep
}

// TestAcceptanceOnlineRetail imports the whole UCI Online Retail file: the
// counts must add up and match the file (431,673 lines, 4,010 customers).
func TestAcceptanceOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 431,673 lines")
	}
	path := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	rep := importJSON(t, "--format", "online-retail", path)
	if rep.Read != 431673 {
		t.Errorf("read %d lines, the file has 431,673", rep.Read)
	}
	if rep.Users != 4010 {
		t.Errorf("%d users, the file has 4,010 customers", rep.Users)
	}
	// Rejected: 3 bad-debt adjustments, 1,169 negative stock adjustments
	// and 1,000 anonymous lines at price 0 (see the data README).
	want := map[string]int{"bad_debt_adjustment": 3, "stock_adjustment": 2169}
	for reason, n := range want {
		if rep.RejectedByReason[reason] != n {
			t.Errorf("rejected for %s: %d, want %d", reason, rep.RejectedByReason[reason], n)
		}
	}
	if rep.Rejected != 2172 || rep.Events != rep.Accepted || rep.Duplicates == 0 || rep.Duplicates > 3621 {
		t.Errorf("report = %+v", rep)
	}
}

// TestAcceptanceMovieLens imports ml-100k: 100,000 ratings, 943 users,
// 1,682 items.
func TestAcceptanceMovieLens(t *testing.T) {
	path := shareddata.Path(t, "ml-100k")
	rep := importJSON(t, "--format", "movielens", path)
	if rep.Events != 100000 || rep.Users != 943 || rep.Items != 1682 || rep.Rejected != 0 {
		t.Errorf("report = %+v", rep)
	}
	small := importJSON(t, "--format", "movielens", shareddata.Path(t, "ml-latest-small"))
	if small.Events != 100836 || small.Users != 610 || small.Items != 9742 || small.Rejected != 0 {
		t.Errorf("ml-latest-small report = %+v", small)
	}
}

// TestAcceptanceEval runs 'tailor eval' on ml-100k and checks the JSON
// fields and the popularity anchor of ../shared/REFERENCE.md.
func TestAcceptanceEval(t *testing.T) {
	path := shareddata.Path(t, "ml-100k")
	out := filepath.Join(t.TempDir(), "eval.json")
	page := filepath.Join(t.TempDir(), "eval.html")
	code, stdout, stderr := runMain(t, "eval", "--dataset", "movielens:"+path, "--protocol", "kfold",
		"--models", "popular,itemknn", "--k", "10,20", "--json", out, "--report", page)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "itemknn") || !strings.Contains(stdout, "ndcg@10") {
		t.Errorf("table:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Dataset, Protocol string
		Seed              uint64
		Results           []struct {
			Model          string
			Params         json.RawMessage
			Metrics        map[string]float64
			CI95           map[string][2]float64 `json:"ci95"`
			TrainSeconds   float64               `json:"train_seconds"`
			LatencyMs      map[string]float64    `json:"latency_ms"`
			UsersPerSecond float64               `json:"users_per_second"`
			PeakHeapBytes  uint64                `json:"peak_heap_bytes"`
			ModelBytes     int64                 `json:"model_bytes"`
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Protocol != "kfold" || rep.Seed != 1 || len(rep.Results) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	for _, r := range rep.Results {
		for _, k := range []string{"ndcg@10", "recall@10", "precision@10", "map@10", "mrr@10", "hit@10", "coverage@10", "ndcg@20",
			"novelty@10", "popularity@10", "diversity@10", "auc"} {
			if _, ok := r.Metrics[k]; !ok {
				t.Errorf("%s lacks %s", r.Model, k)
			}
		}
		if _, ok := r.CI95["ndcg@10"]; !ok || r.LatencyMs["p99"] <= 0 || r.UsersPerSecond <= 0 || r.PeakHeapBytes == 0 || r.ModelBytes == 0 || len(r.Params) == 0 {
			t.Errorf("%s: %+v", r.Model, r)
		}
	}
	if html, err := os.ReadFile(page); err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("HTML report: %v", err)
	}
	if pop := rep.Results[0].Metrics["ndcg@10"]; pop < 0.2081 || pop > 0.2281 {
		t.Errorf("popular ndcg@10 = %.4f, reference 0.2181 ± 0.01", pop)
	}
}

// TestAcceptanceTune tunes a model within a budget and evaluates with the
// file it wrote.
func TestAcceptanceTune(t *testing.T) {
	path := shareddata.Path(t, "ml-100k")
	out := filepath.Join(t.TempDir(), "tuned.json")
	code, stdout, stderr := runMain(t, "tune", "--dataset", "movielens:"+path, "--protocol", "recbole",
		"--model", "itemknn", "--budget", "1ms", "--out", out)
	if code != 0 {
		t.Fatalf("tune exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "tried 1 of") {
		t.Errorf("a 1 ms budget should stop after one trial: %s", stdout)
	}
	cfg, err := readTuned(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "itemknn" || len(cfg.Trials) != 1 || cfg.ValidNDCG <= 0 {
		t.Errorf("tuned = %+v", cfg)
	}
	code, stdout, stderr = runMain(t, "eval", "--dataset", "movielens:"+path, "--protocol", "recbole",
		"--models", "itemknn", "--config", out, "--k", "10")
	if code != 0 || !strings.Contains(stdout, "itemknn") {
		t.Fatalf("eval --config exit %d: %s %s", code, stdout, stderr)
	}

	// Successive halving: a third of ml-100k's 943 users, then all.
	code, stdout, stderr = runMain(t, "tune", "--dataset", "movielens:"+path, "--protocol", "kfold",
		"--model", "rp3beta", "--search", "halving", "--budget", "0", "--out", out)
	if code != 0 || !strings.Contains(stdout, "halving search") {
		t.Fatalf("tune --search halving exit %d: %s %s", code, stdout, stderr)
	}
	if cfg, err = readTuned(out); err != nil {
		t.Fatal(err)
	}
	rounds := map[int]int{}
	for _, tr := range cfg.Trials {
		rounds[tr.Rung]++
	}
	info, _ := all.Lookup("rp3beta")
	if n := len(info.Grid); rounds[1] != n || rounds[2] != (n+2)/3 || len(rounds) != 2 || cfg.ValidNDCG <= 0 {
		t.Errorf("halving over %d candidates: trials per round %v, best %.4f", n, rounds, cfg.ValidNDCG)
	}
}

// TestAcceptanceAnalyze runs the analytics issue's commands on the shared
// data: the CDNOW reference fit and the Online Retail propensity.
func TestAcceptanceAnalyze(t *testing.T) {
	cdnow := shareddata.Path(t, "cdnow")
	code, stdout, stderr := runMain(t, "analyze", "clv", "--dataset", "cdnow:"+filepath.Join(cdnow, "CDNOW_sample.txt"),
		"--calibration-end", "1997-09-30", "--json")
	if code != 0 {
		t.Fatalf("analyze clv: %d %s", code, stderr)
	}
	var clv struct {
		BGNBD struct{ R, Alpha, A, B, Loglik float64 } `json:"bgnbd"`
		GG    struct{ P, Q, Gamma float64 }            `json:"gamma_gamma"`
	}
	if err := json.Unmarshal([]byte(stdout), &clv); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name           string
		got, want, tol float64
	}{
		{"r", clv.BGNBD.R, 0.243, 0.0005}, {"alpha", clv.BGNBD.Alpha, 4.414, 0.0005}, {"a", clv.BGNBD.A, 0.793, 0.0005},
		{"b", clv.BGNBD.B, 2.426, 0.0005}, {"loglik", clv.BGNBD.Loglik, -9582.4, 0.05},
		{"p", clv.GG.P, 6.25, 0.005}, {"q", clv.GG.Q, 3.74, 0.005}, {"gamma", clv.GG.Gamma, 15.44, 0.005},
	} {
		if d := c.got - c.want; d > c.tol || d < -c.tol {
			t.Errorf("%s = %v, published %v", c.name, c.got, c.want)
		}
	}
	retail := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	code, stdout, stderr = runMain(t, "analyze", "propensity", "--dataset", "online-retail:"+retail, "--json")
	if code != 0 {
		t.Fatalf("analyze propensity: %d %s", code, stderr)
	}
	var prop struct {
		Logistic struct{ AUC float64 } `json:"logistic"`
		Baseline struct{ AUC float64 } `json:"baseline_bought_last_30d"`
	}
	if err := json.Unmarshal([]byte(stdout), &prop); err != nil {
		t.Fatal(err)
	}
	if !(prop.Logistic.AUC > prop.Baseline.AUC) {
		t.Errorf("propensity AUC %.4f not above the baseline's %.4f", prop.Logistic.AUC, prop.Baseline.AUC)
	}
	if code, _, stderr := runMain(t, "analyze", "clv", "--dataset", "cdnow:"+filepath.Join(cdnow, "CDNOW_sample.txt"), "--horizon-weeks", "0"); code == 0 || !strings.Contains(stderr, "horizon") {
		t.Errorf("horizon 0: %d %s", code, stderr)
	}
}

// TestAcceptancePriceBacktest runs the pricing issue's backtest through
// 'tailor eval' and reads its JSON.
func TestAcceptancePriceBacktest(t *testing.T) {
	retail := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	out := filepath.Join(t.TempDir(), "pb.json")
	code, stdout, stderr := runMain(t, "eval", "--dataset", "online-retail:"+retail, "--protocol", "price-backtest", "--cutoff", "2011-08-01", "--json", out)
	if code != 0 || !strings.Contains(stdout, "naive-4w") {
		t.Fatalf("eval price-backtest: %d %s %s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			Model   string             `json:"model"`
			Metrics map[string]float64 `json:"metrics"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	wape := map[string]float64{}
	for _, r := range rep.Results {
		if _, ok := r.Metrics["bias"]; !ok {
			t.Errorf("%s has no bias", r.Model)
		}
		wape[r.Model] = r.Metrics["wape"]
	}
	if len(wape) != 3 || !(wape["elasticity"] < wape["naive-4w"] && wape["elasticity"] < wape["seasonal-naive"]) {
		t.Errorf("wape = %v: the elasticity model must be ahead of both baselines", wape)
	}
	if code, _, stderr := runMain(t, "eval", "--dataset", "online-retail:"+retail, "--protocol", "price-backtest"); code != 2 || !strings.Contains(stderr, "--cutoff") {
		t.Errorf("no cutoff: %d %s", code, stderr)
	}
}
