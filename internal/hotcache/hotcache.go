// Package hotcache keeps what serving replicas read hot in Redis, shared by
// every replica: each shopper's newest events, the page a replica reads to
// build the shopper's history, and the rankings replicas compute. A
// replica that has not seen the shopper (or whose copy was dropped because
// their events changed) reads the page from Redis instead of the store.
//
// Rankings (a model version's best items for a history or an item, before
// business rules) are kept under a key that names what made them: the
// version and a hash of the question (recommend.Options.Shared). They are
// never stale, since the same version answers the same question the same
// way on every replica; they expire after RankingTTL (default 10 min), and
// at a memory bound they are evicted as pages are. A replica that computed
// a ranking keeps it there, so the others, and itself after a restart,
// read it instead of scoring the catalog again.
//
// The cache is never stale past a write: each shopper's entry carries a
// generation, which every write of their events increments (Invalidate)
// after it commits; a page is kept under the generation read before the
// store was, and served only while the generation is still that one. A
// page read from the store while a write commits is so either newer than
// its generation says (harmless) or never served.
//
// Memory: every entry expires after its time to live, and a Redis with
// maxmemory and an LRU policy evicts entries at the bound; an evicted
// entry only costs its next reader a read from the store (a generation
// lost with it restarts from zero, and a page kept under an older count
// than the current one is never served). With the noeviction policy a
// full Redis refuses to keep pages (reads go to the store) while writes
// still invalidate: Invalidate deletes an entry whose generation it
// cannot increment. If Redis cannot be reached at all during a write, a
// page kept before it may be served until its time to live ends: keep
// that short (the default is 30 s, serve's history time to live).
package hotcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Options configure a Cache.
type Options struct {
	// URL is the Redis server, such as redis://127.0.0.1:6379/0.
	URL string
	// Prefix starts every key the cache writes (default "tailor:").
	Prefix string
	// TTL is how long an entry lives (default 30 s).
	TTL time.Duration
	// RankingTTL is how long a ranking lives (default 10 min).
	RankingTTL time.Duration
	// Timeout bounds each call to Redis (default 50 ms): past it the
	// store is read.
	Timeout time.Duration
	// Registerer, if set, receives the cache's metrics.
	Registerer prometheus.Registerer
}

// Cache is a shared cache of shoppers' newest events. It is safe for
// concurrent use.
type Cache struct {
	client     *redis.Client
	prefix     string
	ttl        time.Duration
	timeout    time.Duration
	rankPrefix string
	rankTTL    time.Duration

	mu       sync.Mutex
	downTill time.Time
	lastErr  error

	requests, rankings *prometheus.CounterVec
}

// backoff is how long the cache leaves Redis alone after a failure.
const backoff = time.Second

// New makes a cache; it does not connect until first used.
func New(opts Options) (*Cache, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = "tailor:"
	}
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 50 * time.Millisecond
	}
	if opts.RankingTTL <= 0 {
		opts.RankingTTL = 10 * time.Minute
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = 4*opts.Timeout, opts.Timeout, opts.Timeout
	ro.MaxRetries = -1
	ro.DialerRetries = 1 // one dial: a replica does not wait for a Redis that is down
	c := &Cache{client: redis.NewClient(ro), prefix: opts.Prefix + "hist:", ttl: opts.TTL, timeout: opts.Timeout,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_hotcache_requests_total",
			Help: "Shoppers' event pages asked of the shared Redis cache: hit, miss (read from the store and kept), or error (Redis did not answer; read from the store)."},
			[]string{"result"}),
		rankings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_hotcache_rankings_total",
			Help: "Rankings asked of (hit, miss, error) and kept in (kept, refused: Redis full under noeviction, error) the shared Redis cache."},
			[]string{"result"}),
		rankPrefix: opts.Prefix + "rank:", rankTTL: opts.RankingTTL,
	}
	if opts.Registerer != nil {
		for _, m := range []prometheus.Collector{c.requests, c.rankings} {
			if err := opts.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("hotcache: metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Close closes the connections to Redis.
func (c *Cache) Close() error { return c.client.Close() }

// Check returns the last error from Redis while it is failing.
func (c *Cache) Check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr != nil {
		return fmt.Errorf("shoppers' events are read from the store: %w", c.lastErr)
	}
	return nil
}

func (c *Cache) down() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.downTill)
}

func (c *Cache) failed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.downTill, c.lastErr = time.Now().Add(backoff), err
}

func (c *Cache) answered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = nil
}

