package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tailorhq/tailor/internal/store/postgres"
	"github.com/tailorhq/tailor/internal/store/storecopy"
)

func newMigrateStoreCmd(stdout io.Writer) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate-store --to postgres://USER@HOST/DB [--from DATA-DIR]",
		Short: "Copy a store into another, empty one (the embedded store into PostgreSQL, say)",
		Long: `Migrate-store copies everything a store holds into another, empty store: items,
shoppers and events (in one transaction of the destination), the model registry with
its artifacts and active versions, the scenarios, the reports and the impression counts.
Each side is a data dir (the embedded SQLite store) or a postgres:// URL. Stop the
servers of the source first: what they write during the copy may be missed.

Not copied: the tombstones of deleted events and shoppers (what was deleted stays
deleted, but a client's retry of a batch sent before a deletion would store it again
in the destination) and cached embeddings (computed again on use).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usageError{fmt.Errorf("--to is required: a postgres:// URL or a data dir")}
			}
			if from == to {
				return usageError{fmt.Errorf("--from and --to name the same store")}
			}
			ctx := cmd.Context()
			src, err := openStore(ctx, from)
			if err != nil {
				return fmt.Errorf("open the source: %w", err)
			}
			defer src.Close()
			dst, err := openStore(ctx, to)
			if err != nil {
				return fmt.Errorf("open the destination: %w", err)
			}
			defer dst.Close()
			start := time.Now()
			res, err := storecopy.Copy(ctx, dst, src, func(step string) { fmt.Fprintln(stdout, "Copied", step) })
			if err != nil {
				return fmt.Errorf("migrate-store: %w", err)
			}
			// PostgreSQL: the copied months get partitions of their own.
			if pg, ok := dst.(*postgres.DB); ok {
				if err := pg.Maintain(ctx); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdout, "Copied %d items, %d shoppers, %d events, %d model versions, %d scenarios, %d reports and %d impression counts in %.1f s.\n",
				res.Items, res.Users, res.Events, res.Models, res.Scenarios, res.Reports, res.Impressions, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", DefaultDataDir, "the source: a data dir or a postgres:// URL")
	cmd.Flags().StringVar(&to, "to", "", "the destination, empty: a postgres:// URL or a data dir")
	return cmd
}
