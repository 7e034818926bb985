// Package sharedlimit keeps API keys' rate limits in Redis, so that
// every serving replica draws on one budget per key: with three replicas
// behind a load balancer, a key limited to 50 requests a second gets 50,
// not 150.
//
// The limit is GCRA (the generic cell rate algorithm: a token bucket kept
// as one timestamp per key), run in Redis as one script on Redis's own
// clock, so replicas' clocks do not matter. A key's entry expires when its
// bucket is full again; Redis holds nothing for idle keys.
//
// When Redis does not answer, Allow returns an error and the caller falls
// back to a limit of its own; the limiter then leaves Redis alone for a
// second before trying again, so that a Redis outage costs requests no
// waiting.
package sharedlimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// gcra is the script: KEYS[1] the key's entry, ARGV[1] the emission
// interval (microseconds a request uses), ARGV[2] the burst. It returns
// {allowed (0/1), microseconds to wait before a retry}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new = tat + interval
local allow_at = new - burst * interval
if now < allow_at then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new, 'PX', math.ceil((new - now) / 1000) + 1)
return {1, 0}
`)

// Options configure a Limiter.
type Options struct {
	// URL is the Redis server, such as redis://127.0.0.1:6379/0.
	URL string
	// Prefix starts every key the limiter writes (default "tailor:").
	Prefix string
	// Timeout bounds each call to Redis (default 50 ms): past it the
	// request is limited by the replica alone.
	Timeout time.Duration
	// Registerer, if set, receives the limiter's metrics.
	Registerer prometheus.Registerer
}

// Limiter is a rate limiter shared through Redis. It is safe for
// concurrent use.
type Limiter struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration

	mu       sync.Mutex
	downTill time.Time // Redis is not asked before then
	lastErr  error

	up        prometheus.Gauge
	fallbacks prometheus.Counter
}

// backoff is how long the limiter leaves Redis alone after a failure.
const backoff = time.Second

// ErrDown is wrapped by Allow's error while Redis is left alone after a
// failure.
var ErrDown = errors.New("redis is down")

// New makes a limiter; it does not connect until the first Allow.
func New(opts Options) (*Limiter, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 50 * time.Millisecond
	}
	if opts.Prefix == "" {
		opts.Prefix = "tailor:"
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = 4*opts.Timeout, opts.Timeout, opts.Timeout
	ro.MaxRetries = -1
	ro.DialerRetries = 1 // one dial: a replica does not wait for a Redis that is down // a retry would double the wait; the caller falls back
	l := &Limiter{client: redis.NewClient(ro), prefix: opts.Prefix + "ratelimit:", timeout: opts.Timeout,
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tailor_redis_up",
			Help: "1 while Redis, which keeps the keys' shared rate limits, answers; 0 while each replica limits alone."}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_ratelimit_local_total",
			Help: "Requests rate-limited by this replica alone because Redis did not answer."}),
	}
	l.up.Set(1)
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{l.up, l.fallbacks} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("sharedlimit: metrics: %w", err)
			}
		}
	}
	return l, nil
}

// Close closes the connections to Redis.
func (l *Limiter) Close() error { return l.client.Close() }

// Allow takes one request from the named key's shared budget of rate
// requests a second with bursts of burst. It reports whether the request
// may go on, and if not how long to wait. An error means Redis did not
// answer: the caller limits the request by itself.
func (l *Limiter) Allow(ctx context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	l.mu.Lock()
	down := time.Now().Before(l.downTill)
	l.mu.Unlock()
	if down {
		l.fallbacks.Inc()
		return false, 0, ErrDown
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	interval := int64(math.Ceil(1e6 / rate))
	res, err := gcra.Run(ctx, l.client, []string{l.prefix + key}, interval, max(burst, 1)).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("the rate-limit script answered %v", res)
	}
	if err != nil {
		l.mu.Lock()
		l.downTill, l.lastErr = time.Now().Add(backoff), err
		l.mu.Unlock()
		l.up.Set(0)
		l.fallbacks.Inc()
		return false, 0, fmt.Errorf("%w: %w", ErrDown, err)
	}
	l.up.Set(1)
	l.mu.Lock()
	l.lastErr = nil
	l.mu.Unlock()
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// Check returns the last error from Redis while it is failing, nil when
// it answered last (a health check).
func (l *Limiter) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastErr != nil {
		return fmt.Errorf("rate limits are kept by each replica alone: %w", l.lastErr)
	}
	return nil
}
