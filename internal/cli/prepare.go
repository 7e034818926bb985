package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/feature"
)

func newPrepareCmd(stdout io.Writer) *cobra.Command {
	var (
		dataset, configPath string
		opts                feature.PrepareOptions
		halfLife            time.Duration
		asJSON              bool
	)
	cmd := &cobra.Command{
		Use:   "prepare --dataset FORMAT:PATH|store:DIR [--config FILE] [options]",
		Short: "Build the training matrix from events and report what each step did",
		Long: `Prepare reads events (from an import format or a Tailor store), cleans them
(duplicates, returns netted against purchases, users with too many events,
minimum support, iterative k-core), weighs them by event type (the config's
events.weights), optionally decays them with a half-life and turns weights into
confidences, and reports what each step removed or changed.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataset == "" {
				return usageError{fmt.Errorf("--dataset is required")}
			}
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			opts.Weights = map[tailor.EventType]float64{}
			for t, w := range cfg.Events.Weights {
				opts.Weights[tailor.EventType(t)] = w
			}
			opts.HalfLife = halfLife
			ctx := cmd.Context()
			data, err := loadRecords(ctx, dataset)
			if err != nil {
				return err
			}
			opts.SkipItem = data.NonProduct
			if opts.HalfLife > 0 {
				for _, e := range data.Events {
					if e.Timestamp.After(opts.Now) {
						opts.Now = e.Timestamp
					}
				}
			}
			_, rep, err := feature.Prepare(data.Events, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(rep)
			}
			fmt.Fprintf(stdout, "Prepared %s: %d events\n", dataset, rep.Events)
			for _, s := range rep.Steps {
				line := fmt.Sprintf("  %-40s removed %8d", s.Name, s.Removed)
				if s.Changed > 0 {
					line += fmt.Sprintf(", changed %8d", s.Changed)
				}
				if s.Note != "" {
					line += " (" + s.Note + ")"
				}
				fmt.Fprintln(stdout, line)
			}
			fmt.Fprintf(stdout, "Matrix: %d users × %d items, %d pairs (density %.4f%%)\n", rep.Users, rep.Items, rep.Pairs,
				100*float64(rep.Pairs)/float64(max(1, rep.Users*rep.Items)))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "", "FORMAT:PATH (an import format) or store:DATA-DIR")
	f.StringVar(&configPath, "config", "", "configuration file (TOML) with events.weights")
	f.BoolVar(&opts.UseRating, "use-rating", false, "multiply rating events' weight by the rating")
	f.BoolVar(&opts.NetReturns, "net-returns", false, "subtract returns from the same user's purchases of the item")
	f.IntVar(&opts.MaxUserEvents, "max-user-events", 0, "drop users with more events than this (bots); 0 keeps all")
	f.IntVar(&opts.MinUserSupport, "min-user", 0, "drop users with fewer distinct items")
	f.IntVar(&opts.MinItemSupport, "min-item", 0, "drop items with fewer distinct users")
	f.IntVar(&opts.KCore, "kcore", 0, "iterative k-core on users and items; 0 skips it")
	f.DurationVar(&halfLife, "half-life", 0, "time decay half-life, measured back from the latest event (such as 720h)")
	f.Float64Var(&opts.ConfidenceAlpha, "confidence-alpha", 0, "turn weights into 1 + α·log(1 + w/ε); 0 keeps them")
	f.Float64Var(&opts.ConfidenceEps, "confidence-eps", 1, "ε of the confidence")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
