package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/demo"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/train"
)

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var dataDir, addr string
	cmd := &cobra.Command{
		Use:   "demo [--data-dir DIR] [--addr HOST:PORT]",
		Short: "Load the bundled sample shop, train a model and serve recommendations",
		Long: `Demo creates the data dir, imports the bundled sample shop (a sample of the
UCI Online Retail data set) unless it holds data already, trains and activates the
default model unless one is active, and serves the API with recommendations.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := loadConfig("")
			if err != nil {
				return err
			}
			db, err := openStore(ctx, dataDir)
			if err != nil {
				return err
			}
			defer db.Close()
			counts, err := db.Counts(ctx)
			if err != nil {
				return err
			}
			if counts.Events == 0 {
				path, err := demo.WriteSample(dataDir)
				if err != nil {
					return err
				}
				rules := cfg.Rules()
				fmt.Fprintf(stdout, "Importing the sample shop from %s ...\n", path)
				report, err := ingest.Import(ctx, db, []string{path}, ingest.Options{Format: "online-retail", Rules: &rules})
				if err != nil {
					return fmt.Errorf("import the demo sample: %w", err)
				}
				if err := report.WriteText(stdout); err != nil {
					return err
				}
				counts.Items, counts.Users, counts.Events = report.Items, report.Users, report.Events
			} else {
				fmt.Fprintf(stdout, "The data dir %s holds data already; not importing the sample again.\n", dataDir)
			}
			fmt.Fprintf(stdout, "\nLoaded: %d items, %d shoppers, %d events (%s).\n", counts.Items, counts.Users, counts.Events, demo.Credit)
			if _, err := db.ActiveModel(ctx, "default"); errors.Is(err, store.ErrNotFound) {
				fmt.Fprintln(stdout, "\nTraining the default model on the sample shop ...")
				start := time.Now()
				v, err := train.Train(ctx, db, train.Options{Weights: cfgWeights(cfg), Lookup: all.Lookup, Activate: true, Seed: 1})
				if err != nil {
					return fmt.Errorf("train the demo model: %w", err)
				}
				fmt.Fprintf(stdout, "Model version %s (%s) trained and activated in %.1f s", v.ID, v.Model, time.Since(start).Seconds())
				if len(v.Metrics) > 0 {
					fmt.Fprintf(stdout, "; holdout ndcg@10 %.4f, recall@10 %.4f", v.Metrics["ndcg@10"], v.Metrics["recall@10"])
				}
				fmt.Fprintln(stdout, ".")
			} else if err != nil {
				return err
			}
			users, err := db.Users(ctx, store.PageRequest{Limit: 1})
			if err != nil {
				return err
			}
			return serve(ctx, db, cfg, addr, stdout, stderr, serveOptions{}, func(a net.Addr) {
				base := "http://" + a.String()
				fmt.Fprintf(stdout, "Try:\n  curl '%s/v1/items?limit=3'\n  curl '%s/v1/items/85123A/similar?n=5'\n  curl '%s/v1/trending?n=5'\n", base, base, base)
				if len(users.Data) > 0 {
					u := users.Data[0].ID
					fmt.Fprintf(stdout, "  curl '%s/v1/users/%s/recommendations?n=5'\n  curl '%s/v1/users/%s/events?limit=5'\n", base, u, base, u)
				}
				fmt.Fprintf(stdout, "  curl -X POST '%s/v1/sessions/recommendations' -d '{\"items\":[\"85123A\",\"71053\"],\"n\":5}'\n", base)
				fmt.Fprintf(stdout, "  curl '%s/v1/models'\n  curl '%s/openapi.json'\nStop with Ctrl-C.\n", base, base)
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultDataDir, "folder of the embedded store")
	cmd.Flags().StringVar(&addr, "addr", DefaultAddr, "address to listen on")
	return cmd
}
