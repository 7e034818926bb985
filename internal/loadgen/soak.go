package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SoakEventIDs bounds the ids of the events a soak writes: once they are
// all stored, the store stops growing and later batches are idempotent
// retries (counted as duplicates), so that the memory followed is the
// server's, not that of a growing data set.
const SoakEventIDs = 100000

// SoakOptions configure a soak: a long mixed load of reads, writes and
// hostile requests against a running server, sampling the server's memory
// from its /metrics as it goes.
type SoakOptions struct {
	// URL is the server's base URL. Key, when set, is sent as X-API-Key
	// and must have the admin role (the soak deletes shoppers it made).
	URL string
	Key string
	// Users and Items are ids the store holds; reads and most writes
	// draw from them. At least one of each.
	Users, Items []string
	// Clients is the number of concurrent clients (default 32), Duration
	// how long they run (default 30 min), Sample how often the server's
	// memory is read (default 10 s).
	Clients  int
	Duration time.Duration
	Sample   time.Duration
	// Seed seeds every random choice.
	Seed uint64
	// Progress, when set, is called with each sample as it is taken.
	Progress func(SoakSample)
}

// SoakSample is the server's state at one moment of a soak.
type SoakSample struct {
	// Seconds since the soak started.
	Seconds float64 `json:"seconds"`
	// RSSMB is the server's resident memory and HeapMB its Go heap in
	// use, in MiB; Goroutines its goroutines.
	RSSMB      float64 `json:"rss_mb"`
	HeapMB     float64 `json:"heap_mb"`
	Goroutines int     `json:"goroutines"`
	// Requests sent so far, and those answered with a 5xx other than 503.
	Requests     int64 `json:"requests"`
	ServerErrors int64 `json:"server_errors"`
}

// SoakResult is what a soak saw.
type SoakResult struct {
	Clients        int     `json:"clients"`
	Seconds        float64 `json:"seconds"`
	Requests       int64   `json:"requests"`
	RequestsPerSec float64 `json:"requests_per_second"`
	// ByKind counts the requests of each kind, ByStatus the answers of
	// each status (0: no answer: a transport error).
	ByKind   map[string]int64 `json:"by_kind"`
	ByStatus map[int]int64    `json:"by_status"`
	// Unexpected counts answers outside what the kind of request allows
	// (a 5xx other than 503, or a hostile request let through), with the
	// first few.
	Unexpected      int64        `json:"unexpected"`
	FirstUnexpected []string     `json:"first_unexpected,omitempty"`
	Samples         []SoakSample `json:"samples"`
	// RSS over the soak, in MiB: at the first sample after the first
	// tenth (warm), at the end, the largest, and the least-squares slope
	// over the second half in MiB per hour.
	WarmRSSMB      float64 `json:"warm_rss_mb"`
	EndRSSMB       float64 `json:"end_rss_mb"`
	MaxRSSMB       float64 `json:"max_rss_mb"`
	SlopeMBPerHour float64 `json:"second_half_slope_mb_per_hour"`
}

// soakRequest is one request of the mix and the statuses it may get.
type soakRequest struct {
	kind, method, path, body string
	// ok lists the statuses that are right for it; nil means 200.
	ok []int
}