// fill keeps a page under the generation its reader saw, if the entry's
// generation is still that one. KEYS[1] the entry; ARGV: the generation,
// the limit, the page, the time to live in ms.
var fill = redis.NewScript(`
local g = tonumber(redis.call('HGET', KEYS[1], 'g') or '0')
if g ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'dg', ARGV[1], 'l', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// Events returns the newest limit events of a shopper, from the cache, or
// from read (the store) when the cache has no current page or Redis does
// not answer.
func (c *Cache) Events(ctx context.Context, user tailor.UserID, limit int, read func() (store.Page[tailor.Event], error)) (store.Page[tailor.Event], error) {
	if c.down() {
		c.requests.WithLabelValues("error").Inc()
		return read()
	}
	key := c.prefix + string(user)
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	vals, err := c.client.HMGet(rctx, key, "g", "dg", "l", "d").Result()
	cancel()
	if err != nil {
		c.failed(err)
		c.requests.WithLabelValues("error").Inc()
		return read()
	}
	gen := field(vals[0])
	if d, ok := vals[3].(string); ok && field(vals[1]) == gen && field(vals[2]) == int64(limit) {
		var page store.Page[tailor.Event]
		if err := json.Unmarshal([]byte(d), &page); err == nil {
			c.answered()
			c.requests.WithLabelValues("hit").Inc()
			return page, nil
		}
	}
	page, err := read()
	if err != nil {
		return page, err
	}
	c.requests.WithLabelValues("miss").Inc()
	b, err := json.Marshal(page)
	if err != nil {
		return page, nil
	}
	rctx, cancel = context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := fill.Run(rctx, c.client, []string{key}, gen, limit, b, c.ttl.Milliseconds()).Err(); err != nil && !isOOM(err) {
		c.failed(err)
	} else {
		c.answered()
	}
	return page, nil
}

// Invalidate moves the shoppers' generations on, after a write of their
// events committed, so that no page read before it is served again.
func (c *Cache) Invalidate(ctx context.Context, users ...tailor.UserID) {
	if len(users) == 0 || c.down() {
		return // Redis down: pages kept before it expire within the TTL
	}
	rctx, cancel := context.WithTimeout(ctx, 4*c.timeout)
	defer cancel()
	pipe := c.client.Pipeline()
	for _, u := range users {
		key := c.prefix + string(u)
		pipe.HIncrBy(rctx, key, "g", 1)
		pipe.PExpire(rctx, key, c.ttl)
	}
	_, err := pipe.Exec(rctx)
	if err == nil {
		return
	}
	// A full Redis (noeviction) refuses the increment but not a
	// deletion, which invalidates as well.
	dels := make([]string, len(users))
	for i, u := range users {
		dels[i] = c.prefix + string(u)
	}
	if derr := c.client.Del(rctx, dels...).Err(); derr != nil {
		c.failed(errors.Join(err, derr))
	}
}

// Ranking returns the ranking kept under key, if any. A Redis that does
// not answer is a miss (and is left alone for a second).
func (c *Cache) Ranking(ctx context.Context, key string) ([]byte, bool) {
	if c.down() {
		c.rankings.WithLabelValues("error").Inc()
		return nil, false
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	b, err := c.client.Get(rctx, c.rankPrefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		c.rankings.WithLabelValues("miss").Inc()
		return nil, false
	case err != nil:
		c.failed(err)
		c.rankings.WithLabelValues("error").Inc()
		return nil, false
	}
	c.answered()
	c.rankings.WithLabelValues("hit").Inc()
	return b, true
}

// KeepRanking keeps a ranking under key for RankingTTL. A full Redis
// (noeviction) refuses it, which costs nothing but the next reader's
// scoring.
func (c *Cache) KeepRanking(ctx context.Context, key string, ranking []byte) {
	if c.down() {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := c.client.Set(rctx, c.rankPrefix+key, ranking, c.rankTTL).Err()
	switch {
	case err == nil:
		c.rankings.WithLabelValues("kept").Inc()
	case isOOM(err):
		c.rankings.WithLabelValues("refused").Inc()
	default:
		c.failed(err)
		c.rankings.WithLabelValues("error").Inc()
	}
}

// isOOM reports whether Redis refused a write for want of memory.
func isOOM(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && len(re.Error()) >= 3 && re.Error()[:3] == "OOM"
}

// field reads an integer hash field (absent: 0).
func field(v any) int64 {
	s, ok := v.(string)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
