package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/store/postgres"
	"golang.org/x/term"
)

func newImportCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		format, dataDir, configPath, storeURL string
		asJSON, strict                        bool
	)
	cmd := &cobra.Command{
		Use:   "import --format FORMAT [--data-dir DIR] FILE...",
		Short: "Import items, users and events from files",
		Long: `Import reads files in one of the formats below, checks every row, stores
what it accepts in one transaction, and prints a cleaning report.

Formats:
  jsonl          one JSON object per line with "kind": "item", "user" or "event"
  csv            a header row naming the columns (see README.md)
  movielens      a MovieLens folder: ml-100k or ml-latest-small
  online-retail  the UCI Online Retail CSV, plain or gzip`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "" {
				return usageError{fmt.Errorf("--format is required: one of %s", strings.Join(ingest.Formats(), ", "))}
			}
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			rules := cfg.Rules()
			ctx := cmd.Context()
			db, err := openStore(ctx, storeLocation(storeURL, cfg, dataDir))
			if err != nil {
				return err
			}
			defer db.Close()
			opts := ingest.Options{Format: format, Rules: &rules, Strict: strict}
			var bar *progressbar.ProgressBar
			if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("importing"), progressbar.OptionClearOnFinish(),
					progressbar.OptionThrottle(100_000_000))
				opts.Progress = barProgress{bar}
			}
			report, err := ingest.Import(ctx, db, args, opts)
			if bar != nil {
				bar.Finish()
			}
			// A strict import that failed still lists every bad row.
			if report != nil && (err == nil || errors.Is(err, ingest.ErrStrict)) {
				if asJSON {
					enc := json.NewEncoder(stdout)
					if encErr := enc.Encode(report); encErr != nil {
						return encErr
					}
				} else if werr := report.WriteText(stdout); werr != nil {
					return werr
				}
			}
			if err != nil {
				return fmt.Errorf("import failed, nothing was written: %w", err)
			}
			// PostgreSQL: the imported months get partitions of their own.
			if pg, ok := db.(*postgres.DB); ok {
				return pg.Maintain(ctx)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "input format: "+strings.Join(ingest.Formats(), ", "))
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultDataDir, "folder of the embedded store")
	cmd.Flags().StringVar(&storeURL, "store", "", "a PostgreSQL store (postgres://USER@HOST/DB) instead of the embedded one in --data-dir; TAILOR_STORE and the config's store.url do the same")
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (TOML)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail, writing nothing, if any row is rejected")
	return cmd
}

// barProgress shows an import's progress on a terminal.
type barProgress struct{ bar *progressbar.ProgressBar }

func (p barProgress) Start(total int64) { p.bar.ChangeMax64(total) }
func (p barProgress) Add(n int64)       { p.bar.Add64(n) }