// Soak runs the soak and reports what it saw. It fails only when the
// server cannot be reached at the start.
func Soak(ctx context.Context, o SoakOptions) (SoakResult, error) {
	if len(o.Users) == 0 || len(o.Items) == 0 {
		return SoakResult{}, errors.New("soak: the store must hold at least one shopper and one item")
	}
	if o.Clients <= 0 {
		o.Clients = 32
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Minute
	}
	if o.Sample <= 0 {
		o.Sample = 10 * time.Second
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients + 2, MaxConnsPerHost: o.Clients + 2}}
	defer client.CloseIdleConnections()
	s := &soaker{o: o, client: client, byKind: map[string]int64{}, byStatus: map[int]int64{}}
	first, err := s.sample(ctx, time.Now())
	if err != nil {
		return SoakResult{}, fmt.Errorf("soak: read the server's metrics: %w", err)
	}
	start := time.Now()
	first.Seconds = 0
	samples := []SoakSample{first}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for c := range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.Seed, uint64(c)))
			for n := 0; runCtx.Err() == nil; n++ {
				s.do(ctx, s.next(rng, c, n))
			}
		}()
	}
	tick := time.NewTicker(o.Sample)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-runCtx.Done():
			done = true
		case <-tick.C:
		}
		if sm, err := s.sample(ctx, start); err == nil {
			samples = append(samples, sm)
			if o.Progress != nil {
				o.Progress(sm)
			}
		}
	}
	wg.Wait()
	res := SoakResult{Clients: o.Clients, Seconds: time.Since(start).Seconds(), Requests: s.requests.Load(), ByKind: s.byKind, ByStatus: s.byStatus,
		Unexpected: s.unexpected.Load(), FirstUnexpected: s.firstUnexpected, Samples: samples}
	res.RequestsPerSec = float64(res.Requests) / res.Seconds
	res.WarmRSSMB, res.EndRSSMB, res.MaxRSSMB, res.SlopeMBPerHour = rssSummary(samples, o.Duration)
	return res, nil
}

// rssSummary reads the warm, last and largest RSS of the samples and the
// slope of a least-squares line through the second half.
func rssSummary(samples []SoakSample, d time.Duration) (warm, end, most, slope float64) {
	for _, sm := range samples {
		if warm == 0 && sm.Seconds >= d.Seconds()/10 {
			warm = sm.RSSMB
		}
		most = max(most, sm.RSSMB)
	}
	end = samples[len(samples)-1].RSSMB
	var n, sx, sy, sxx, sxy float64
	for _, sm := range samples {
		if sm.Seconds < d.Seconds()/2 {
			continue
		}
		x := sm.Seconds / 3600
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+sm.RSSMB, sxx+x*x, sxy+x*sm.RSSMB
	}
	if n >= 2 && n*sxx-sx*sx > 0 {
		slope = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	}
	return warm, end, most, slope
}

type soaker struct {
	o          SoakOptions
	client     *http.Client
	requests   atomic.Int64
	serverErrs atomic.Int64
	unexpected atomic.Int64

	mu              sync.Mutex
	byKind          map[string]int64
	byStatus        map[int]int64
	firstUnexpected []string
}

// eventTypes are drawn from for writes and for the type= lists of the
// event listings.
var eventTypes = []string{"view", "click", "add_to_cart", "remove_from_cart", "purchase", "rating", "return"}

