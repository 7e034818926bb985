package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/fanout/natstest"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/redistest"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/postgres/pgtest"
	"github.com/tailorhq/tailor/internal/train"
)

// TestReplicasOnPostgres runs the sample shop on one PostgreSQL store with
// two serving replicas and no NATS: import and train through --store, a
// version activated through one replica is served by the other within a
// second (the store's LISTEN/NOTIFY; the registry is polled every 2 s),
// an event posted to one changes the other's recommendations within a
// second (their history time to live is the default 30 s), and a shopper
// deleted through one is gone from the other.
func TestReplicasOnPostgres(t *testing.T) {
	url := pgtest.Store(t)
	dir := t.TempDir()
	importSampleInto(t, dir, "--store", url)
	version := regexp.MustCompile(`Model version (\S+) \((\w+)\) saved and activated`)
	code, out, errOut := runMain(t, "train", "--store", url, "--model", "itemknn", "--skip-holdout")
	m := version.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("train itemknn: %d %s %s", code, out, errOut)
	}
	older := m[1]
	code, out, errOut = runMain(t, "train", "--store", url, "--skip-holdout")
	if m = version.FindStringSubmatch(out); code != 0 || m == nil {
		t.Fatalf("train: %d %s %s", code, out, errOut)
	}
	newer := m[1]

	// Each replica has a data dir of its own, which must stay empty: the
	// store is the database.
	dirA, dirB := t.TempDir(), t.TempDir()
	a, _ := startCmd(t, "serve", "--store", url, "--data-dir", dirA, "--addr", "127.0.0.1:0")
	b, _ := startCmd(t, "serve", "--store", url, "--data-dir", dirB, "--addr", "127.0.0.1:0")
	for _, d := range []string{dirA, dirB} {
		if files, _ := filepath.Glob(filepath.Join(d, "*")); len(files) > 0 {
			t.Errorf("a replica wrote %v", files)
		}
	}

	var models struct {
		Serving recommend.Status `json:"serving"`
	}
	if code := call(t, "GET", b+"/v1/models", "", &models); code != 200 || models.Serving.Version == nil || models.Serving.Version.ID != newer {
		t.Fatalf("replica B serves %+v, want %s", models.Serving, newer)
	}
	waitFor(t, 5*time.Second, "the replicas to listen", func() bool {
		return metric(t, a, "tailor_fanout_connected") == 1 && metric(t, b, "tailor_fanout_connected") == 1
	})
	if code := call(t, "POST", a+"/v1/models/"+older+"/activate", "", nil); code != 200 {
		t.Fatalf("activate through A: %d", code)
	}
	waitFor(t, time.Second, "replica B to serve the version activated through A", func() bool {
		var r recommend.Response
		return call(t, "GET", b+"/v1/users/12350/recommendations?n=5", "", &r) == 200 && r.ModelVersion == older
	})

	// A purchase posted to A leaves B's recommendations within a second.
	const user = "12350"
	purchaseReaches(t, a, b, user, 3*time.Second)
	if n := metric(t, b, `tailor_fanout_received_total{kind="events"}`); n < 1 {
		t.Errorf("B received %v events messages", n)
	}

	// A shopper deleted through A is gone on B.
	if code := call(t, "DELETE", a+"/v1/users/"+user, "", nil); code != 200 {
		t.Fatalf("delete through A: %d", code)
	}
	if code := call(t, "GET", b+"/v1/users/"+user, "", nil); code != 404 {
		t.Errorf("the deleted shopper on B: %d, want 404", code)
	}
	if code := call(t, "GET", b+"/v1/users/"+user+"/events", "", nil); code != 404 {
		t.Errorf("the deleted shopper's events on B: %d, want 404", code)
	}
}

