package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// GetOptions configure a read load: clients repeatedly GET paths of a
// fixed list, in turn.
type GetOptions struct {
	// URL is the server's base URL; Paths are appended to it.
	URL   string
	Paths []string
	// Bodies, when set, makes the requests POSTs of these JSON bodies
	// (in turn, with the paths in turn).
	Bodies []string
	// Key is sent as X-API-Key when not empty.
	Key string
	// Clients is the number of concurrent clients (default 16) and
	// Duration how long they send (default 10 s), after a warm-up in which
	// every path is requested once and each client sends at least Warmup
	// requests (default 20).
	Clients  int
	Duration time.Duration
	Warmup   int
	// During, if set, runs beside the measured load (such as model swaps)
	// until the load stops.
	During func(ctx context.Context)
}

// GetResult is what a read load measured. Latencies are in milliseconds.
type GetResult struct {
	Clients        int     `json:"clients"`
	Requests       int     `json:"requests"`
	Errors         int     `json:"errors"`
	Seconds        float64 `json:"seconds"`
	RequestsPerSec float64 `json:"requests_per_second"`
	P50Ms          float64 `json:"p50_ms"`
	P90Ms          float64 `json:"p90_ms"`
	P99Ms          float64 `json:"p99_ms"`
	P999Ms         float64 `json:"p999_ms"`
	MaxMs          float64 `json:"max_ms"`
	FirstError     string  `json:"first_error,omitempty"`
	// FirstPass is the warm-up's rate: every path once (and at least
	// Warmup requests a client) before the measured run, on whatever
	// the server had cached before; FirstPassRequests is how many.
	FirstPassRequests int     `json:"first_pass_requests"`
	FirstPassPerSec   float64 `json:"first_pass_requests_per_second"`
}

// Gets runs a read load and reports throughput and latency; every non-200
// answer counts as an error.
func Gets(ctx context.Context, opts GetOptions) (GetResult, error) {
	if len(opts.Paths) == 0 {
		return GetResult{}, errors.New("loadgen: no paths to request")
	}
	if opts.Clients <= 0 {
		opts.Clients = 16
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Warmup <= 0 {
		opts.Warmup = 20
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opts.Clients, MaxConnsPerHost: opts.Clients}}
	defer client.CloseIdleConnections()
	next := 0
	var nextMu sync.Mutex
	get := func(ctx context.Context, path string) error {
		method, body := "GET", io.Reader(nil)
		if len(opts.Bodies) > 0 {
			nextMu.Lock()
			b := opts.Bodies[next%len(opts.Bodies)]
			next++
			nextMu.Unlock()
			method, body = "POST", strings.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, opts.URL+path, body)
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if opts.Key != "" {
			req.Header.Set("X-API-Key", opts.Key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
		}
		return err
	}
	var wg sync.WaitGroup
	perClient := max(opts.Warmup, (len(opts.Paths)+opts.Clients-1)/opts.Clients)
	firstPass := time.Now()
	for c := 0; c < opts.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				_ = get(ctx, opts.Paths[(c*perClient+i)%len(opts.Paths)])
			}
		}(c)
	}
	wg.Wait()
	firstPassRequests, firstPassTime := opts.Clients*perClient, time.Since(firstPass)

	var rec recorder
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	if opts.During != nil {
		wg.Add(1)
		go func() { defer wg.Done(); opts.During(runCtx) }()
	}
	start := time.Now()
	for c := 0; c < opts.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for i := c * 7919; runCtx.Err() == nil; i++ {
				t0 := time.Now()
				// Requests in flight when the run ends finish on ctx, not
				// runCtx, so that the end is not counted as a failure.
				err := get(ctx, opts.Paths[i%len(opts.Paths)])
				if err != nil {
					rec.fail(err)
					continue
				}
				local = append(local, time.Since(t0))
			}
			rec.add(local)
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := GetResult{Clients: opts.Clients, Requests: len(rec.latencies), Errors: rec.errCount, Seconds: elapsed.Seconds(),
		FirstPassRequests: firstPassRequests, FirstPassPerSec: float64(firstPassRequests) / firstPassTime.Seconds()}
	if rec.firstErr != nil {
		res.FirstError = rec.firstErr.Error()
	}
	if len(rec.latencies) == 0 {
		return res, fmt.Errorf("no request succeeded: %v", rec.firstErr)
	}
	q := rec.quantiles()
	res.RequestsPerSec = float64(res.Requests) / res.Seconds
	res.P50Ms, res.P90Ms, res.P99Ms, res.P999Ms, res.MaxMs = q(0.5), q(0.9), q(0.99), q(0.999), q(1)
	return res, nil
}
