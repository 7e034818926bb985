package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	protocols "github.com/tailorhq/tailor/internal/protocol/all"
	"github.com/tailorhq/tailor/internal/store"
)

// splitFlags are the flags that set eval.Options, each honoured by the
// protocols that list it in Protocol.Flags.
var splitFlags = []string{"folds", "min-rating", "cutoff", "cutoff-fraction", "negatives", "repeats", "valid-window"}

// addSplitFlags adds the split options' flags.
func addSplitFlags(f *pflag.FlagSet, opts *eval.Options) {
	f.IntVar(&opts.Folds, "folds", 5, "number of folds (kfold)")
	f.Float64Var(&opts.MinRating, "min-rating", 3, "lowest rating kept (recbole)")
	f.Var(dateFlag{&opts.Cutoff}, "cutoff", "the time-based protocols: split at this date (2006-01-02, UTC) or time (RFC 3339)")
	f.Float64Var(&opts.CutoffFraction, "cutoff-fraction", 0.8, "temporal without --cutoff: split at this share of the events by time")
	f.IntVar(&opts.Negatives, "negatives", 100, "loo-sampled: sampled items each test item is ranked among")
	f.StringVar(&opts.Repeats, "repeats", "exclude", "temporal: exclude or include items the user had before the cutoff")
	f.DurationVar(&opts.ValidWindow, "valid-window", 30*24*time.Hour, "the time-based protocols: parameter searches validate on this window before the cutoff")
}

// checkSplitFlags returns a usage error for a split flag the user set that
// the protocol does not honour.
func checkSplitFlags(f *pflag.FlagSet, p eval.Protocol) error {
	for _, name := range splitFlags {
		if f.Changed(name) && !slices.Contains(p.Flags, name) {
			uses := "no split flags"
			if len(p.Flags) > 0 {
				uses = "--" + strings.Join(p.Flags, ", --")
			}
			return usageError{fmt.Errorf("--%s: protocol %s does not use it (it uses %s)", name, p.Name, uses)}
		}
	}
	return nil
}

// needCutoff returns a usage error when a protocol that needs --cutoff
// has none.
func needCutoff(p eval.Protocol, opts eval.Options) error {
	if slices.Contains(p.Flags, "cutoff") && !slices.Contains(p.Flags, "cutoff-fraction") && opts.Cutoff.IsZero() {
		return usageError{fmt.Errorf("--cutoff is required for protocol %s (such as 2011-09-01)", p.Name)}
	}
	return nil
}

// withProgress reports an evaluation's steps to w, one line each with
// the time (UTC), as they come.
func withProgress(ctx context.Context, w io.Writer) context.Context {
	return eval.WithProgress(ctx, func(step string) {
		fmt.Fprintf(w, "%s %s\n", time.Now().UTC().Format(time.TimeOnly), step)
	})
}

// protocolUsage is the list of protocols for help texts.
func protocolUsage() string {
	var b strings.Builder
	for _, p := range protocols.Protocols() {
		fmt.Fprintf(&b, "  %s (%s queries; default models %s; @%s): %s.\n", p.Name, p.Task, baselineNames(p), joinInts(p.Ks), p.Doc)
	}
	b.WriteString("  price-backtest: weekly unit sales per item forecast at the prices charged after --cutoff by the models elasticity, naive-4w and seasonal-naive, with metrics wape and bias.\n")
	return b.String()
}

func baselineNames(p eval.Protocol) string {
	var names []string
	for _, b := range p.Baselines {
		if b.Label != "" {
			names = append(names, b.Label)
		} else {
			names = append(names, b.Model)
		}
	}
	return strings.Join(names, ", ")
}

func joinInts(ks []int) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = fmt.Sprint(k)
	}
	return strings.Join(s, ",")
}

// fitting checks that a model kind answers the protocol's task, naming the
// models that do when it does not.
func fitting(flag string, info model.Info, p eval.Protocol) error {
	tasks, err := info.TasksOf()
	if err != nil {
		return usageError{fmt.Errorf("%s: %s: %w", flag, info.Name, err)}
	}
	if !slices.Contains(tasks, p.Task) {
		return usageError{fmt.Errorf("%s: %s does not answer %s queries, which protocol %s asks (it answers %s); models that fit: %s",
			flag, info.Name, p.Task, p.Name, model.TaskNames(tasks), strings.Join(all.For(p.Task), ", "))}
	}
	return nil
}

