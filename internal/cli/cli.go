// Package cli implements the tailor command: its subcommands, their flags,
// and the wiring of the store, the importers and the server. It is the only
// place where components are put together.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/llm"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/postgres"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

// Version is the version the binary reports.
const Version = "0.1.0-dev"

// DefaultDataDir is where the embedded store lives when --data-dir is not
// given.
const DefaultDataDir = "./tailor-data"

// DefaultAddr is the address serve and demo listen on by default.
const DefaultAddr = "127.0.0.1:8080"

// dbFile is the SQLite file's name inside the data dir.
const dbFile = "tailor.db"

// Main runs the tailor command with args (without the program name) and
// returns the process exit code: 0 on success, 1 on failure, 2 on a usage
// error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "tailor: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "tailor: %v\n", err)
	return 1
}

// args wraps a cobra argument check so that its errors are usage errors.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{fmt.Errorf("%w (see 'tailor %s --help')", err, cmd.Name())}
		}
		return nil
	}
}

// usageError marks errors in the command line, reported with exit code 2.
type usageError struct{ error }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "tailor",
		Short:         "Tailor: a personalization engine for online shops",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	var cpuProfile, memProfile string
	var stopProfile func()
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (for go tool pprof)")
	root.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write an allocation profile of the command to this file when it ends (for go tool pprof)")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentFlags().MarkHidden("memprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if stopProfile != nil {
			stopProfile()
		}
		if memProfile == "" {
			return nil
		}
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see 'tailor %s --help')", err, c.Name())}
	})
	root.AddCommand(
		newImportCmd(stdout, stderr),
		newServeCmd(stdout, stderr),
		newDemoCmd(stdout, stderr),
		newKeysCmd(stdout),
		newBenchCmd(stdout, stderr),
		newEvalCmd(stdout),
		newPrepareCmd(stdout),
		newTuneCmd(stdout),
		newTrainCmd(stdout, stderr),
		newAnalyzeCmd(stdout),
		newPriceCmd(stdout),
		newVectorsCmd(stdout),
		newSelectCmd(stdout),
		newMigrateStoreCmd(stdout),
	)
	return root
}

// storeBackend is a store with its upkeep (checkpoints, partitions,
// tombstones), which serve runs beside the server: what every command
// opens, the embedded SQLite store or PostgreSQL.
type storeBackend interface {
	store.Store
	llm.EmbeddingStore
	Run(ctx context.Context) error
}

// storeSettings are the options of both backends.
type storeSettings struct {
	sqlite  sqlite.Options
	readURL string // PostgreSQL only
}

// storeLocation returns where a command's store is: the --store flag if
// given, else TAILOR_STORE or the configuration's store.url (cfg may be
// nil: the environment alone), else the embedded store in dataDir.
func storeLocation(flag string, cfg *config.Config, dataDir string) string {
	switch {
	case flag != "":
		return flag
	case cfg != nil && cfg.Store.URL != "":
		return cfg.Store.URL
	case os.Getenv("TAILOR_STORE") != "":
		return os.Getenv("TAILOR_STORE")
	}
	return dataDir
}

// openStore opens the store at loc: a postgres:// URL, or the folder of
// the embedded store (created if needed), with full durability.
func openStore(ctx context.Context, loc string) (storeBackend, error) {
	return openStoreWith(ctx, loc, storeSettings{})
}

// openStoreWith opens the store at loc with o.
func openStoreWith(ctx context.Context, loc string, o storeSettings) (storeBackend, error) {
	if postgres.IsURL(loc) {
		db, err := postgres.Open(ctx, loc, postgres.Options{ReadURL: o.readURL})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	if err := os.MkdirAll(loc, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(loc, dbFile), o.sqlite)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// storeOptions are the store's options under the configuration.
func storeOptions(cfg *config.Config) storeSettings {
	var o storeSettings
	if cfg.Server.Durability == "process" {
		o.sqlite.Durability = sqlite.DurabilityProcess
	}
	o.readURL = cfg.Store.ReadURL
	return o
}

// loadConfig loads the file at path, or the defaults when path is empty,
// and adds the keys of TAILOR_API_KEYS.
func loadConfig(path string) (*config.Config, error) {
	c := config.Default()
	if path != "" {
		var err error
		if c, err = config.Parse(path); err != nil {
			return nil, err
		}
	}
	if v := os.Getenv("TAILOR_API_KEYS"); v != "" {
		keys, err := config.KeysFromEnv(v)
		if err != nil {
			return nil, err
		}
		c.Auth.Keys = append(c.Auth.Keys, keys...)
	}
	if v := os.Getenv("TAILOR_STORE"); v != "" {
		c.Store.URL = v
	}
	if v := os.Getenv("TAILOR_REDIS_URL"); v != "" {
		c.Redis.URL = v
	}
	if v := os.Getenv("TAILOR_NATS_URL"); v != "" {
		c.NATS.URL = v
	}
	if v := os.Getenv("TAILOR_STORE_READ_URL"); v != "" {
		c.Store.ReadURL = v
	}
	if v := os.Getenv("TAILOR_TOKEN_SECRET"); v != "" {
		c.Auth.TokenSecret = v
	}
	if v := os.Getenv("TAILOR_LLM_API_KEY"); v != "" && c.LLM.BaseURL != "" {
		c.LLM.APIKey = v
	}
	// Validated once, with the environment's keys: a storefront key may
	// be one of them.
	if err := c.Validate(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, err
	}
	return c, nil
}
