package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/analytics"
	"github.com/tailorhq/tailor/internal/insights"
)

func newAnalyzeCmd(stdout io.Writer) *cobra.Command {
	var (
		dataset, at, calEnd, period, steps, by string
		window                                 time.Duration
		horizonWeeks                           float64
		horizonDays                            int
		asJSON, apply                          bool
	)
	cmd := &cobra.Command{
		Use:   "analyze rfm|cohorts|funnel|clv|propensity [--dataset FORMAT:PATH | store:DIR] [--json]",
		Short: "Analyse shopper behaviour: RFM segments, cohorts, funnels, lifetime value, purchase propensity",
		Long: `Analyze reads a dataset (an import format such as online-retail:FILE or
cdnow:FILE, or store:DATA-DIR, the default) and prints a table, or JSON with --json:

  rfm         recency, frequency and monetary scores and segments at --at
  cohorts     monthly (or --period week) acquisition cohorts: retention and revenue
  funnel      conversion through --steps (event types) within --window, by user or session
  clv         BG/NBD and Gamma-Gamma fits on purchases up to --calibration-end (time in
              weeks, same-day purchases merged) and each customer's next --horizon-weeks
  propensity  the probability of buying in the next --horizon-days, evaluated by time
              (AUC and calibration against "bought in the last 30 days")
  segments    each shopper's RFM segment, CLV tier and propensity band (store datasets);
              --apply stores them as the shopper attributes segment, clv_tier and
              propensity_band, which scenario routes use`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			what := a[0]
			if !slices.Contains([]string{"rfm", "cohorts", "funnel", "clv", "propensity", "segments"}, what) {
				return usageError{fmt.Errorf("unknown analysis %q: use rfm, cohorts, funnel, clv, propensity or segments", what)}
			}
			if what == "segments" {
				return runSegments(cmd.Context(), stdout, dataset, apply, asJSON)
			}
			date := func(name, v string) (time.Time, error) {
				t, err := time.Parse(time.DateOnly, v)
				if err != nil {
					return t, usageError{fmt.Errorf("--%s %q: not a date YYYY-MM-DD", name, v)}
				}
				return t, nil
			}
			ctx := cmd.Context()
			data, err := loadRecords(ctx, dataset)
			if err != nil {
				return err
			}
			ps := analytics.Purchases(data.Events, data.NonProduct)
			end := lastPurchase(ps)
			var out any
			switch what {
			case "rfm":
				ref := end.AddDate(0, 0, 1)
				if at != "" {
					if ref, err = date("at", at); err != nil {
						return err
					}
				}
				rows, err := analytics.ComputeRFM(ps, ref)
				if err != nil {
					return err
				}
				out = map[string]any{"at": ref, "segments": analytics.SegmentCounts(rows), "shoppers": rows}
				if !asJSON {
					return printRFM(stdout, ref, rows)
				}
			case "cohorts":
				cs, err := analytics.Cohorts(ps, period)
				if err != nil {
					return usageError{err}
				}
				out = map[string]any{"period": period, "cohorts": cs}
				if !asJSON {
					return printCohorts(stdout, cs, period)
				}
			case "funnel":
				var types []tailor.EventType
				for _, s := range strings.Split(steps, ",") {
					types = append(types, tailor.EventType(strings.TrimSpace(s)))
				}
				if by != "user" && by != "session" {
					return usageError{fmt.Errorf("--by %q: use user or session", by)}
				}
				f, err := analytics.ComputeFunnel(data.Events, analytics.FunnelOptions{Steps: types, Window: window, BySession: by == "session",
					Categories: func(id tailor.ItemID) []string { return data.Items[id].Categories }})
				if err != nil {
					return err
				}
				out = f
				if !asJSON {
					return printFunnel(stdout, f)
				}
			case "clv":
				ce := end
				if calEnd != "" {
					if ce, err = date("calibration-end", calEnd); err != nil {
						return err
					}
				}
				res, err := analytics.ComputeCLV(ps, ce, horizonWeeks)
				if err != nil {
					return err
				}
				out = res
				if !asJSON {
					return printCLV(stdout, res)
				}
			case "propensity":
				rep, _, err := analytics.EvaluatePropensity(ps, time.Duration(horizonDays)*24*time.Hour)
				if err != nil {
					return err
				}
				out = rep
				if !asJSON {
					return printPropensity(stdout, rep)
				}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "store:"+DefaultDataDir, "FORMAT:PATH (an import format) or store:DATA-DIR")
	f.StringVar(&at, "at", "", "rfm: the reference date (default: the day after the last purchase)")
	f.StringVar(&period, "period", "month", "cohorts: month or week")
	f.StringVar(&steps, "steps", "view,add_to_cart,purchase", "funnel: comma-separated event types, in order")
	f.DurationVar(&window, "window", 24*time.Hour, "funnel: the most time from the first step to the last (0: no limit)")
	f.StringVar(&by, "by", "user", "funnel: user or session")
	f.StringVar(&calEnd, "calibration-end", "", "clv: the last day of the calibration period (default: the last purchase)")
	f.Float64Var(&horizonWeeks, "horizon-weeks", 52, "clv: the prediction horizon in weeks")
	f.IntVar(&horizonDays, "horizon-days", 30, "propensity: the horizon in days")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&apply, "apply", false, "segments: store the labels as shopper attributes")
	return cmd
}

