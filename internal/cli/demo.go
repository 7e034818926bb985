package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/demo"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/insights"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/train"
)

// demoEvalModels are the models the demo evaluates for the dashboard.
var demoEvalModels = []string{"popular", "itemknn", "ease", "rp3beta", "ials", "bpr"}

// collectionCount says how many products assignCollections placed in how
// many collections.
type collectionCount struct{ items, collections int }

// assignCollections places every product without categories in a demo
// collection derived from its title, in one transaction.
func assignCollections(ctx context.Context, db store.Store) (collectionCount, error) {
	var all []tailor.Item
	if err := store.AllItems(ctx, db, func(it *tailor.Item) error { all = append(all, *it); return nil }); err != nil {
		return collectionCount{}, err
	}
	changed := demo.AssignCollections(all)
	seen := map[string]bool{}
	for _, it := range changed {
		seen[it.Categories[0]] = true
	}
	err := db.Update(ctx, func(w store.Writer) error { return w.UpsertItems(ctx, changed) })
	if err != nil {
		return collectionCount{}, fmt.Errorf("store the demo collections: %w", err)
	}
	return collectionCount{len(changed), len(seen)}, nil
}

// labelShoppers stores every shopper's segments as attributes, as POST
// /v1/analytics/segments does, so that the storefront can show them.
func labelShoppers(ctx context.Context, db interface {
	insights.Source
	insights.Writer
}) (int, error) {
	an := insights.New(db, 0)
	if err := an.Refresh(ctx); err != nil {
		return 0, fmt.Errorf("analyse the demo shoppers: %w", err)
	}
	ids, err := an.Apply(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("label the demo shoppers: %w", err)
	}
	return len(ids), nil
}

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		dataDir, addr string
		so            serveOptions
	)
	cmd := &cobra.Command{
		Use:   "demo [--data-dir DIR] [--addr HOST:PORT]",
		Short: "Load the bundled sample shop, train a model and serve recommendations",
		Long: `Demo creates the data dir, imports the bundled sample shop (a sample of the
UCI Online Retail data set) unless it holds data already, trains and activates the
default model unless one is active, and serves the API with recommendations.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := so.checkAnalysesEvery(); err != nil {
				return err
			}
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
				path, weeks, err := demo.WriteSampleEndingBy(dataDir, time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "The sample's dates (2010-12-01 to 2011-10-31) are moved forward by %d weeks, weekdays kept, so that it ends this week and what you do in the storefront follows on from it.\n", weeks)
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
				n, err := assignCollections(ctx, db)
				if err != nil {
					return err
				}
				labelled, err := labelShoppers(ctx, db)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "Labelled %d shoppers with their RFM segment, CLV tier and propensity band.\n", labelled)
				fmt.Fprintf(stdout, "Placed %d products in %d collections by the words of their titles (the data set has no categories).\n", n.items, n.collections)
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
				// A second version, not activated, so that the dashboard can
				// roll forward and back between two.
				alt, err := train.Train(ctx, db, train.Options{Model: "ials", Weights: cfgWeights(cfg), Lookup: all.Lookup, Seed: 1})
				if err != nil {
					return fmt.Errorf("train the demo's second model: %w", err)
				}
				fmt.Fprintf(stdout, "Model version %s (ials) trained and kept inactive (activate it from the dashboard's Models page).\n", alt.ID)
			} else if err != nil {
				return err
			}
			if _, err := db.Report(ctx, "evaluation"); errors.Is(err, store.ErrNotFound) {
				fmt.Fprintln(stdout, "\nEvaluating the models on the sample shop (protocol temporal, the last 20% of events held out) ...")
				start := time.Now()
				rep, err := evaluateStore(ctx, dataDir, demoEvalModels, 1)
				if err == nil {
					err = putEvalReport(ctx, db, rep)
				}
				if err != nil {
					return fmt.Errorf("evaluate the demo models: %w", err)
				}
				for _, r := range rep.Results {
					fmt.Fprintf(stdout, "  %-10s ndcg@10 %.4f  recall@10 %.4f\n", r.Model, r.Metrics["ndcg@10"], r.Metrics["recall@10"])
				}
				fmt.Fprintf(stdout, "Evaluated in %.1f s; the dashboard shows the report.\n", time.Since(start).Seconds())
			} else if err != nil {
				return err
			}
			users, err := db.Users(ctx, store.PageRequest{Limit: 1})
			if err != nil {
				return err
			}
			return serve(ctx, db, cfg, addr, stdout, stderr, so, func(a net.Addr) {
				base := "http://" + a.String()
				fmt.Fprintf(stdout, "\nOpen the storefront at %s/ (pick a shopper, search, buy) and the admin dashboard at %s/admin.\n", base, base)
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
	cmd.Flags().StringVar(&so.webuiDir, "webui-dir", "", "serve the web UI's files from this folder (internal/webui/assets of a checkout) instead of the built-in copy")
	// The demo's visitor clicks in the storefront, then looks at the
	// dashboard: the analyses of its small shop are read again every
	// minute, not every ten as in serve.
	cmd.Flags().DurationVar(&so.analysesEvery, "analyses-every", time.Minute, "how often the analyses (RFM, lifetime value, propensity, prices) are computed again when the store changed")
	return cmd
}
