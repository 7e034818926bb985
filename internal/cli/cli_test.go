package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/config"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestImportJSON(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runMain(t, "import", "--format", "online-retail", "--data-dir", dir,
		filepath.Join("..", "ingest", "testdata", "online-retail-small.csv"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"read", "accepted", "rejected", "duplicates", "rejected_by_reason", "items", "users", "events"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if rep["read"] != 17.0 || rep["accepted"] != 10.0 || rep["rejected"] != 6.0 || rep["duplicates"] != 1.0 || rep["events"] != 10.0 {
		t.Errorf("report = %v", rep)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); err != nil {
		t.Errorf("no database in the data dir: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import", "x.csv"}, 2, "--format is required"},
		{[]string{"import", "--format", "csv"}, 2, "requires at least 1 arg"},
		{[]string{"import", "--bogus"}, 2, "unknown flag"},
		{[]string{"import", "--format", "xml", "--data-dir", "DIR", "x"}, 1, "unknown format"},
		{[]string{"keys", "generate", "--role", "root"}, 2, "--role"},
		{[]string{"serve", "--addr", "nocolon", "--data-dir", "DIR"}, 2, "--addr"},
		{[]string{"frobnicate"}, 1, "unknown command"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "nope", "--models", "popular"}, 2, "unknown protocol"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "kfold", "--models", "popular,svd"}, 2, "unknown model"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "kfold", "--models", "popular", "--k", "0"}, 2, "positive integer"},
		{[]string{"eval", "--dataset", "movielens:/no/such/dir", "--protocol", "kfold", "--models", "popular"}, 1, "no such file"},
		{[]string{"eval", "--protocol", "kfold"}, 2, "required"},
		{[]string{"tune", "--dataset", "movielens:x", "--protocol", "kfold"}, 2, "required"},
		{[]string{"tune", "--dataset", "movielens:x", "--protocol", "kfold", "--model", "popular2"}, 2, "unknown model"},
		{[]string{"tune", "--dataset", "movielens:x", "--protocol", "kfold", "--model", "ease", "--budget", "-1s"}, 2, "--budget"},
		{[]string{"tune", "--dataset", "movielens:x", "--protocol", "kfold", "--model", "ease", "--search", "grid"}, 2, "--search"},
		{[]string{"analyze", "churn"}, 2, "unknown analysis"},
		{[]string{"analyze", "rfm", "--at", "soon", "--dataset", "cdnow:testdata/none"}, 1, "cdnow"},
		{[]string{"tune", "--dataset", "movielens:x", "--protocol", "kfold", "--model", "ease", "--search", "halving", "--eta", "1"}, 2, "--eta"},
		{[]string{"tune", "--dataset", "movielens:x", "--protocol", "kfold", "--model", "ease", "--carves", "0"}, 2, "--carves"},
		{[]string{"tune", "--dataset", "movielens:x", "--protocol", "kfold", "--model", "ease", "--search", "halving", "--carves", "2"}, 2, "--carves"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "kfold", "--models", "ease", "--tune", "--tune-carves", "0"}, 2, "--tune-carves"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "kfold", "--models", "ease", "--config", "/no/such.json"}, 1, "--config"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "kfold", "--models", "itemknn", "--params", "itemknn"}, 2, "MODEL={JSON object}"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "kfold", "--models", "itemknn", "--params", `itemknn={"neighbors":-3}`}, 2, "neighbors"},
		{[]string{"eval", "--dataset", "movielens:x", "--protocol", "kfold", "--models", "itemknn", "--params", `userknn={}`}, 2, "not in --models"},
	}
	for _, tt := range tests {
		for i, a := range tt.args {
			if a == "DIR" {
				tt.args[i] = t.TempDir()
			}
		}
		code, _, errOut := runMain(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	code, out, _ := runMain(t, "keys", "generate", "--role", "write", "--name", "backend")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	key := regexp.MustCompile(`tk_[A-Za-z0-9_-]{43}`).FindString(out)
	if key == "" {
		t.Fatalf("no key in %q", out)
	}
	if !strings.Contains(out, `sha256 = "`+config.HashKey(key)+`"`) || !strings.Contains(out, `role = "write"`) {
		t.Errorf("config entry does not admit the key:\n%s", out)
	}
	code, out, _ = runMain(t, "keys", "hash", key)
	if code != 0 || strings.TrimSpace(out) != config.HashKey(key) {
		t.Errorf("hash: %d %q", code, out)
	}
}

// startCmd runs a serving command until the test ends and returns its base
// URL once it listens and has built its background models.
func startCmd(t *testing.T, args ...string) (base string, stdout *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout = &syncBuffer{}
	done := make(chan int)
	go func() { done <- Main(ctx, args, stdout, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("%v exited %d:\n%s", args, code, stdout.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop")
		}
	})
	re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil && strings.Contains(stdout.String(), "Background models ready") {
			return m[1], stdout
		}
		select {
		case code := <-done:
			t.Fatalf("%v exited %d before listening:\n%s", args, code, stdout.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%v did not start:\n%s", args, stdout.String())
	return "", nil
}

func get(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	base, out := startCmd(t, "demo", "--data-dir", dir, "--addr", "127.0.0.1:0")
	if code := get(t, base+"/healthz", nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	var items struct {
		Data []map[string]any `json:"data"`
	}
	if code := get(t, base+"/v1/items?limit=5", &items); code != 200 || len(items.Data) != 5 {
		t.Errorf("items: %d %v", code, items)
	}
	var item map[string]any
	if code := get(t, base+"/v1/items/85123A", &item); code != 200 || item["title"] != "WHITE HANGING HEART T-LIGHT HOLDER" {
		t.Errorf("85123A: %d %v", code, item)
	}
	text := out.String()
	for _, want := range []string{"Import report (online-retail)", "Loaded:", "CC BY 4.0", "curl "} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// The user the output suggests has events.
	m := regexp.MustCompile(`curl '(http://[^']+/v1/users/[^']+/events\?limit=5)'`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no user example in:\n%s", text)
	}
	var events struct {
		Data []map[string]any `json:"data"`
	}
	if code := get(t, m[1], &events); code != 200 || len(events.Data) == 0 {
		t.Errorf("suggested user events: %d %v", code, events)
	}
	// The demo trained a model: the suggested recommendations are personal.
	m = regexp.MustCompile(`curl '(http://[^']+/v1/users/[^']+/recommendations\?n=5)'`).FindStringSubmatch(text)
	if m == nil || !strings.Contains(text, "trained and activated") {
		t.Fatalf("no trained model or recommendation example in:\n%s", text)
	}
	var recs struct {
		ModelVersion string `json:"model_version"`
		Items        []struct {
			ItemID string `json:"item_id"`
			Reason string `json:"reason"`
		} `json:"items"`
	}
	if code := get(t, m[1], &recs); code != 200 || len(recs.Items) != 5 || recs.ModelVersion == "" {
		t.Errorf("suggested recommendations: %d %+v", code, recs)
	}
}

// users returns the ids of the first n shoppers of the server at base.
func users(t *testing.T, base string, n int) []string {
	t.Helper()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if code := get(t, fmt.Sprintf("%s/v1/users?limit=%d", base, n), &page); code != 200 || len(page.Data) == 0 {
		t.Fatalf("users: %d %+v", code, page)
	}
	var out []string
	for _, u := range page.Data {
		out = append(out, u.ID)
	}
	return out
}

// sameUnderLoad asks the server's lists for each shopper, then asks them
// again from many connections at once: every answer (but its
// recommendation id) must be the one given alone. The server hands each
// written answer back to the engine for reuse, so an answer shared
// between two requests, or reused before it was written, shows here.
func sameUnderLoad(t *testing.T, base string, users []string) {
	t.Helper()
	var paths []string
	for _, u := range users {
		paths = append(paths, "/v1/users/"+u+"/recommendations?n=6", "/v1/users/"+u+"/buy-again?n=4", "/v1/users/"+u+"/recommendations?n=5&in_stock=true")
	}
	paths = append(paths, "/v1/items/85123A/bought-together?n=5", "/v1/items/85123A/similar?n=5")
	answer := func(path string) (string, error) {
		resp, err := http.Get(base + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			return "", fmt.Errorf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		delete(body, "recommendation_id")
		out, err := json.Marshal(body)
		return string(out), err
	}
	want := make([]string, len(paths))
	for k, p := range paths {
		var err error
		if want[k], err = answer(p); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				k := (g*31 + i*7) % len(paths)
				got, err := answer(paths[k])
				if err == nil && got != want[k] {
					err = fmt.Errorf("GET %s under load:\n got %s\nwant %s", paths[k], got, want[k])
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestServeLoopbackWithoutKeys(t *testing.T) {
	t.Setenv("TAILOR_API_KEYS", "")
	base, out := startCmd(t, "serve", "--data-dir", t.TempDir(), "--addr", "0.0.0.0:0")
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("listening on %s, want loopback", base)
	}
	if !strings.Contains(out.String(), "No API keys are configured") {
		t.Errorf("output does not say why:\n%s", out)
	}
	// Even what net/http answers by itself has the API's error shape.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"code":"bad_request"`) {
		t.Errorf("a malformed header: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestServeWithKeys(t *testing.T) {
	key := "test-key-0123456789abcdef"
	t.Setenv("TAILOR_API_KEYS", "read:"+key)
	base, _ := startCmd(t, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0")
	if code := get(t, base+"/v1/items", nil); code != 401 {
		t.Errorf("no key: %d", code)
	}
	req, _ := http.NewRequest("GET", base+"/v1/items", nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with key: %d", resp.StatusCode)
	}
}

func TestPrepare(t *testing.T) {
	code, out, errOut := runMain(t, "prepare", "--dataset", "online-retail:"+filepath.Join("..", "ingest", "testdata", "online-retail-small.csv"),
		"--net-returns", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Events, Users, Items, Pairs int
		Steps                       []struct {
			Name             string
			Removed, Changed int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	// 10 events: 2 anonymous, 2 non-products (POST, a voucher bought
	// anonymously), a return netted against 85123A's first purchase.
	if rep.Events != 10 || len(rep.Steps) < 4 || rep.Users != 3 {
		t.Errorf("report = %+v", rep)
	}
	if code, _, errOut := runMain(t, "prepare"); code != 2 || !strings.Contains(errOut, "--dataset") {
		t.Errorf("no dataset: exit %d, %s", code, errOut)
	}
}

func TestReadMarks(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("item_id,date,reason\n85123A,2011-06-08,promotion\n22423,2011-07-01,stockout\n"), 0o644)
	marks, err := readMarks(good)
	if err != nil || len(marks) != 2 || marks[0].Reason != "promotion" || marks[1].Week.Day() != 1 {
		t.Errorf("marks = %+v, %v", marks, err)
	}
	for name, body := range map[string]string{
		"date":   "85123A,June,promotion\n",
		"fields": "85123A,2011-06-08\n",
		"reason": "85123A,2011-06-08,\n",
	} {
		p := filepath.Join(dir, name+".csv")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := readMarks(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestServeRateLimit(t *testing.T) {
	t.Setenv("TAILOR_API_KEYS", "")
	cfg := filepath.Join(t.TempDir(), "tailor.toml")
	if err := os.WriteFile(cfg, []byte(`[[auth.keys]]
name = "shop"
role = "read"
sha256 = "`+config.HashKey("limited-key-0123456789")+`"
rate_limit = 1
burst = 2
`), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := startCmd(t, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--config", cfg)
	var codes []int
	var after string
	for range 4 {
		req, _ := http.NewRequest("GET", base+"/v1/items", nil)
		req.Header.Set("X-API-Key", "limited-key-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		after = resp.Header.Get("Retry-After")
	}
	if codes[0] != 200 || codes[1] != 200 || codes[3] != 429 || after != "1" {
		t.Errorf("four quick requests at 1/s, bursts of 2: %v, Retry-After %q", codes, after)
	}
}

// TestConfigWithEnvironmentKeys loads a config whose storefront key and
// token secret come from the environment: the file is checked once, with
// the environment's keys (it was refused when checked before them).
func TestConfigWithEnvironmentKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailor.toml")
	if err := os.WriteFile(path, []byte("[webui]\nstorefront_key = \"tk_storefront_0123456789\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TAILOR_API_KEYS", "read:tk_storefront_0123456789,write:tk_backend_0123456789")
	t.Setenv("TAILOR_TOKEN_SECRET", "a secret of thirty-two characters!")
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(cfg.Auth.Keys) != 2 || cfg.Auth.TokenSecret != "a secret of thirty-two characters!" {
		t.Errorf("keys %+v, token secret %q", cfg.Auth.Keys, cfg.Auth.TokenSecret)
	}
	t.Setenv("TAILOR_API_KEYS", "write:tk_storefront_0123456789")
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "webui.storefront_key: the key \"env-1\" has the role write") {
		t.Errorf("a storefront key of the write role: %v", err)
	}
	t.Setenv("TAILOR_TOKEN_SECRET", "short")
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "auth.token_secret") {
		t.Errorf("a short token secret: %v", err)
	}
}
