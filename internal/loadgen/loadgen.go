// Package loadgen drives an HTTP load against a Tailor server's event
// ingestion and measures throughput and latency. It is the engine of
// 'tailor bench events'.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Options configure a run. Zero fields take the documented defaults.
type Options struct {
	// URL is the server's base URL, such as http://127.0.0.1:8080.
	URL string
	// Key is the API key sent as X-API-Key; empty sends none.
	Key string
	// Batch is the number of events per request (default 1).
	Batch int
	// Clients is the number of concurrent clients (default 1).
	Clients int
	// Duration is how long to send (default 10s).
	Duration time.Duration
	// Warmup requests per client are sent first and not measured (default 5).
	Warmup int
	// Users and Items are the sizes of the id spaces drawn from
	// (defaults 10,000 and 5,000).
	Users, Items int
	// Seed seeds the event generator.
	Seed uint64
}

// Result is what a run measured. Latencies are in milliseconds.
type Result struct {
	Batch          int     `json:"batch"`
	Clients        int     `json:"clients"`
	Requests       int     `json:"requests"`
	Events         int     `json:"events"`
	Errors         int     `json:"errors"`
	Seconds        float64 `json:"seconds"`
	EventsPerSec   float64 `json:"events_per_second"`
	RequestsPerSec float64 `json:"requests_per_second"`
	P50Ms          float64 `json:"p50_ms"`
	P90Ms          float64 `json:"p90_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	// FirstError is the first failure seen, if any.
	FirstError string `json:"first_error,omitempty"`
}

type event struct {
	UserID string  `json:"user_id"`
	ItemID string  `json:"item_id"`
	Type   string  `json:"type"`
	Value  float64 `json:"value,omitempty"`
}

// bodies makes n distinct request bodies of batch events each. Events carry
// no id, so the server generates one and bodies can be sent again.
func bodies(n, batch, users, items int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x7a11))
	out := make([][]byte, n)
	for i := range out {
		evs := make([]event, batch)
		for j := range evs {
			e := event{UserID: fmt.Sprintf("u%d", r.IntN(users)), ItemID: fmt.Sprintf("i%d", r.IntN(items)), Type: "view"}
			if r.IntN(10) == 0 {
				e.Type, e.Value = "purchase", float64(1+r.IntN(3))
			}
			evs[j] = e
		}
		out[i], _ = json.Marshal(evs)
	}
	return out
}

// Run sends the load and reports what it measured.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Batch <= 0 {
		opts.Batch = 1
	}
	if opts.Clients <= 0 {
		opts.Clients = 1
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Warmup < 0 {
		opts.Warmup = 0
	} else if opts.Warmup == 0 {
		opts.Warmup = 5
	}
	if opts.Users <= 0 {
		opts.Users = 10000
	}
	if opts.Items <= 0 {
		opts.Items = 5000
	}
	pool := bodies(64, opts.Batch, opts.Users, opts.Items, opts.Seed)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opts.Clients, MaxConnsPerHost: opts.Clients}}
	defer client.CloseIdleConnections()
	post := func(body []byte) error {
		req, err := http.NewRequestWithContext(ctx, "POST", opts.URL+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if opts.Key != "" {
			req.Header.Set("X-API-Key", opts.Key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
		}
		return nil
	}
	// Warm up connections and the server.
	for i := 0; i < opts.Warmup*opts.Clients; i++ {
		if err := post(pool[i%len(pool)]); err != nil {
			return Result{}, fmt.Errorf("warm-up request: %w", err)
		}
	}

	var (
		rec recorder
		wg  sync.WaitGroup
	)
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	start := time.Now()
	for c := 0; c < opts.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			for i := c; runCtx.Err() == nil; i += opts.Clients {
				t0 := time.Now()
				err := post(pool[i%len(pool)])
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) || runCtx.Err() != nil {
						break
					}
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
	res := Result{Batch: opts.Batch, Clients: opts.Clients, Requests: len(rec.latencies), Events: len(rec.latencies) * opts.Batch,
		Errors: rec.errCount, Seconds: elapsed.Seconds()}
	if rec.firstErr != nil {
		res.FirstError = rec.firstErr.Error()
	}
	if len(rec.latencies) == 0 {
		return res, fmt.Errorf("no request succeeded: %v", rec.firstErr)
	}
	q := rec.quantiles()
	res.EventsPerSec = float64(res.Events) / res.Seconds
	res.RequestsPerSec = float64(res.Requests) / res.Seconds
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = q(0.50), q(0.90), q(0.99), q(1)
	return res, nil
}
