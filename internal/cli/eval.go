package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model/all"
)

func newEvalCmd(stdout io.Writer) *cobra.Command {
	var (
		dataset, protocol, models, ks, jsonPath, htmlPath string
		params, configs                                   []string
		tune                                              bool
		carves                                            int
		seed                                              uint64
		opts                                              eval.Options
	)
	cmd := &cobra.Command{
		Use:   "eval --dataset FORMAT:PATH --protocol NAME --models M1,M2 [--k 10,20] [--seed N] [--json FILE] [--report FILE.html]",
		Short: "Measure models under a named evaluation protocol",
		Long: `Eval reads a dataset (FORMAT:PATH, FORMAT an import format such as movielens or
online-retail, or store:DATA-DIR for the events stored by Tailor), splits it by a named protocol, fits each model on the training
part and measures its rankings of the held-out part: precision, recall, NDCG,
MAP, MRR and hit rate at each K with bootstrap 95% intervals, catalog
coverage, training time, recommendation latency and throughput.

Protocols: ` + strings.Join(eval.Protocols(), ", ") + `, and price-backtest: weekly unit
sales per item forecast at the prices charged, after --cutoff, by the models elasticity,
naive-4w and seasonal-naive (--models optional), with metrics wape and bias; and
basket-completion: each order after --cutoff with two or more items has one (seeded)
hidden and ranked from the others by fbt (significant bought-together rules), cooccur
(raw pair counts) and popular, with hit@10 and mrr@10; and rebuy: for shoppers who bought before and after --cutoff,
their past items ranked at the cutoff against all items they bought after it, by rebuy,
frequent and recent, with recall@10 and ndcg@10; and session-next: each order after
--cutoff is a session, and each of its first 10 prefixes predicts the next item, by
sknn, vsknn, last-item-knn and popular, with hit@20 and mrr@20; and search-replay:
queries made from the titles of items returning shoppers bought after --cutoff (a word
dropped, a typo), ranked by text alone and personalized with EASE, with mrr@10; and
cold-items: a seeded 10% of the items lose their training interactions, and returning
shoppers' later purchases of them are ranked among them by content, random and
popularity-in-category, with recall@20.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if protocol == "cold-items" {
				if dataset == "" || opts.Cutoff.IsZero() {
					return usageError{fmt.Errorf("--dataset and --cutoff are required for cold-items")}
				}
				return runColdItems(cmd.Context(), stdout, dataset, opts.Cutoff, seed)
			}
			if protocol == "search-replay" {
				if dataset == "" || opts.Cutoff.IsZero() {
					return usageError{fmt.Errorf("--dataset and --cutoff are required for search-replay")}
				}
				return runSearchReplay(cmd.Context(), stdout, dataset, opts.Cutoff, seed)
			}
			if protocol == "session-next" {
				if dataset == "" || opts.Cutoff.IsZero() {
					return usageError{fmt.Errorf("--dataset and --cutoff are required for session-next")}
				}
				return runSessionNext(cmd.Context(), stdout, dataset, opts.Cutoff)
			}
			if protocol == "rebuy" {
				if dataset == "" || opts.Cutoff.IsZero() {
					return usageError{fmt.Errorf("--dataset and --cutoff are required for rebuy")}
				}
				return runRebuy(cmd.Context(), stdout, dataset, opts.Cutoff)
			}
			if protocol == "basket-completion" {
				if dataset == "" {
					return usageError{fmt.Errorf("--dataset is required")}
				}
				return runBasketCompletion(cmd.Context(), stdout, dataset, opts.Cutoff, seed, jsonPath)
			}
			if protocol == "price-backtest" {
				if dataset == "" {
					return usageError{fmt.Errorf("--dataset is required")}
				}
				return runPriceBacktest(cmd.Context(), stdout, dataset, opts.Cutoff, models, jsonPath)
			}
			if dataset == "" || protocol == "" || models == "" {
				return usageError{fmt.Errorf("--dataset, --protocol and --models are required")}
			}
			if carves < 1 {
				return usageError{fmt.Errorf("--tune-carves %d: must be at least 1", carves)}
			}
			cutoffs, err := eval.ParseKs(ks)
			if err != nil {
				return usageError{fmt.Errorf("--k: %w", err)}
			}
			given := map[string]json.RawMessage{}
			for _, path := range configs {
				t, err := readTuned(path)
				if err != nil {
					return err
				}
				given[t.Model] = t.Params
			}
			for _, p := range params {
				name, js, ok := strings.Cut(p, "=")
				if !ok || !json.Valid([]byte(js)) {
					return usageError{fmt.Errorf("--params %q: expected MODEL={JSON object}", p)}
				}
				given[name] = json.RawMessage(js)
			}
			var cands []eval.Candidate
			for _, name := range strings.Split(models, ",") {
				info, err := all.Lookup(strings.TrimSpace(name))
				if err != nil {
					return usageError{fmt.Errorf("--models: %w", err)}
				}
				c := eval.Candidate{Info: info, Params: given[info.Name], Tune: tune && given[info.Name] == nil, Carves: carves}
				if c.Params != nil {
					if _, err := info.New(c.Params, seed); err != nil {
						return usageError{fmt.Errorf("--params: %w", err)}
					}
				}
				delete(given, info.Name)
				cands = append(cands, c)
			}
			for name := range given {
				return usageError{fmt.Errorf("--params names %q, which is not in --models", name)}
			}
			ctx := cmd.Context()
			opts.Seed = seed
			data, folds, err := splitData(ctx, dataset, protocol, opts)
			if err != nil {
				return err
			}
			results, err := eval.Run(ctx, folds, cands, cutoffs, seed, data.Categories)
			if err != nil {
				return err
			}
			rep := eval.Report{Dataset: dataset, Protocol: protocol, Seed: seed, Folds: len(folds), Ks: cutoffs, Results: results}
			printEval(stdout, rep, cutoffs)
			if err := writeJSONFile(jsonPath, rep); err != nil {
				return err
			}
			if htmlPath != "" {
				var b bytes.Buffer
				if err := eval.WriteHTML(&b, rep); err != nil {
					return err
				}
				if err := os.WriteFile(htmlPath, b.Bytes(), 0o644); err != nil {
					return fmt.Errorf("write --report: %w", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "", "FORMAT:PATH, such as movielens:../shared/data/ml-100k, or store:DATA-DIR for the events of a Tailor store")
	f.StringVar(&protocol, "protocol", "", "split protocol: "+strings.Join(eval.Protocols(), ", "))
	f.StringVar(&models, "models", "", "comma-separated models: "+strings.Join(modelNames(), ", "))
	f.StringVar(&ks, "k", "10,20", "comma-separated cut-offs")
	f.Uint64Var(&seed, "seed", 1, "seed of every random choice")
	f.StringVar(&jsonPath, "json", "", "also write the results as JSON to this file")
	f.StringVar(&htmlPath, "report", "", "also write a self-contained HTML report with charts to this file")
	f.StringArrayVar(&params, "params", nil, `a model's parameters, MODEL={"name": value, ...}; repeat for several models`)
	f.StringArrayVar(&configs, "config", nil, "use the parameters in a file written by 'tailor tune'; repeat for several models")
	f.BoolVar(&tune, "tune", false, "choose each model's parameters (those without --params) on validation data only")
	f.IntVar(&carves, "tune-carves", 1, "with --tune: average each parameter set's validation NDCG over this many seeded validation tenths of each fold's training part")
	f.IntVar(&opts.Folds, "folds", 5, "number of folds (kfold)")
	f.Float64Var(&opts.MinRating, "min-rating", 3, "lowest rating kept (recbole)")
	f.Var(dateFlag{&opts.Cutoff}, "cutoff", "temporal: split at this date (2006-01-02, UTC) or time (RFC 3339)")
	f.Float64Var(&opts.CutoffFraction, "cutoff-fraction", 0.8, "temporal without --cutoff: split at this share of the events by time")
	f.IntVar(&opts.Negatives, "negatives", 100, "loo-sampled: sampled items each test item is ranked among")
	f.StringVar(&opts.Repeats, "repeats", "exclude", "temporal: exclude or include items the user had before the cutoff")
	return cmd
}

func modelNames() []string {
	var names []string
	for _, m := range all.Models() {
		names = append(names, m.Name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func printEval(w io.Writer, rep eval.Report, ks []int) {
	fmt.Fprintf(w, "%s, protocol %s, seed %d, %d fold(s)\n", rep.Dataset, rep.Protocol, rep.Seed, rep.Folds)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	header := []string{"model"}
	for _, k := range ks {
		for _, m := range []string{eval.NDCG, eval.Precision, eval.Recall, eval.MAP, eval.Hit, "coverage"} {
			header = append(header, eval.Key(m, k))
		}
	}
	header = append(header, "train s", "p50 ms", "p99 ms", "users/s", "model MiB")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rep.Results {
		row := []string{r.Model}
		for _, k := range ks {
			for _, m := range []string{eval.NDCG, eval.Precision, eval.Recall, eval.MAP, eval.Hit, "coverage"} {
				row = append(row, num(r.Metrics[eval.Key(m, k)]))
			}
		}
		row = append(row, fmt.Sprintf("%.2f", r.TrainSeconds), fmt.Sprintf("%.3f", r.LatencyMs["p50"]),
			fmt.Sprintf("%.3f", r.LatencyMs["p99"]), fmt.Sprintf("%.0f", r.UsersPerSecond), fmt.Sprintf("%.2f", float64(r.ModelBytes)/(1<<20)))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.4f", v)
}

// dateFlag parses a date or an RFC 3339 time into a time.Time.
type dateFlag struct{ t *time.Time }

func (d dateFlag) String() string {
	if d.t == nil || d.t.IsZero() {
		return ""
	}
	return d.t.Format(time.RFC3339)
}

func (d dateFlag) Set(s string) error {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		*d.t = t
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is neither a date like 2011-09-01 nor an RFC 3339 time", s)
	}
	*d.t = t
	return nil
}

func (dateFlag) Type() string { return "date" }

// loadData reads the events of --dataset: an import format ("FORMAT:PATH")
// or a Tailor store ("store:DATA-DIR").
func loadData(ctx context.Context, dataset string) (*eval.Data, error) {
	dir, ok := strings.CutPrefix(dataset, "store:")
	if !ok {
		return eval.Load(ctx, dataset)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); err != nil {
		return nil, fmt.Errorf("--dataset %s: no Tailor store there: %w", dataset, err)
	}
	db, err := openStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	data, err := eval.FromStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("--dataset %s: %w", dataset, err)
	}
	return data, nil
}

// splitData checks the protocol's name, reads the dataset and splits it.
func splitData(ctx context.Context, dataset, protocol string, opts eval.Options) (*eval.Data, []eval.Fold, error) {
	if !contains(eval.Protocols(), protocol) {
		return nil, nil, usageError{fmt.Errorf("--protocol: unknown protocol %q: use one of %s", protocol, strings.Join(eval.Protocols(), ", "))}
	}
	data, err := loadData(ctx, dataset)
	if err != nil {
		return nil, nil, err
	}
	folds, err := eval.Split(protocol, data, opts)
	if err != nil {
		return nil, nil, err
	}
	return data, folds, nil
}