// waitFor polls cond every 50 ms until it holds, failing the test after
// limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMigrateStore copies the sample shop's embedded store, with two model
// versions, a scenario and its reports, into PostgreSQL: the copy holds the
// same records, events in the same order, the same registry (artifacts
// byte for byte, the same active version), scenarios and reports; a
// second copy into it is refused.
func TestMigrateStore(t *testing.T) {
	dir := importSample(t)
	for _, m := range []string{"itemknn", "ease"} {
		if code, out, errOut := runMain(t, "train", "--data-dir", dir, "--model", m, "--skip-holdout"); code != 0 {
			t.Fatalf("train %s: %d %s %s", m, code, out, errOut)
		}
	}
	ctx := context.Background()
	src, err := openStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.PutScenario(ctx, "home", json.RawMessage(`{"n":12}`)); err != nil {
		t.Fatal(err)
	}
	src.Close()

	url := pgtest.Store(t)
	code, out, errOut := runMain(t, "migrate-store", "--from", dir, "--to", url)
	if code != 0 || !strings.Contains(out, "2 model versions, 1 scenarios, 1 reports") {
		t.Fatalf("migrate-store: %d %s %s", code, out, errOut)
	}
	if src, err = openStore(ctx, dir); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := openStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	sc, _ := src.Counts(ctx)
	dc, _ := dst.Counts(ctx)
	if sc != dc || sc.Events == 0 {
		t.Errorf("counts: source %+v, copy %+v", sc, dc)
	}
	scan := func(s store.Store) []tailor.Event {
		var out []tailor.Event
		if err := s.ScanEvents(ctx, store.EventQuery{}, func(e *tailor.Event) error { out = append(out, *e); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if diff := cmp.Diff(scan(src), scan(dst)); diff != "" {
		t.Errorf("events (-source +copy):\n%s", diff)
	}
	for _, id := range []tailor.ItemID{"22423", "85123A"} {
		a, errA := src.Item(ctx, id)
		b, errB := dst.Item(ctx, id)
		if errA != nil || errB != nil || !cmp.Equal(a, b) {
			t.Errorf("item %s: source %+v (%v), copy %+v (%v)", id, a, errA, b, errB)
		}
	}
	sv, _ := src.ModelVersions(ctx, "")
	dv, _ := dst.ModelVersions(ctx, "")
	if diff := cmp.Diff(sv, dv); diff != "" || len(sv) != 2 {
		t.Errorf("model versions (-source +copy):\n%s", diff)
	}
	for _, v := range sv {
		a, _ := src.ModelArtifact(ctx, v.ID)
		b, err := dst.ModelArtifact(ctx, v.ID)
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("artifact of %s: %d bytes, copy %d (%v)", v.ID, len(a), len(b), err)
		}
	}
	if r, err := dst.Scenario(ctx, "home"); err != nil || string(r) != `{"n":12}` {
		t.Errorf("scenario: %s %v", r, err)
	}
	if _, err := dst.Report(ctx, "import"); err != nil {
		t.Errorf("import report: %v", err)
	}

	code, _, errOut = runMain(t, "migrate-store", "--from", dir, "--to", url)
	if code == 0 || !strings.Contains(errOut, "the destination store is not empty") {
		t.Errorf("a second copy: %d %s", code, errOut)
	}
}

// TestRetrainingFailsOver runs two replicas with scheduled retraining on
// one PostgreSQL store: one trains, the other does not; when the leader
// stops, the other takes over at its next tick.
func TestRetrainingFailsOver(t *testing.T) {
	url := pgtest.Store(t)
	dir := t.TempDir()
	importSampleInto(t, dir, "--store", url)
	start := func() *retrainer { return startRetrainer(t, url) }
	a, b := start(), start()
	trained := func(r *retrainer) int { return strings.Count(r.log.String(), "retrained and activated") }
	waitFor(t, 60*time.Second, "three retrainings", func() bool { return trained(a)+trained(b) >= 3 })
	leader, other := a, b
	if trained(b) > 0 {
		leader, other = b, a
	}
	if trained(other) > 0 {
		t.Fatalf("both replicas retrained: %d and %d", trained(leader), trained(other))
	}
	leader.cancel()
	if err := <-leader.done; err != nil {
		t.Errorf("the leader's serve: %v", err)
	}
	waitFor(t, 60*time.Second, "the other replica to retrain", func() bool { return trained(other) > 0 })
	if !strings.Contains(other.log.String(), "this replica now leads retrain") {
		t.Errorf("the new leader did not say so:\n%s", other.log.String())
	}
}

// TestReplicasShareThroughNATS runs three replicas on one PostgreSQL store
// that share their changes through NATS and shoppers' events through
// Redis: with histories kept for the default 30 s, a purchase posted to A
// still leaves B's recommendations within a second, a version activated
// through A is loaded by B and C on A's word (their metrics count it), not
// at their next look at the registry, and a shopper's events read by one
// replica are read by another from Redis.
func TestReplicasShareThroughNATS(t *testing.T) {
	natsURL := natstest.URL(t)
	url := pgtest.Store(t)
	dir := t.TempDir()
	importSampleInto(t, dir, "--store", url)
	version := regexp.MustCompile(`Model version (\S+) \((\w+)\) saved and activated`)
	var versions []string
	for _, m := range []string{"itemknn", "ease"} {
		code, out, errOut := runMain(t, "train", "--store", url, "--model", m, "--skip-holdout")
		v := version.FindStringSubmatch(out)
		if code != 0 || v == nil {
			t.Fatalf("train %s: %d %s %s", m, code, out, errOut)
		}
		versions = append(versions, v[1])
	}
	cfg := filepath.Join(dir, "tailor.toml")
	redisURL := "redis://" + redistest.Addr(t) + "/0"
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[nats]\nurl = %q\nstream = %q\n\n[redis]\nurl = %q\nprefix = %q\n",
		natsURL, natstest.Stream(t, natsURL), redisURL, redistest.Prefix())), 0o644); err != nil {
		t.Fatal(err)
	}
	a, outA := startCmd(t, "serve", "--store", url, "--config", cfg, "--addr", "127.0.0.1:0")
	b, _ := startCmd(t, "serve", "--store", url, "--config", cfg, "--addr", "127.0.0.1:0")
	c, _ := startCmd(t, "serve", "--store", url, "--config", cfg, "--addr", "127.0.0.1:0")
	if !strings.Contains(outA.String(), "Sharing changes with the other replicas through NATS") {
		t.Fatalf("replica A does not say it shares:\n%s", outA.String())
	}
	waitFor(t, 10*time.Second, "the replicas to connect to NATS", func() bool {
		return metric(t, a, "tailor_fanout_connected") == 1 && metric(t, b, "tailor_fanout_connected") == 1 && metric(t, c, "tailor_fanout_connected") == 1
	})
	time.Sleep(300 * time.Millisecond) // each consumes from the moment it connected

	const user = "12350"
	purchaseReaches(t, a, b, user, 5*time.Second)

	if code := call(t, "POST", a+"/v1/models/"+versions[0]+"/activate", "", nil); code != 200 {
		t.Fatalf("activate through A: %d", code)
	}
	for _, r := range []string{b, c} {
		waitFor(t, 5*time.Second, "the others to serve the version activated through A", func() bool {
			var res recommend.Response
			return call(t, "GET", r+"/v1/users/"+user+"/recommendations?n=5", "", &res) == 200 && res.ModelVersion == versions[0]
		})
		if n := metric(t, r, `tailor_fanout_received_total{kind="activated"}`); n != 1 {
			t.Errorf("%s received %v activations, want 1", r, n)
		}
	}
	// A shopper A has read, C reads from the shared cache: their events
	// and their ranking, which C does not compute again.
	var users store.Page[struct {
		ID string `json:"id"`
	}]
	if code := call(t, "GET", a+"/v1/users?limit=50", "", &users); code != 200 || len(users.Data) < 50 {
		t.Fatalf("users: %d %d", code, len(users.Data))
	}
	fresh := users.Data[49].ID
	hits := metric(t, c, `tailor_hotcache_requests_total{result="hit"}`)
	ranked, kept := metric(t, c, `tailor_hotcache_rankings_total{result="hit"}`), metric(t, c, `tailor_hotcache_rankings_total{result="kept"}`)
	for _, r := range []string{a, c} {
		if code := call(t, "GET", r+"/v1/users/"+fresh+"/recommendations?n=5", "", nil); code != 200 {
			t.Fatalf("recommendations for %s: %d", fresh, code)
		}
	}
	if got := metric(t, c, `tailor_hotcache_requests_total{result="hit"}`); got != hits+1 {
		t.Errorf("C's cache hits went from %v to %v, want one more", hits, got)
	}
	if got := metric(t, c, `tailor_hotcache_rankings_total{result="hit"}`); got != ranked+1 {
		t.Errorf("C's ranking hits went from %v to %v, want one more", ranked, got)
	}
	if got := metric(t, c, `tailor_hotcache_rankings_total{result="kept"}`); got != kept {
		t.Errorf("C kept %v rankings: it computed the one A had kept", got-kept)
	}
	// Every replica acknowledges the version in the registry.
	waitFor(t, 5*time.Second, "three replicas to report the activated version", func() bool {
		var models struct {
			Replicas []store.Replica `json:"replicas"`
		}
		if call(t, "GET", c+"/v1/models", "", &models) != 200 || len(models.Replicas) != 3 {
			return false
		}
		for _, r := range models.Replicas {
			if r.Version != versions[0] {
				return false
			}
		}
		return true
	})
}

