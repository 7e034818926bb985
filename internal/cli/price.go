package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/pricing"
)

// pricingData loads a dataset's sales and their weekly demand.
func pricingData(ctx context.Context, spec string) ([]pricing.Sale, *dataset.Records, error) {
	data, err := loadRecords(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	sales := pricing.Sales(data.Events, func(id tailor.ItemID) bool { it, ok := data.Items[id]; return ok && (it.NonProduct || it.Hidden) })
	if len(sales) == 0 {
		return nil, nil, fmt.Errorf("%s: no purchases with a unit price", spec)
	}
	return sales, data, nil
}

func runPriceBacktest(ctx context.Context, w io.Writer, dataset string, cutoff time.Time, models, jsonPath, htmlPath string) error {
	if cutoff.IsZero() {
		return usageError{fmt.Errorf("--cutoff is required for price-backtest (such as 2011-08-01)")}
	}
	want := []string{"elasticity", "naive-4w", "seasonal-naive"}
	if models != "" {
		want = strings.Split(models, ",")
		for _, m := range want {
			if !slices.Contains([]string{"elasticity", "naive-4w", "seasonal-naive"}, m) {
				return usageError{fmt.Errorf("--models: %q is not a price-backtest model (elasticity, naive-4w, seasonal-naive)", m)}
			}
		}
	}
	sales, _, err := pricingData(ctx, dataset)
	if err != nil {
		return err
	}
	scores, _, err := pricing.Backtest(sales, pricing.BacktestOptions{Cutoff: cutoff})
	if err != nil {
		return err
	}
	rep := eval.Report{Dataset: dataset, Protocol: "price-backtest", Folds: 1}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "%s, protocol price-backtest, test from %s\n", dataset, cutoff.Format(time.DateOnly))
	fmt.Fprintln(tw, "model\twape\tbias\titems\titem-weeks\tunits sold\tunits forecast")
	for _, s := range scores {
		if !slices.Contains(want, s.Model) {
			continue
		}
		rep.Results = append(rep.Results, eval.Result{Model: s.Model, Params: json.RawMessage("{}"),
			Metrics: map[string]float64{"wape": s.WAPE, "bias": s.Bias}, TestUsers: s.Items})
		fmt.Fprintf(tw, "%s\t%.4f\t%+.4f\t%d\t%d\t%.0f\t%.0f\n", s.Model, s.WAPE, s.Bias, s.Items, s.Weeks, s.Actual, s.Predict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeReports(rep, jsonPath, htmlPath)
}

func newPriceCmd(stdout io.Writer) *cobra.Command {
	var (
		dataset, item, endings, marked string
		top                            int
		cost, maxChange, minM          float64
		asJSON                         bool
	)
	cmd := &cobra.Command{
		Use:   "price elasticity|recommend [--dataset FORMAT:PATH | store:DIR] [--item ID | --top N] [--cost C] [--json]",
		Short: "Price elasticities and price recommendations within guardrails (per item, never per shopper)",
		Long: `Price estimates each item's own-price elasticity from its weekly sales (log-log, with
week effects for seasonality and trend and an order-size control, shrunk towards the
category by empirical Bayes) and recommends prices that maximize expected revenue, or
profit with --cost, within guardrails: --max-change from the current price (0.10),
--min-margin, --endings (cents such as 0.49,0.95,0.99), never below cost. Items whose
elasticity is unreliable keep their price, with the reason. Prices are per item, never
per shopper.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if a[0] != "elasticity" && a[0] != "recommend" {
				return usageError{fmt.Errorf("unknown price command %q: use elasticity or recommend", a[0])}
			}
			if top < 1 {
				return usageError{fmt.Errorf("--top %d: must be at least 1", top)}
			}
			c := pricing.Constraints{MaxChange: maxChange, MinMargin: minM}
			if cmd.Flags().Changed("cost") {
				c.Cost = &cost
			}
			for _, e := range strings.Split(endings, ",") {
				if e = strings.TrimSpace(e); e == "" {
					continue
				}
				var f float64
				if _, err := fmt.Sscan(e, &f); err != nil {
					return usageError{fmt.Errorf("--endings: %q is not a number such as 0.99", e)}
				}
				c.Endings = append(c.Endings, f)
			}
			sales, data, err := pricingData(cmd.Context(), dataset)
			if err != nil {
				return err
			}
			end := sales[0].Time
			for _, s := range sales {
				if s.Time.After(end) {
					end = s.Time
				}
			}
			demand := pricing.WeeklyDemand(sales, end.Add(time.Nanosecond))
			if marked != "" {
				marks, err := readMarks(marked)
				if err != nil {
					return usageError{err}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d marked weeks apply.\n", pricing.ApplyMarks(demand, marks), len(marks))
			}
			el, priors, err := pricing.Estimate(demand, pricing.EstimateOptions{Category: func(id tailor.ItemID) string {
				if cs := data.Items[id].Categories; len(cs) > 0 {
					return cs[0]
				}
				return "all"
			}})
			if err != nil {
				return err
			}
			pricing.CrossPrices(demand, el, func(id tailor.ItemID) string { return data.Items[id].Title }, 8)
			items := pricing.BestSellers(demand)
			if item != "" {
				if _, ok := demand[tailor.ItemID(item)]; !ok {
					return fmt.Errorf("--item %q has no sales in %s", item, dataset)
				}
				items = []tailor.ItemID{tailor.ItemID(item)}
			}
			items = items[:min(top, len(items))]
			if a[0] == "elasticity" {
				var out []*pricing.Elasticity
				for _, id := range items {
					out = append(out, el[id])
				}
				if asJSON {
					return json.NewEncoder(stdout).Encode(map[string]any{"items": out, "categories": priors})
				}
				tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "item\ttitle\tweeks\tprice sd\town estimate\telasticity\t95% interval\tsubstitute: cross elasticity\treliable")
				for _, e := range out {
					sub := ""
					if c := e.Substitute; c != nil {
						sub = fmt.Sprintf("%s: %.2f [%.2f, %.2f]", c.Substitute, c.Elasticity, c.CI95[0], c.CI95[1])
					}
					fmt.Fprintf(tw, "%s\t%.30s\t%d\t%.3f\t%.2f ± %.2f\t%.2f\t[%.2f, %.2f]\t%s\t%v\n", e.Item, data.Items[e.Item].Title, e.Weeks, e.PriceSD,
						e.Raw, e.RawSE, e.Estimate, e.CI95[0], e.CI95[1], sub, reliableText(e))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				for c, p := range priors {
					fmt.Fprintf(stdout, "Category %s: mean elasticity %.2f ± %.2f, spread between items %.2f, over %d items.\n", c, p.Mean, p.MeanSE, p.SD, p.Items)
				}
				return nil
			}
			var recs []*pricing.Recommendation
			for _, id := range items {
				r, err := pricing.Recommend(demand[id].Baseline(pricing.BaselineWeeks), el[id], c)
				if err != nil {
					return usageError{err}
				}
				recs = append(recs, r)
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(recs)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "item\tcurrent\tprice\taction\telasticity\tunits/week\tΔ units [90%]\tΔ "+recsObjective(c)+" [90%]\treason")
			for _, r := range recs {
				ch := r.ChangeRevenue
				if r.Objective == "profit" {
					ch = r.ChangeProfit
				}
				fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%.2f\t%.1f\t%+.1f%% [%+.1f, %+.1f]\t%+.1f%% [%+.1f, %+.1f]\t%s\n", r.Item, r.CurrentPrice, r.Price, r.Action,
					r.Elasticity, r.BaseUnits, 100*r.ChangeUnits.Value, 100*r.ChangeUnits.Low, 100*r.ChangeUnits.High,
					100*ch.Value, 100*ch.Low, 100*ch.High, r.Reason)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "store:"+DefaultDataDir, "FORMAT:PATH (an import format) or store:DATA-DIR")
	f.StringVar(&item, "item", "", "one item (default: the best sellers)")
	f.IntVar(&top, "top", 20, "how many best sellers")
	f.Float64Var(&cost, "cost", 0, "unit cost: maximize profit instead of revenue")
	f.Float64Var(&maxChange, "max-change", 0.10, "largest change from the current price, as a fraction")
	f.Float64Var(&minM, "min-margin", 0, "smallest (price − cost)/price (needs --cost)")
	f.StringVar(&endings, "endings", "", "allowed cents, comma-separated, such as 0.49,0.95,0.99")
	f.StringVar(&marked, "marked", "", "a CSV file of weeks to leave out: item_id,date (any day of the week),reason (promotion, stockout, ...)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// readMarks reads item_id,date,reason lines (a header line is skipped).
func readMarks(path string) ([]pricing.Mark, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--marked: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 3
	var out []pricing.Mark
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("--marked %s: %w", path, err)
		}
		if line == 1 && rec[0] == "item_id" {
			continue
		}
		t, err := time.Parse(time.DateOnly, rec[1])
		if err != nil {
			return nil, fmt.Errorf("--marked %s:%d: date %q is not YYYY-MM-DD", path, line, rec[1])
		}
		if rec[0] == "" || rec[2] == "" {
			return nil, fmt.Errorf("--marked %s:%d: item_id and reason are required", path, line)
		}
		out = append(out, pricing.Mark{Item: tailor.ItemID(rec[0]), Week: t, Reason: rec[2]})
	}
}

func reliableText(e *pricing.Elasticity) string {
	if e.Reliable {
		return "yes"
	}
	return "no: " + e.Reason
}

func recsObjective(c pricing.Constraints) string {
	if c.Cost != nil {
		return "profit"
	}
	return "revenue"
}
