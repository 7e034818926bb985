package loadgen

import (
	"slices"
	"sync"
	"time"
)

// recorder gathers a run's latencies and failures from concurrent clients.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errCount  int
	firstErr  error
}

// fail counts a failed request, keeping the first error.
func (r *recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errCount++
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// add adds one client's latencies.
func (r *recorder) add(local []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, local...)
}

// quantiles sorts the latencies and returns their quantile function, in
// milliseconds; call it after the clients are done, with latencies.
func (r *recorder) quantiles() func(p float64) float64 {
	slices.Sort(r.latencies)
	return func(p float64) float64 {
		return float64(r.latencies[int(p*float64(len(r.latencies)-1))].Microseconds()) / 1000
	}
}