// next draws client c's n-th request from the mix.
func (s *soaker) next(rng *rand.Rand, c, n int) soakRequest {
	user := s.o.Users[rng.IntN(len(s.o.Users))]
	item := s.o.Items[rng.IntN(len(s.o.Items))]
	esc := url.PathEscape
	switch p := rng.IntN(100); {
	case p < 30:
		if rng.IntN(20) == 0 { // a shopper the store has never seen
			user = fmt.Sprintf("soak-unknown-%d-%d", c, n)
		}
		return soakRequest{kind: "recommendations", method: "GET", path: "/v1/users/" + esc(user) + "/recommendations?n=10"}
	case p < 38:
		return soakRequest{kind: "similar", method: "GET", path: "/v1/items/" + esc(item) + "/similar?n=10"}
	case p < 41:
		return soakRequest{kind: "trending", method: "GET", path: "/v1/trending?n=20"}
	case p < 44:
		return soakRequest{kind: "buy-again", method: "GET", path: "/v1/users/" + esc(user) + "/buy-again"}
	case p < 50:
		// Unique queries: a cache keyed by query text must stay bounded.
		q := fmt.Sprintf("%s %x", []string{"tea", "candle", "heart", "bag", "mug", "box"}[rng.IntN(6)], rng.Uint32())
		return soakRequest{kind: "search", method: "GET", path: "/v1/search?n=10&q=" + url.QueryEscape(q) + "&user=" + url.QueryEscape(user)}
	case p < 55:
		// Type lists of every length: each shape is a different SQL text.
		var b strings.Builder
		for range 1 + rng.IntN(32) { // the most a listing takes
			b.WriteString("&type=" + eventTypes[rng.IntN(len(eventTypes))])
		}
		return soakRequest{kind: "events-by-type", method: "GET", path: "/v1/users/" + esc(user) + "/events?limit=20" + b.String()}
	case p < 57:
		return soakRequest{kind: "items", method: "GET", path: "/v1/items?limit=50"}
	case p < 60:
		body := fmt.Sprintf(`{"items":[%q,%q,%q],"n":10}`, item, s.o.Items[rng.IntN(len(s.o.Items))], s.o.Items[rng.IntN(len(s.o.Items))])
		return soakRequest{kind: "cart", method: "POST", path: "/v1/carts/recommendations", body: body}
	case p < 62:
		body := fmt.Sprintf(`{"items":[%q,%q],"n":10}`, item, s.o.Items[rng.IntN(len(s.o.Items))])
		return soakRequest{kind: "rerank", method: "POST", path: "/v1/users/" + esc(user) + "/rerank", body: body}
	case p < 74:
		// Event batches, mostly of known shoppers and items; one in
		// twenty names a new shopper (deleted again below).
		var b bytes.Buffer
		b.WriteByte('[')
		for i := range 1 + rng.IntN(10) {
			if i > 0 {
				b.WriteByte(',')
			}
			u := s.o.Users[rng.IntN(len(s.o.Users))]
			if rng.IntN(20) == 0 {
				u = fmt.Sprintf("soak-new-%d", rng.IntN(500))
			}
			fmt.Fprintf(&b, `{"id":"soak-%d","user_id":%q,"item_id":%q,"type":%q}`, rng.IntN(SoakEventIDs), u, s.o.Items[rng.IntN(len(s.o.Items))], eventTypes[rng.IntN(5)])
		}
		b.WriteByte(']')
		return soakRequest{kind: "events", method: "POST", path: "/v1/events", body: b.String(), ok: []int{200, 503}}
	case p < 78:
		body := fmt.Sprintf(`[{"id":"soak-sf-%d","user_id":%q,"item_id":%q,"type":"view"}]`, rng.IntN(SoakEventIDs/10), user, item)
		return soakRequest{kind: "storefront-events", method: "POST", path: "/v1/storefront/events", body: body, ok: []int{200, 503}}
	case p < 79:
		return soakRequest{kind: "delete-user", method: "DELETE", path: fmt.Sprintf("/v1/users/soak-new-%d", rng.IntN(500)), ok: []int{200, 404, 503}}
	}
	return s.hostile(rng, user, item)
}

