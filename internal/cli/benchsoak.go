package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/loadgen"
)

func newBenchSoakCmd(stdout io.Writer) *cobra.Command {
	var (
		o      loadgen.SoakOptions
		asJSON string
	)
	cmd := &cobra.Command{
		Use:   "soak --url URL [--key KEY] [--clients 32] [--duration 30m] [--sample 10s] [--json FILE]",
		Short: "Run a long mixed load of reads, writes and hostile requests and follow the server's memory",
		Long: `Bench soak sends a mixed load to a running server for a long time: recommendations,
similar items, trending, buy-again, search with unique queries, event listings with type
lists of every length, cart and rerank lists, event batches (their ids from a space of
100,000, so the store stops growing once they are in; some name new shoppers, who are
deleted again), storefront events, and hostile requests that must be refused (more
type values than allowed, malformed or deeply nested JSON, invalid text, duplicate keys,
unknown parameters, attribute filters and scenarios of random names, long unknown paths,
times out of range, wrong content types). Every answer is checked against what its kind
allows; a 5xx other than 503 is always wrong. The server's resident memory, Go heap and
goroutines are read from its /metrics every --sample, and the report gives the RSS once
warm, at the end, its largest, and its slope over the second half. The shoppers and items
drawn from are the first 1,000 of each the server lists (the key needs the admin role:
the soak deletes the shoppers it made).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if o.URL == "" {
				return usageError{fmt.Errorf("--url: required (the server to soak, such as http://127.0.0.1:8080)")}
			}
			if _, err := url.Parse(o.URL); err != nil {
				return usageError{fmt.Errorf("--url %q: %w", o.URL, err)}
			}
			var err error
			if o.Users, err = listIDs(o.URL+"/v1/users?limit=1000", o.Key); err != nil {
				return err
			}
			if o.Items, err = listIDs(o.URL+"/v1/items?limit=1000", o.Key); err != nil {
				return err
			}
			o.Progress = func(s loadgen.SoakSample) {
				if asJSON != "-" {
					fmt.Fprintf(stdout, "%6.0f s  RSS %6.1f MiB  heap %6.1f MiB  %4d goroutines  %9d requests  %d server errors\n",
						s.Seconds, s.RSSMB, s.HeapMB, s.Goroutines, s.Requests, s.ServerErrors)
				}
			}
			res, err := loadgen.Soak(ctx, o)
			if err != nil {
				return err
			}
			if asJSON != "" {
				w := stdout
				if asJSON != "-" {
					f, err := os.Create(asJSON)
					if err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			}
			if asJSON != "-" {
				fmt.Fprintf(stdout, "%d requests in %.0f s (%.0f/s) from %d clients; RSS warm %.1f MiB, end %.1f MiB, max %.1f MiB, second-half slope %+.1f MiB/hour; %d unexpected answers\n",
					res.Requests, res.Seconds, res.RequestsPerSec, res.Clients, res.WarmRSSMB, res.EndRSSMB, res.MaxRSSMB, res.SlopeMBPerHour, res.Unexpected)
				kinds := make([]string, 0, len(res.ByKind))
				for k := range res.ByKind {
					kinds = append(kinds, k)
				}
				slices.Sort(kinds)
				for _, k := range kinds {
					fmt.Fprintf(stdout, "  %-22s %9d\n", k, res.ByKind[k])
				}
				for _, u := range res.FirstUnexpected {
					fmt.Fprintln(stdout, "  unexpected:", u)
				}
			}
			if res.Unexpected > 0 {
				return fmt.Errorf("%d answers were not what their request allows", res.Unexpected)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.URL, "url", "", "the server's base URL")
	cmd.Flags().StringVar(&o.Key, "key", os.Getenv("TAILOR_BENCH_KEY"), "API key with the admin role (default $TAILOR_BENCH_KEY)")
	cmd.Flags().IntVar(&o.Clients, "clients", 32, "concurrent clients")
	cmd.Flags().DurationVar(&o.Duration, "duration", 30*time.Minute, "how long to run")
	cmd.Flags().DurationVar(&o.Sample, "sample", 10*time.Second, "how often to read the server's memory")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 1, "seed of every random choice")
	cmd.Flags().StringVar(&asJSON, "json", "", "write the result as JSON to this file (- for standard output, instead of the text)")
	return cmd
}

// listIDs reads the ids of the first page of a listing.
func listIDs(u, key string) ([]string, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	var ids []string
	for _, d := range page.Data {
		// Shoppers an earlier soak made come and go: leave them out.
		if !strings.HasPrefix(d.ID, "soak-") {
			ids = append(ids, d.ID)
		}
	}
	return ids, nil
}
