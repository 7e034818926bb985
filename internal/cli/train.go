package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model/all"
	protocols "github.com/tailorhq/tailor/internal/protocol/all"
	"github.com/tailorhq/tailor/internal/train"
)

func newTrainCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		dataDir, configPath, modelName, params, tunedPath, slot, budget, storeURL, candidates string
		seed                                                                                  uint64
		noActivate, skipHoldout, asJSON, doSelect                                             bool
	)
	cmd := &cobra.Command{
		Use:   "train [--data-dir DIR] [--model NAME [--params JSON] | --config FILE | --select [--budget B]] [--no-activate]",
		Short: "Train a model version on the store's events and activate it",
		Long: `Train reads every event of the store, measures the model on a time holdout (the
last 10% of positive events by time; the metrics are kept with the version), fits
it on all the data, and saves it in the store's model registry as a new version,
which it activates unless --no-activate is given. A running 'tailor serve' loads
it within two seconds. With no model named it trains EASE for catalogs up to 20,000
items and iALS beyond. --config takes the model and parameters from a file written
by 'tailor tune' or 'tailor select'; --select chooses the model here, on the store's events
(see 'tailor select').`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			opts := train.Options{Model: modelName, Params: json.RawMessage(params), Slot: slot, Weights: cfgWeights(cfg),
				Activate: !noActivate, SkipHoldout: skipHoldout, Seed: seed, Lookup: all.Lookup}
			if tunedPath != "" {
				if modelName != "" || params != "" {
					return usageError{fmt.Errorf("--config: give either a tuned file or --model/--params, not both")}
				}
				t, err := readTuned(tunedPath)
				if err != nil {
					return usageError{err}
				}
				opts.Model, opts.Params = t.Model, t.Params
			}
			if doSelect {
				if modelName != "" || params != "" || tunedPath != "" {
					return usageError{fmt.Errorf("--select: give either --select or --model/--params/--config, not both")}
				}
				b, err := eval.ParseBudget(budget)
				if err != nil {
					return usageError{fmt.Errorf("--budget: %w", err)}
				}
				p, err := protocols.Lookup("temporal")
				if err != nil {
					return err
				}
				sc, err := runSelect(cmd.Context(), stdout, selectSpec{dataset: "store:" + storeLocation(storeURL, cfg, dataDir), protocol: p, servable: true, models: candidates, budget: b, budgetText: budget, k: 10, seed: seed,
					opts: eval.Options{CutoffFraction: 0.9, Repeats: "exclude"}})
				if err != nil {
					return err
				}
				if sc.best < 0 {
					return fmt.Errorf("--select: no model is within the budget %s; the table says what each misses", budgetText(budget))
				}
				opts.Model, opts.Params = sc.results[sc.best].Model, sc.results[sc.best].Params
				fmt.Fprintf(stdout, "Chosen: %s.\n", opts.Model)
			} else if budget != "" {
				return usageError{fmt.Errorf("--budget needs --select")}
			} else if candidates != "" {
				return usageError{fmt.Errorf("--models needs --select")}
			}
			if params != "" && !json.Valid([]byte(params)) {
				return usageError{fmt.Errorf("--params: not valid JSON: %s", params)}
			}
			if opts.Model != "" {
				if _, err := all.Lookup(opts.Model); err != nil {
					return usageError{fmt.Errorf("--model: %w", err)}
				}
			}
			start := time.Now()
			stopBar := func() {}
			if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				// A spinner with the step and the elapsed time; the steps
				// stay on screen as lines.
				bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(stderr), progressbar.OptionSpinnerType(14),
					progressbar.OptionSetElapsedTime(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
				stopSpin := make(chan struct{})
				go func() {
					t := time.NewTicker(100 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stopSpin:
							return
						case <-t.C:
							_ = bar.Add(1)
						}
					}
				}()
				stopBar = func() { close(stopSpin); _ = bar.Finish() }
				opts.Progress = func(step string) {
					bar.Describe(fmt.Sprintf("[%5.1fs] %s", time.Since(start).Seconds(), step))
				}
			}
			ctx := cmd.Context()
			db, err := openStore(ctx, storeLocation(storeURL, cfg, dataDir))
			if err != nil {
				return err
			}
			defer db.Close()
			v, err := train.Train(ctx, db, opts)
			stopBar()
			if err != nil {
				return err
			}
			if asJSON {
				b, err := json.MarshalIndent(v, "", "  ")
				if err != nil {
					return err
				}
				_, err = stdout.Write(append(b, '\n'))
				return err
			}
			state := "saved (not active)"
			if v.Active {
				state = "saved and activated"
			}
			fmt.Fprintf(stdout, "Model version %s (%s) %s in %.1f s; %d bytes; data until %s.\n",
				v.ID, v.Model, state, time.Since(start).Seconds(), v.Bytes, v.DataUntil.Format(time.RFC3339))
			if len(v.Metrics) > 0 {
				fmt.Fprintf(stdout, "Holdout (%s):\n  ndcg@10 %.4f, recall@10 %.4f, precision@10 %.4f, hit@10 %.4f over %.0f shoppers\n",
					v.Protocol, v.Metrics["ndcg@10"], v.Metrics["recall@10"], v.Metrics["precision@10"], v.Metrics["hit@10"], v.Metrics["test_users"])
			} else if !skipHoldout {
				fmt.Fprintln(stdout, "Holdout: too little data to hold any out; no metrics.")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", DefaultDataDir, "folder of the embedded store")
	f.StringVar(&storeURL, "store", "", "a PostgreSQL store (postgres://USER@HOST/DB) instead of the embedded one in --data-dir; TAILOR_STORE and the config's store.url do the same")
	f.StringVar(&configPath, "config-file", "", "configuration file (TOML): event weights")
	f.StringVar(&modelName, "model", "", "model to train (default: ease up to 20,000 items, else ials)")
	f.StringVar(&params, "params", "", "the model's parameters as JSON")
	f.StringVar(&tunedPath, "config", "", "a file written by 'tailor tune' (model and parameters)")
	f.StringVar(&slot, "slot", "default", "the registry slot")
	f.Uint64Var(&seed, "seed", 1, "seed of the model and the holdout")
	f.BoolVar(&noActivate, "no-activate", false, "save the version without activating it")
	f.BoolVar(&skipHoldout, "skip-holdout", false, "fit without measuring on a holdout first")
	f.BoolVar(&asJSON, "json", false, "print the version as JSON")
	f.BoolVar(&doSelect, "select", false, "choose the model first, as 'tailor select' does on the store's events (temporal, the last 10% for validation; models serve can use)")
	f.StringVar(&budget, "budget", "", "with --select: bounds the chosen model must meet (p99=5ms,memory=2GiB,train=10m)")
	f.StringVar(&candidates, "models", "", "with --select: comma-separated candidates (default: every model serve can use)")
	return cmd
}