// hostile draws a request that must be refused with a 4xx and leave no
// state behind.
func (s *soaker) hostile(rng *rand.Rand, user, item string) soakRequest {
	esc := url.PathEscape
	bad := []int{400}
	switch rng.IntN(11) {
	case 0: // more type values than the listing takes
		return soakRequest{kind: "hostile-many-types", method: "GET", path: "/v1/users/" + esc(user) + "/events" + "?type=view" + strings.Repeat("&type=click", 1000+rng.IntN(40000)), ok: bad}
	case 1: // malformed JSON, cut at a random place
		body := fmt.Sprintf(`[{"user_id":%q,"item_id":%q,"type":"view"}]`, user, item)
		return soakRequest{kind: "hostile-malformed", method: "POST", path: "/v1/events", body: body[:1+rng.IntN(len(body)-2)], ok: bad}
	case 2: // deep nesting
		d := 1 + rng.IntN(100000)
		return soakRequest{kind: "hostile-nesting", method: "POST", path: "/v1/events", body: strings.Repeat("[", d) + strings.Repeat("]", d), ok: bad}
	case 3: // invalid text and a lone surrogate
		body := fmt.Sprintf(`[{"user_id":"x\ud800%d","item_id":%q,"type":"view"},{"user_id":"`+"\xff\xfe"+`","item_id":%q,"type":"view"}]`, rng.IntN(1e6), item, item)
		return soakRequest{kind: "hostile-text", method: "POST", path: "/v1/events", body: body, ok: bad}
	case 4: // a duplicate key and a field in the wrong case
		body := fmt.Sprintf(`[{"user_id":%q,"USER_ID":"y","item_id":%q,"item_id":%q,"type":"view"}]`, user, item, item)
		return soakRequest{kind: "hostile-keys", method: "POST", path: "/v1/events", body: body, ok: bad}
	case 5: // an unknown query parameter of a random name
		return soakRequest{kind: "hostile-param", method: "GET", path: fmt.Sprintf("/v1/trending?p%x=1", rng.Uint64()), ok: bad}
	case 6: // attribute filters of random names
		return soakRequest{kind: "hostile-attr", method: "GET", path: fmt.Sprintf("/v1/users/%s/recommendations?attr.a%x=%d", esc(user), rng.Uint64(), rng.IntN(100)), ok: []int{200}}
	case 7: // a path that does not exist, of random length
		return soakRequest{kind: "hostile-path", method: "GET", path: "/v1/" + strings.Repeat("z", 1+rng.IntN(4000)), ok: []int{404}}
	case 8: // a time outside what the store holds
		return soakRequest{kind: "hostile-time", method: "GET", path: "/v1/users/" + esc(user) + "/events?since=0001-01-01T00:00:00Z", ok: bad}
	case 9: // a body of the wrong type
		return soakRequest{kind: "hostile-content-type", method: "POST", path: "/v1/carts/recommendations", body: `{"items":["x"]}`, ok: []int{415}}
	}
	// a scenario that does not exist, of a random name
	return soakRequest{kind: "hostile-scenario", method: "GET", path: fmt.Sprintf("/v1/trending?scenario=s%x", rng.Uint64()), ok: []int{400, 404}}
}

// do sends one request and counts its answer.
func (s *soaker) do(ctx context.Context, q soakRequest) {
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	status := 0
	req, err := http.NewRequestWithContext(ctx, q.method, s.o.URL+q.path, body)
	if err == nil {
		if q.body != "" {
			ct := "application/json"
			if q.kind == "hostile-content-type" {
				ct = "text/plain"
			}
			req.Header.Set("Content-Type", ct)
		}
		if s.o.Key != "" {
			req.Header.Set("X-API-Key", s.o.Key)
		}
		var resp *http.Response
		if resp, err = s.client.Do(req); err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
	}
	s.requests.Add(1)
	ok := q.ok
	if ok == nil {
		ok = []int{200}
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.serverErrs.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKind[q.kind]++
	s.byStatus[status]++
	if !slices.Contains(ok, status) && ctx.Err() == nil {
		s.unexpected.Add(1)
		if len(s.firstUnexpected) < 10 {
			path := q.path
			if len(path) > 120 {
				path = path[:120] + "…"
			}
			s.firstUnexpected = append(s.firstUnexpected, fmt.Sprintf("%s %s %s: %d %v", q.kind, q.method, path, status, err))
		}
	}
}

// sample reads the server's resident memory, heap and goroutines from its
// /metrics (the Prometheus text format).
func (s *soaker) sample(ctx context.Context, start time.Time) (SoakSample, error) {
	sm := SoakSample{Seconds: time.Since(start).Seconds(), Requests: s.requests.Load(), ServerErrors: s.serverErrs.Load()}
	req, err := http.NewRequestWithContext(ctx, "GET", s.o.URL+"/metrics", nil)
	if err != nil {
		return sm, err
	}
	if s.o.Key != "" {
		req.Header.Set("X-API-Key", s.o.Key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return sm, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sm, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			sm.RSSMB, found = f/(1<<20), found+1
		case "go_memstats_heap_inuse_bytes":
			sm.HeapMB = f / (1 << 20)
		case "go_goroutines":
			sm.Goroutines = int(f)
		}
	}
	if err := sc.Err(); err != nil {
		return sm, err
	}
	if found == 0 {
		return sm, errors.New("GET /metrics: no process_resident_memory_bytes")
	}
	return sm, nil
}
