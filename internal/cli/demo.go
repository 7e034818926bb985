package cli

import (
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/demo"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/store"
)

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var dataDir, addr string
	cmd := &cobra.Command{
		Use:   "demo [--data-dir DIR] [--addr HOST:PORT]",
		Short: "Load the bundled sample shop and serve the API",
		Long: `Demo creates the data dir, imports the bundled sample shop (a sample of the
UCI Online Retail data set) unless it holds data already, and serves the API.`,
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
			users, err := db.Users(ctx, store.PageRequest{Limit: 1})
			if err != nil {
				return err
			}
			return serve(ctx, db, cfg, addr, stdout, stderr, func(a net.Addr) {
				base := "http://" + a.String()
				fmt.Fprintf(stdout, "Try:\n  curl '%s/v1/items?limit=3'\n  curl '%s/v1/items/85123A'\n", base, base)
				if len(users.Data) > 0 {
					fmt.Fprintf(stdout, "  curl '%s/v1/users/%s/events?limit=5'\n", base, users.Data[0].ID)
				}
				fmt.Fprintf(stdout, "  curl '%s/openapi.json'\nStop with Ctrl-C.\n", base)
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultDataDir, "folder of the embedded store")
	cmd.Flags().StringVar(&addr, "addr", DefaultAddr, "address to listen on")
	return cmd
}