// metric reads one sample from a server's /metrics (0 when absent).
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestReplicasShareRateLimits runs two replicas whose keys' rate limits
// live in Redis: quick requests alternating between them get one budget,
// not two. Then Redis goes away mid-load: no request fails with a 5xx,
// each replica limits alone, and /healthz and /metrics say so.
func TestReplicasShareRateLimits(t *testing.T) {
	t.Setenv("TAILOR_API_KEYS", "")
	proxy := redistest.NewProxy(t, redistest.Addr(t))
	url := pgtest.Store(t)
	cfg := filepath.Join(t.TempDir(), "tailor.toml")
	if err := os.WriteFile(cfg, []byte(`[[auth.keys]]
name = "shop"
role = "read"
sha256 = "`+config.HashKey("limited-key-0123456789")+`"
rate_limit = 2
burst = 5

[redis]
url = "`+proxy.URL()+`"
prefix = "`+redistest.Prefix()+`"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	a, _ := startCmd(t, "serve", "--store", url, "--addr", "127.0.0.1:0", "--config", cfg)
	b, _ := startCmd(t, "serve", "--store", url, "--addr", "127.0.0.1:0", "--config", cfg)
	get := func(base, path string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-API-Key", "limited-key-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	codes := map[int]int{}
	for i := range 12 {
		codes[get([]string{a, b}[i%2], "/v1/items")]++
	}
	if codes[200] < 5 || codes[200] > 6 || codes[429] != 12-codes[200] {
		t.Errorf("12 quick requests over two replicas at 2/s, bursts of 5: %v, want 5 (or 6) allowed in all", codes)
	}

	proxy.Cut()
	codes = map[int]int{}
	for i := range 40 {
		codes[get([]string{a, b}[i%2], "/v1/items")]++
	}
	if codes[200]+codes[429] != 40 || codes[200] == 0 {
		t.Errorf("with Redis gone: %v, want only 200 and 429", codes)
	}
	for _, base := range []string{a, b} {
		var h struct {
			Status   string            `json:"status"`
			Degraded map[string]string `json:"degraded"`
		}
		if code := call(t, "GET", base+"/healthz", "", &h); code != 200 || h.Status != "degraded" || h.Degraded["redis"] == "" {
			t.Errorf("healthz with Redis gone: %d %+v", code, h)
		}
		if up := metric(t, base, "tailor_redis_up"); up != 0 {
			t.Errorf("tailor_redis_up = %v with Redis gone", up)
		}
	}
}

// purchaseReaches posts a purchase of the shopper's top recommendation on
// replica b to replica a, and checks that b stops recommending it within
// a second (waiting at most wait to say how long it took).
func purchaseReaches(t *testing.T, a, b, user string, wait time.Duration) {
	t.Helper()
	var before recommend.Response
	if code := call(t, "GET", b+"/v1/users/"+user+"/recommendations?n=20", "", &before); code != 200 || len(before.Items) == 0 {
		t.Fatalf("recommendations on B: %d %+v", code, before)
	}
	bought := before.Items[0].ItemID
	ev := fmt.Sprintf(`[{"user_id":%q,"item_id":%q,"type":"purchase","unit_price":1.25,"value":6}]`, user, bought)
	if code := call(t, "POST", a+"/v1/events", ev, nil); code != 200 {
		t.Fatalf("post purchase to A: %d", code)
	}
	posted := time.Now()
	waitFor(t, wait, "B's recommendations to drop the item bought through A", func() bool {
		var r recommend.Response
		return call(t, "GET", b+"/v1/users/"+user+"/recommendations?n=20", "", &r) == 200 && !slices.ContainsFunc(r.Items, func(it recommend.Item) bool { return it.ItemID == bought })
	})
	if took := time.Since(posted); took > time.Second {
		t.Errorf("B followed A's event after %v, want within 1 s", took)
	}
}

// retrainer is a replica serving one store in this process with
// retraining every 300 ms (itemknn, no holdout).
type retrainer struct {
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
}

// retrainOptions are the retrainers' serve options.
func retrainOptions(cfg *config.Config) serveOptions {
	return serveOptions{retrainEvery: 300 * time.Millisecond,
		train: train.Options{Model: "itemknn", SkipHoldout: true, Weights: cfgWeights(cfg), Lookup: all.Lookup, Activate: true}}
}

// startRetrainer starts a retrainer on the store at url; the test's end
// stops it.
func startRetrainer(t *testing.T, url string) *retrainer {
	t.Helper()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	db, err := openStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	r := &retrainer{cancel: cancel, done: make(chan error, 1), log: &syncBuffer{}}
	ready := make(chan struct{})
	go func() {
		defer db.Close()
		r.done <- serve(ctx, db, cfg, "127.0.0.1:0", io.Discard, r.log, retrainOptions(cfg), func(net.Addr) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel() })
	return r
}

// runRetrainer is the test binary run as a retrainer on the store at url
// (TAILOR_TEST_RETRAINER), logging to stdout until it is killed.
func runRetrainer(url string) int {
	cfg, err := loadConfig("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	db, err := openStore(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	if err := serve(ctx, db, cfg, "127.0.0.1:0", io.Discard, os.Stdout, retrainOptions(cfg), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKilledLeaderFailsOver kills the leading replica's process
// (SIGKILL: no shutdown, its database session dropped by the kernel): the
// other replica, which did not train while it led, trains at its next
// tick.
func TestKilledLeaderFailsOver(t *testing.T) {
	url := pgtest.Store(t)
	importSampleInto(t, t.TempDir(), "--store", url)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TAILOR_TEST_RETRAINER="+url)
	leaderLog := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = leaderLog, leaderLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	trained := func(log *syncBuffer) int { return strings.Count(log.String(), "retrained and activated") }
	waitFor(t, 60*time.Second, "the first replica to lead and train", func() bool { return trained(leaderLog) > 0 })
	other := startRetrainer(t, url)
	time.Sleep(time.Second) // three of its ticks while the leader lives
	if n := trained(other.log); n > 0 {
		t.Fatalf("the second replica trained %d times while the first led", n)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	waitFor(t, 60*time.Second, "the other replica to retrain after the kill", func() bool { return trained(other.log) > 0 })
	if !strings.Contains(other.log.String(), "this replica now leads retrain") {
		t.Errorf("the new leader did not say so:\n%s", other.log.String())
	}
}