func newEvalCmd(stdout io.Writer) *cobra.Command {
	var (
		ds, protocol, models, ks, jsonPath, htmlPath string
		params, configs                              []string
		tune, save                                   bool
		carves                                       int
		seed                                         uint64
		opts                                         eval.Options
	)
	cmd := &cobra.Command{
		Use:   "eval --dataset FORMAT:PATH --protocol NAME [--models M1,M2] [--k 10,20] [--seed N] [--json FILE] [--report FILE.html]",
		Short: "Measure models under a named evaluation protocol",
		Long: `Eval reads a dataset (FORMAT:PATH, FORMAT an import format such as movielens or
online-retail, or store:DATA-DIR for the events stored by Tailor), splits it by a named
protocol into folds of cases (questions of one task with their answers), fits each model
on the training part and measures its answers: precision, recall, NDCG, MAP, MRR and
hit rate at each K with bootstrap 95% intervals, catalog coverage, novelty, training
time, answer latency and throughput, peak heap and model size.

--models takes any model that answers the protocol's task (without it, the protocol's
default models run); --k, --seed, --params, --config, --tune and --json/--report work
for every protocol. A split flag the protocol does not use is an error.

Protocols:
` + protocolUsage(),
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ds == "" || protocol == "" {
				return usageError{fmt.Errorf("--dataset and --protocol are required")}
			}
			if protocol == "price-backtest" {
				for _, name := range []string{"k", "params", "config", "tune", "tune-carves", "folds", "min-rating", "cutoff-fraction", "negatives", "repeats", "valid-window"} {
					if cmd.Flags().Changed(name) {
						return usageError{fmt.Errorf("--%s: protocol price-backtest does not use it", name)}
					}
				}
				return runPriceBacktest(cmd.Context(), stdout, ds, opts.Cutoff, models, jsonPath, htmlPath)
			}
			p, err := protocols.Lookup(protocol)
			if err != nil {
				return usageError{fmt.Errorf("--protocol: %w", err)}
			}
			if _, isStore, err := storeDir(ds); save && (err != nil || !isStore) {
				if err != nil {
					return err
				}
				return usageError{fmt.Errorf("--save keeps the report in the evaluated store: it needs --dataset store:DATA-DIR, not %s", ds)}
			}
			if err := checkSplitFlags(cmd.Flags(), p); err != nil {
				return err
			}
			if err := needCutoff(p, opts); err != nil {
				return err
			}
			if carves < 1 {
				return usageError{fmt.Errorf("--tune-carves %d: must be at least 1", carves)}
			}
			cutoffs := p.Ks
			if ks != "" {
				if cutoffs, err = eval.ParseKs(ks); err != nil {
					return usageError{fmt.Errorf("--k: %w", err)}
				}
			}
			cands, err := candidates(cmd.Flags(), p, models, params, configs, tune, carves, seed)
			if err != nil {
				return err
			}
			ctx := withProgress(cmd.Context(), cmd.ErrOrStderr())
			opts.Seed = seed
			rep, err := runEval(ctx, ds, p, opts, cands, cutoffs, seed)
			if err != nil {
				return err
			}
			printEval(stdout, rep, cutoffs)
			if save {
				if err := saveEvalReport(ctx, ds, rep); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "Kept as the store's latest evaluation report (the dashboard shows it).\n")
			}
			return writeReports(rep, jsonPath, htmlPath)
		},
	}
	f := cmd.Flags()
	f.StringVar(&ds, "dataset", "", "FORMAT:PATH, such as movielens:../shared/data/ml-100k, or store:DATA-DIR for the events of a Tailor store")
	f.StringVar(&protocol, "protocol", "", "protocol: "+strings.Join(protocols.Names(), ", ")+", price-backtest")
	f.StringVar(&models, "models", "", "comma-separated models (default: the protocol's): "+strings.Join(all.Names(), ", "))
	f.StringVar(&ks, "k", "", "comma-separated cut-offs (default: the protocol's)")
	f.Uint64Var(&seed, "seed", 1, "seed of every random choice")
	f.StringVar(&jsonPath, "json", "", "also write the results as JSON to this file")
	f.BoolVar(&save, "save", false, "with --dataset store:DATA-DIR, keep the results in that store as its latest evaluation report (the admin dashboard shows it)")
	f.StringVar(&htmlPath, "report", "", "also write a self-contained HTML report with charts to this file")
	f.StringArrayVar(&params, "params", nil, `a model's parameters, MODEL={"name": value, ...}; repeat for several models`)
	f.StringArrayVar(&configs, "config", nil, "use the parameters in a file written by 'tailor tune'; repeat for several models")
	f.BoolVar(&tune, "tune", false, "choose each model's parameters (those without --params) on validation data only")
	f.IntVar(&carves, "tune-carves", 1, "with --tune: average each parameter set's validation NDCG over this many seeded validation tenths of each fold's training part")
	addSplitFlags(f, &opts)
	return cmd
}

