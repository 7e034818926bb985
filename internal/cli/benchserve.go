package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/loadgen"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/store"
)

func newBenchServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		dataDir, endpoint, filters, configPath string
		opts                                   loadgen.GetOptions
		runs, freshness                        int
		swapEvery, historyTTL                  time.Duration
		asJSON                                 bool
	)
	cmd := &cobra.Command{
		Use:   "serve --data-dir DIR [--config FILE] [--endpoint recommendations|similar|trending|search|sessions] [--filters QUERY] [--clients 16] [--duration 10s]",
		Short: "Drive the recommendation endpoints of a server over loopback and report throughput and latency",
		Long: `Bench serve starts a server in-process on loopback over the store in --data-dir
(which must have an active model version: run 'tailor train' first) and has
--clients concurrent clients GET one endpoint for --duration: recommendations for
up to 2,000 of the store's shoppers in turn, similar items for up to 2,000 of its
items, trending, search (the first two words of item titles, personalized for shoppers) or
sessions (anonymous sessions of 2 to 4 catalog items, POSTed). --filters adds query parameters (such as
'in_stock=true&max_per_category=3'). It reports requests/s and latency p50, p90,
p99, p99.9 and max, and the rate of the warm-up before each run (every path once,
from what the server had cached before: the first pass of a fresh server); with
--runs N, each run and the median by throughput. --data-dir may be a PostgreSQL
URL (postgres://…). The
runs start once the server has built its background models (search index, content
vectors, session model), which it reports first.

--swap-every D activates the two newest versions in turn every D during each run
and counts failed requests. --freshness N then measures, N times, how long a posted
purchase takes to leave that shopper's recommendations (it writes N purchase events
into the store: use a copy).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if !slices.Contains([]string{"recommendations", "similar", "trending", "search", "sessions"}, endpoint) {
				return usageError{fmt.Errorf("--endpoint %q: use recommendations, similar, trending, search or sessions", endpoint)}
			}
			if runs < 1 || freshness < 0 || swapEvery < 0 {
				return usageError{errors.New("--runs must be at least 1, --freshness and --swap-every not negative")}
			}
			if _, err := url.ParseQuery(filters); err != nil {
				return usageError{fmt.Errorf("--filters %q: %w", filters, err)}
			}
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			db, err := openStore(ctx, dataDir)
			if err != nil {
				return err
			}
			defer db.Close()
			versions, err := db.ModelVersions(ctx, "default")
			if err != nil {
				return err
			}
			if _, err := db.ActiveModel(ctx, "default"); err != nil {
				return fmt.Errorf("bench serve: %w", err)
			}
			if swapEvery > 0 && len(versions) < 2 {
				return fmt.Errorf("bench serve: --swap-every needs two model versions; the registry has %d", len(versions))
			}
			users, items, titles, err := benchIDs(ctx, db)
			if err != nil {
				return err
			}
			paths := benchPaths(endpoint, filters, users, items, titles)
			if len(paths) == 0 {
				return fmt.Errorf("bench serve: the store has no %s to ask about", map[string]string{"recommendations": "shoppers", "similar": "items"}[endpoint])
			}
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ready, warm := make(chan string, 1), make(chan struct{})
			done := make(chan error, 1)
			started := time.Now()
			go func() {
				so := serveOptions{historyTTL: historyTTL, warm: func() { close(warm) }}
				done <- serve(sctx, db, cfg, "127.0.0.1:0", io.Discard, stderr, so, func(a net.Addr) { ready <- "http://" + a.String() })
			}()
			var base string
			select {
			case base = <-ready:
			case err := <-done:
				return err
			}
			defer func() { cancel(); <-done }()
			// Measure the steady state: the server first builds its search
			// index, content vectors and session model in the background.
			select {
			case <-warm:
			case err := <-done:
				return err
			}
			if !asJSON {
				fmt.Fprintf(stdout, "server started and built its background models in %.2f s\n", time.Since(started).Seconds())
			}
			opts.URL, opts.Paths = base, paths
			if endpoint == "sessions" {
				// Sessions of two to four catalog items, as anonymous shoppers.
				opts.Paths = []string{"/v1/sessions/recommendations"}
				for k := 0; k+4 <= len(items); k += 4 {
					b, _ := json.Marshal(map[string]any{"items": items[k : k+2+k%3], "n": 10})
					opts.Bodies = append(opts.Bodies, string(b))
				}
			}
			var swaps, swapFailures int
			if swapEvery > 0 {
				opts.During = func(ctx context.Context) {
					t := time.NewTicker(swapEvery)
					defer t.Stop()
					for i := 0; ; i++ {
						select {
						case <-ctx.Done():
							return
						case <-t.C:
						}
						resp, err := http.Post(base+"/v1/models/"+versions[i%2].ID+"/activate", "application/json", nil)
						swaps++
						if err != nil || resp.StatusCode != 200 {
							swapFailures++
						}
						if resp != nil {
							resp.Body.Close()
						}
					}
				}
			}
			var results []loadgen.GetResult
			for i := 0; i < runs; i++ {
				res, err := loadgen.Gets(ctx, opts)
				if err != nil {
					return err
				}
				results = append(results, res)
				if !asJSON {
					printGets(stdout, fmt.Sprintf("run %d", i+1), endpoint, res)
				}
			}
			med := slices.Clone(results)
			slices.SortFunc(med, func(a, b loadgen.GetResult) int { return cmp.Compare(a.RequestsPerSec, b.RequestsPerSec) })
			median := med[len(med)/2]
			out := map[string]any{"endpoint": endpoint, "filters": filters, "runs": results, "median": median}
			if runs > 1 && !asJSON {
				printGets(stdout, "median", endpoint, median)
			}
			if swapEvery > 0 {
				out["swaps"], out["swap_failures"] = swaps, swapFailures
				if !asJSON {
					fmt.Fprintf(stdout, "model swaps during the runs: %d (%d failed)\n", swaps, swapFailures)
				}
			}
			if freshness > 0 {
				fr, err := benchFreshness(ctx, base, users, freshness)
				if err != nil {
					return err
				}
				out["freshness_ms"] = fr
				if !asJSON {
					fmt.Fprintf(stdout, "event → recommendations: %d probes, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", freshness, fr["p50"], fr["p99"], fr["max"])
				}
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "the server's config file (such as [llm] vectors = \"off\")")
	f.StringVar(&dataDir, "data-dir", DefaultDataDir, "folder of the embedded store (with an active model version)")
	f.StringVar(&endpoint, "endpoint", "recommendations", "recommendations, similar, trending, search or sessions")
	f.StringVar(&filters, "filters", "", "query parameters added to every request, such as 'in_stock=true&max_per_category=3'")
	f.IntVar(&opts.Clients, "clients", 16, "concurrent clients")
	f.DurationVar(&opts.Duration, "duration", 10*time.Second, "how long each run sends")
	f.IntVar(&runs, "runs", 1, "number of runs; the median is reported")
	f.DurationVar(&swapEvery, "swap-every", 0, "activate the two newest versions in turn this often during the runs")
	f.IntVar(&freshness, "freshness", 0, "probes of event-to-recommendation delay (writes purchase events)")
	f.BoolVar(&asJSON, "json", false, "print the results as one JSON object")
	f.DurationVar(&historyTTL, "history-ttl", 30*time.Second, "the server's history cache lifetime (1ns: read every history from the store)")
	return cmd
}

func printGets(w io.Writer, label, endpoint string, r loadgen.GetResult) {
	fmt.Fprintf(w, "%-7s %s, %d clients: %8.0f requests/s, latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms, %d errors; first pass %d requests at %.0f requests/s\n",
		label, endpoint, r.Clients, r.RequestsPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.P999Ms, r.MaxMs, r.Errors, r.FirstPassRequests, r.FirstPassPerSec)
}

// errEnough stops a listing that has read enough.
var errEnough = errors.New("enough")

// benchIDs returns up to 2,000 shoppers with events and 2,000 items, with
// the items' titles.
func benchIDs(ctx context.Context, db store.Store) (users, items []string, titles map[string]string, err error) {
	titles = map[string]string{}
	err = store.AllUsers(ctx, db, func(u *tailor.User) error {
		users = append(users, string(u.ID))
		if len(users) == 2000 {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, nil, nil, err
	}
	err = store.AllItems(ctx, db, func(it *tailor.Item) error {
		if !it.NonProduct && !it.Hidden {
			items = append(items, string(it.ID))
			titles[string(it.ID)] = it.Title
		}
		if len(items) == 2000 {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, nil, nil, err
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return users, items, titles, nil
}

func benchPaths(endpoint, filters string, users, items []string, titles map[string]string) []string {
	q := "?n=10"
	if filters != "" {
		q += "&" + filters
	}
	var paths []string
	switch endpoint {
	case "recommendations":
		for _, u := range users {
			paths = append(paths, "/v1/users/"+url.PathEscape(u)+"/recommendations"+q)
		}
	case "similar":
		for _, it := range items {
			paths = append(paths, "/v1/items/"+url.PathEscape(it)+"/similar"+q)
		}
	case "trending":
		paths = []string{"/v1/trending" + q}
	case "sessions":
		paths = []string{"/v1/sessions/recommendations"}
	case "search":
		// The first two words of an item's title, as a shopper for whom the
		// results are personalized.
		for k, it := range items {
			words := strings.Fields(titles[it])
			if len(words) == 0 || len(users) == 0 {
				continue
			}
			query := strings.ToLower(strings.Join(words[:min(2, len(words))], " "))
			paths = append(paths, "/v1/search"+q+"&q="+url.QueryEscape(query)+"&user="+url.QueryEscape(users[k%len(users)]))
		}
	}
	return paths
}

// benchFreshness posts a purchase of each probed shopper's top item and
// polls until it leaves their recommendations, returning quantiles in ms.
func benchFreshness(ctx context.Context, base string, users []string, probes int) (map[string]float64, error) {
	var ds []float64
	for i := 0; i < probes; i++ {
		u := users[i%len(users)]
		var r recommend.Response
		if err := getJSON(ctx, base+"/v1/users/"+url.PathEscape(u)+"/recommendations?n=1", &r); err != nil {
			return nil, err
		}
		if len(r.Items) == 0 {
			continue
		}
		item := r.Items[0].ItemID
		body := fmt.Sprintf(`[{"user_id":%q,"item_id":%q,"type":"purchase"}]`, u, item)
		start := time.Now()
		resp, err := http.Post(base+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		for {
			if err := getJSON(ctx, base+"/v1/users/"+url.PathEscape(u)+"/recommendations?n=1", &r); err != nil {
				return nil, err
			}
			if len(r.Items) == 0 || r.Items[0].ItemID != item {
				break
			}
			if time.Since(start) > 10*time.Second {
				return nil, fmt.Errorf("a purchase of %s by %s was still recommended after 10 s", item, u)
			}
			time.Sleep(5 * time.Millisecond)
		}
		ds = append(ds, float64(time.Since(start).Microseconds())/1000)
	}
	if len(ds) == 0 {
		return nil, errors.New("no shopper had a recommendation to probe")
	}
	slices.Sort(ds)
	q := func(p float64) float64 { return ds[int(p*float64(len(ds)-1))] }
	return map[string]float64{"p50": q(0.5), "p99": q(0.99), "max": q(1)}, nil
}

func getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