func runSegments(ctx context.Context, w io.Writer, dataset string, apply, asJSON bool) error {
	dir, ok := strings.CutPrefix(dataset, "store:")
	if !ok {
		return usageError{fmt.Errorf("--dataset %s: segments are computed for a store (store:DATA-DIR)", dataset)}
	}
	db, err := openStore(ctx, dir)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := insights.New(db, time.Hour)
	segs, err := svc.AllSegments(ctx)
	if err != nil {
		return err
	}
	if apply {
		if _, err := svc.Apply(ctx, db); err != nil {
			return err
		}
	}
	counts := map[string]map[string]int{"segment": {}, "clv_tier": {}, "propensity_band": {}}
	for _, sg := range segs {
		counts["segment"][sg.Segment]++
		if sg.CLVTier != "" {
			counts["clv_tier"][sg.CLVTier]++
		}
		if sg.PropensityBand != "" {
			counts["propensity_band"][sg.PropensityBand]++
		}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"shoppers": len(segs), "counts": counts, "applied": apply})
	}
	for _, attr := range []string{"segment", "clv_tier", "propensity_band"} {
		keys := make([]string, 0, len(counts[attr]))
		for k := range counts[attr] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[attr][k]))
		}
		fmt.Fprintf(w, "%s: %s\n", attr, strings.Join(parts, ", "))
	}
	if apply {
		fmt.Fprintf(w, "Stored as the attributes segment, clv_tier and propensity_band of %d shoppers.\n", len(segs))
	}
	return nil
}

func lastPurchase(ps []analytics.Purchase) time.Time {
	var t time.Time
	for _, p := range ps {
		if p.Time.After(t) {
			t = p.Time
		}
	}
	return t
}

func printRFM(w io.Writer, at time.Time, rows []analytics.RFM) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "RFM at %s: %d shoppers\n", at.Format(time.DateOnly), len(rows))
	counts := analytics.SegmentCounts(rows)
	fmt.Fprintln(tw, "segment\tshoppers\tshare\tmean recency (days)\tmean orders\tmean spend")
	for _, s := range analytics.Segments {
		var rec, freq, mon float64
		for _, r := range rows {
			if r.Segment == s {
				rec, freq, mon = rec+r.RecencyDays, freq+float64(r.Frequency), mon+r.Monetary
			}
		}
		n := float64(max(counts[s], 1))
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%.0f\t%.1f\t%.2f\n", s, counts[s], 100*float64(counts[s])/float64(max(len(rows), 1)), rec/n, freq/n, mon/n)
	}
	return tw.Flush()
}