// candidates builds the models to evaluate from --models (or the
// protocol's defaults), --params and --config, checking that each fits the
// protocol.
func candidates(flags *pflag.FlagSet, p eval.Protocol, models string, params, configs []string, tune bool, carves int, seed uint64) ([]eval.Candidate, error) {
	given := map[string]json.RawMessage{}
	for _, path := range configs {
		t, err := readTuned(path)
		if err != nil {
			return nil, err
		}
		given[t.Model] = t.Params
	}
	for _, s := range params {
		name, js, ok := strings.Cut(s, "=")
		if !ok || !json.Valid([]byte(js)) {
			return nil, usageError{fmt.Errorf("--params %q: expected MODEL={JSON object}", s)}
		}
		given[name] = json.RawMessage(js)
	}
	var cands []eval.Candidate
	if models == "" {
		for _, b := range p.Baselines {
			info, err := all.Lookup(b.Model)
			if err != nil {
				return nil, err
			}
			c := eval.Candidate{Info: info, Params: b.Params, Label: b.Label, Tune: tune && b.Params == nil, Carves: carves}
			if g, ok := given[b.Model]; ok && b.Params == nil {
				c.Params, c.Tune = g, false
				delete(given, b.Model)
			}
			cands = append(cands, c)
		}
	} else {
		for _, name := range strings.Split(models, ",") {
			info, err := all.Lookup(strings.TrimSpace(name))
			if err != nil {
				return nil, usageError{fmt.Errorf("--models: %w", err)}
			}
			if err := fitting("--models", info, p); err != nil {
				return nil, err
			}
			c := eval.Candidate{Info: info, Params: given[info.Name], Tune: tune && given[info.Name] == nil, Carves: carves}
			delete(given, info.Name)
			cands = append(cands, c)
		}
	}
	for name := range given {
		return nil, usageError{fmt.Errorf("--params names %q, which is not in --models", name)}
	}
	for i, c := range cands {
		if c.Params != nil {
			if _, err := c.Info.New(c.Params, seed); err != nil {
				return nil, usageError{fmt.Errorf("--params: %w", err)}
			}
		}
		// Search by meaning without word vectors falls back to LSA: say
		// so where the results are read.
		if m, err := c.Info.New(c.Params, seed); err == nil {
			if e, ok := m.(interface{ Embedder() string }); ok && e.Embedder() == "lsa" && !strings.Contains(string(c.Params), `"lsa"`) {
				cands[i].Label = cmp.Or(c.Label, c.Info.Name) + " (LSA: no word vectors; see 'tailor vectors install')"
			}
		}
	}
	return cands, nil
}

// writeReports writes the report as JSON and HTML where asked.
func writeReports(rep eval.Report, jsonPath, htmlPath string) error {
	if err := writeJSONFile(jsonPath, rep); err != nil {
		return err
	}
	if htmlPath == "" {
		return nil
	}
	var b bytes.Buffer
	if err := eval.WriteHTML(&b, rep); err != nil {
		return err
	}
	if err := os.WriteFile(htmlPath, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write --report: %w", err)
	}
	return nil
}

// writeJSONFile writes v, indented, to path ("" writes nothing).
func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}

