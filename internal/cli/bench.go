package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/loadgen"
)

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure whole jobs (see BENCHMARKS.md)",
	}
	var (
		opts       loadgen.Options
		runs       int
		asJSON     bool
		durability string
	)
	events := &cobra.Command{
		Use:   "events [--url URL] [--batch N] [--clients N] [--duration D] [--runs N] [--durability full|process]",
		Short: "Post events to a server and report throughput and latency",
		Long: `Bench events posts batches of generated events to POST /v1/events from concurrent
clients and reports events per second and request latency (p50, p90, p99, max).
Without --url it starts a server of its own on loopback over a fresh store in a
temporary folder, removed afterwards. With --runs N it runs N times and reports
each run and the median.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if runs < 1 {
				return usageError{fmt.Errorf("--runs %d: must be at least 1", runs)}
			}
			if durability != "full" && durability != "process" {
				return usageError{fmt.Errorf("--durability %q: must be full or process", durability)}
			}
			if opts.URL == "" {
				url, stop, err := startBenchServer(ctx, stderr, durability)
				if err != nil {
					return err
				}
				defer stop()
				opts.URL = url
			}
			var results []loadgen.Result
			for i := 0; i < runs; i++ {
				o := opts
				o.Seed = opts.Seed + uint64(i)
				res, err := loadgen.Run(ctx, o)
				if err != nil {
					return err
				}
				results = append(results, res)
				if !asJSON {
					printBench(stdout, fmt.Sprintf("run %d", i+1), res)
				}
			}
			med := slices.Clone(results)
			slices.SortFunc(med, func(a, b loadgen.Result) int {
				switch {
				case a.EventsPerSec < b.EventsPerSec:
					return -1
				case a.EventsPerSec > b.EventsPerSec:
					return 1
				}
				return 0
			})
			median := med[len(med)/2]
			if asJSON {
				return json.NewEncoder(stdout).Encode(map[string]any{"runs": results, "median": median})
			}
			if runs > 1 {
				printBench(stdout, "median", median)
			}
			return nil
		},
	}
	events.Flags().StringVar(&opts.URL, "url", "", "server base URL; empty starts one in-process")
	events.Flags().StringVar(&opts.Key, "key", os.Getenv("TAILOR_BENCH_KEY"), "API key with the write role (default $TAILOR_BENCH_KEY)")
	events.Flags().IntVar(&opts.Batch, "batch", 1000, "events per request")
	events.Flags().IntVar(&opts.Clients, "clients", 4, "concurrent clients")
	events.Flags().DurationVar(&opts.Duration, "duration", 10*time.Second, "how long each run sends")
	events.Flags().IntVar(&opts.Users, "users", 10000, "distinct users drawn from")
	events.Flags().IntVar(&opts.Items, "items", 5000, "distinct items drawn from")
	events.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of the event generator")
	events.Flags().IntVar(&runs, "runs", 1, "number of runs; the median is reported")
	events.Flags().StringVar(&durability, "durability", "full", "the started server's durability: full (each commit synced) or process (see the durability setting)")
	events.Flags().BoolVar(&asJSON, "json", false, "print the results as one JSON object")
	cmd.AddCommand(events, newBenchServeCmd(stdout, stderr), newBenchSoakCmd(stdout))
	return cmd
}

func printBench(w io.Writer, label string, r loadgen.Result) {
	fmt.Fprintf(w, "%-7s batch %5d, %3d clients: %9.0f events/s, %7.1f requests/s, latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors\n",
		label, r.Batch, r.Clients, r.EventsPerSec, r.RequestsPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Errors)
}

// startBenchServer serves a fresh store from a temporary folder on a free
// loopback port.
func startBenchServer(ctx context.Context, stderr io.Writer, durability string) (url string, stop func(), err error) {
	cfg := config.Default() // no keys: the server listens on loopback only
	cfg.Server.Durability = durability
	dir, err := os.MkdirTemp("", "tailor-bench-")
	if err != nil {
		return "", nil, err
	}
	db, err := openStoreWith(ctx, dir, storeOptions(cfg))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(sctx, db, cfg, "127.0.0.1:0", io.Discard, stderr, serveOptions{}, func(a net.Addr) { ready <- "http://" + a.String() })
	}()
	stop = func() {
		cancel()
		<-done
		db.Close()
		os.RemoveAll(dir)
	}
	select {
	case url = <-ready:
		return url, stop, nil
	case err := <-done:
		db.Close()
		os.RemoveAll(dir)
		cancel()
		return "", nil, err
	}
}