func printCohorts(w io.Writer, cs []analytics.Cohort, period string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "Retention by %s of first purchase (share of the cohort buying k %ss later):\n", period, period)
	header := "cohort\tsize\t"
	for k := 0; k < len(cs); k++ {
		header += fmt.Sprintf("%d\t", k)
	}
	fmt.Fprintln(tw, header+"revenue\t")
	for _, c := range cs {
		line := fmt.Sprintf("%s\t%d\t", c.Start.Format(time.DateOnly), c.Size)
		var rev float64
		for k := range cs {
			if k < len(c.Retention) {
				line += fmt.Sprintf("%.0f%%\t", 100*c.Retention[k])
				rev += c.Revenue[k]
			} else {
				line += "\t"
			}
		}
		fmt.Fprintln(tw, line+fmt.Sprintf("%.0f\t", rev))
	}
	return tw.Flush()
}

func printFunnel(w io.Writer, f *analytics.Funnel) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Funnel by %s:\n", f.By)
	fmt.Fprintln(tw, "step\treached\tfrom previous\tdrop-off\tfrom first")
	for _, s := range f.Steps {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%.1f%%\t%.1f%%\n", s.Type, s.Reached, 100*s.Conversion, 100*s.DropOff, 100*s.Overall)
	}
	return tw.Flush()
}

func printCLV(w io.Writer, r *analytics.CLVResult) error {
	fmt.Fprintf(w, "Calibration until %s: %d customers, %d with repeat purchases (time unit: weeks).\n",
		r.CalibrationEnd.Format(time.DateOnly), r.Customers, r.Repeaters)
	fmt.Fprintf(w, "BG/NBD: r %.4f, alpha %.4f, a %.4f, b %.4f; log-likelihood %.2f\n", r.BGNBD.R, r.BGNBD.Alpha, r.BGNBD.A, r.BGNBD.B, r.BGNBD.LogLik)
	fmt.Fprintf(w, "Gamma-Gamma: p %.4f, q %.4f, gamma %.4f; log-likelihood %.2f\n", r.GammaGamma.P, r.GammaGamma.Q, r.GammaGamma.Gamma, r.GammaGamma.LogLik)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "Warning: %s.\n", warn)
	}
	var purchases, value float64
	for _, p := range r.Predictions {
		purchases += p.ExpectedPurchases
		value += p.CLV
	}
	fmt.Fprintf(w, "Next %.0f weeks: %.0f purchases and %.2f expected in all.\nTop customers by expected value:\n", r.HorizonWeeks, purchases, value)
	top := slices.Clone(r.Predictions)
	slices.SortFunc(top, func(a, b analytics.CLVPrediction) int { return cmp.Compare(b.CLV, a.CLV) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "customer\tx\tt_x\tT\tp_alive\tpurchases\tspend each\tvalue")
	for _, p := range top[:min(10, len(top))] {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.3f\t%.2f\t%.2f\t%.2f\n", p.User, p.X, p.TX, p.T, p.PAlive, p.ExpectedPurchases, p.ExpectedSpend, p.CLV)
	}
	return tw.Flush()
}

func printPropensity(w io.Writer, r *analytics.PropensityReport) error {
	fmt.Fprintf(w, "Purchase in the next %d days: trained on features at %s (%d shoppers), tested at %s (%d shoppers, %.1f%% bought).\n",
		r.HorizonDays, r.TrainCutoff.Format(time.DateOnly), r.TrainUsers, r.TestCutoff.Format(time.DateOnly), r.TestUsers, 100*r.BaseRate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tAUC\tlog loss\tBrier\tECE")
	fmt.Fprintf(tw, "logistic regression\t%.4f\t%.4f\t%.4f\t%.4f\n", r.Model.AUC, r.Model.LogLoss, r.Model.Brier, r.Model.ECE)
	fmt.Fprintf(tw, "bought in the last 30 days\t%.4f\t%.4f\t%.4f\t%.4f\n", r.Baseline.AUC, r.Baseline.LogLoss, r.Baseline.Brier, r.Baseline.ECE)
	return tw.Flush()
}