func printEval(w io.Writer, rep eval.Report, ks []int) {
	fmt.Fprintf(w, "%s, protocol %s, seed %d, %d fold(s)\n", rep.Dataset, rep.Protocol, rep.Seed, rep.Folds)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	metrics := []string{eval.NDCG, eval.Precision, eval.Recall, eval.MAP, eval.MRR, eval.Hit, "coverage"}
	header := []string{"model"}
	for _, k := range ks {
		for _, m := range metrics {
			header = append(header, eval.Key(m, k))
		}
	}
	header = append(header, "cases", "train s", "p50 ms", "p99 ms", "cases/s", "model MiB")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rep.Results {
		row := []string{r.Model}
		for _, k := range ks {
			for _, m := range metrics {
				row = append(row, num(r.Metrics[eval.Key(m, k)]))
			}
		}
		row = append(row, fmt.Sprint(r.TestUsers), fmt.Sprintf("%.2f", r.TrainSeconds), fmt.Sprintf("%.3f", r.LatencyMs["p50"]),
			fmt.Sprintf("%.3f", r.LatencyMs["p99"]), fmt.Sprintf("%.0f", r.UsersPerSecond), fmt.Sprintf("%.2f", float64(r.ModelBytes)/(1<<20)))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	for _, r := range rep.Results {
		if r.Epochs > 0 {
			fmt.Fprintf(w, "%s: %d epochs on the first fold (the last ones without a better validation score), %.1f s an epoch\n",
				r.Model, r.Epochs, r.TrainSeconds/float64(rep.Folds)/float64(r.Epochs))
		}
	}
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

// runEval splits the dataset by the protocol and measures the candidates.
func runEval(ctx context.Context, ds string, p eval.Protocol, opts eval.Options, cands []eval.Candidate, ks []int, seed uint64) (eval.Report, error) {
	data, folds, err := splitData(ctx, ds, p, opts)
	if err != nil {
		return eval.Report{}, err
	}
	results, err := eval.Run(ctx, folds, cands, eval.RunOptions{Ks: ks, Seed: seed, FullRanking: p.FullRanking, WholeCatalog: p.WholeCatalog, Categories: data.Categories})
	if err != nil {
		return eval.Report{}, err
	}
	return eval.Report{Dataset: ds, Protocol: p.Name, Seed: seed, Folds: len(folds), Ks: ks, Results: results}, nil
}

// evaluateStore runs the temporal protocol (the last 20% of the events by
// time held out) over the store in dir for the models.
func evaluateStore(ctx context.Context, dir string, models []string, seed uint64) (eval.Report, error) {
	p, err := protocols.Lookup("temporal")
	if err != nil {
		return eval.Report{}, err
	}
	var cands []eval.Candidate
	for _, m := range models {
		info, err := all.Lookup(m)
		if err != nil {
			return eval.Report{}, err
		}
		cands = append(cands, eval.Candidate{Info: info})
	}
	return runEval(ctx, "store:"+dir, p, eval.Options{CutoffFraction: 0.8, Seed: seed}, cands, p.Ks, seed)
}

// saveEvalReport keeps rep as the latest evaluation report of the store
// named by spec ("store:DATA-DIR").
func saveEvalReport(ctx context.Context, spec string, rep eval.Report) error {
	dir, _, err := storeDir(spec)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, dir)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := putEvalReport(ctx, db, rep); err != nil {
		return fmt.Errorf("--save: %w", err)
	}
	return nil
}

// putEvalReport stores rep as the latest evaluation report.
func putEvalReport(ctx context.Context, rs store.ReportStore, rep eval.Report) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode the evaluation report: %w", err)
	}
	return rs.PutReport(ctx, store.Report{Kind: "evaluation", Body: body})
}

// storeDir returns the data folder of a "store:DATA-DIR" spec.
func storeDir(spec string) (string, bool, error) {
	dir, ok := strings.CutPrefix(spec, "store:")
	if !ok {
		return "", false, nil
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); err != nil {
		return "", true, fmt.Errorf("--dataset %s: no Tailor store there: %w", spec, err)
	}
	return dir, true, nil
}

// loadDataset reads --dataset for the models: an import format
// ("FORMAT:PATH") or a Tailor store ("store:DATA-DIR").
func loadDataset(ctx context.Context, spec string) (*dataset.Dataset, error) {
	dir, isStore, err := storeDir(spec)
	if err != nil {
		return nil, err
	}
	if !isStore {
		return dataset.Load(ctx, spec)
	}
	db, err := openStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	d, err := dataset.FromStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("--dataset %s: %w", spec, err)
	}
	return d, nil
}

// loadRecords reads the events and items of --dataset, for the analyses.
func loadRecords(ctx context.Context, spec string) (*dataset.Records, error) {
	dir, isStore, err := storeDir(spec)
	if err != nil {
		return nil, err
	}
	if !isStore {
		return dataset.ReadRecords(ctx, spec)
	}
	db, err := openStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	r, err := dataset.RecordsFromStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("--dataset %s: %w", spec, err)
	}
	return r, nil
}

// splitData reads the dataset and splits it by the protocol.
func splitData(ctx context.Context, spec string, p eval.Protocol, opts eval.Options) (*dataset.Dataset, []eval.Fold, error) {
	data, err := loadDataset(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	folds, err := p.Split(ctx, data, opts.Defaults())
	if err != nil {
		return nil, nil, fmt.Errorf("protocol %s: %w", p.Name, err)
	}
	for i, f := range folds {
		if len(f.Cases) == 0 {
			return nil, nil, fmt.Errorf("protocol %s: fold %d has no test cases", p.Name, i+1)
		}
	}
	return data, folds, nil
}
