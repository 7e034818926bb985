package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tailorhq/tailor/internal/config"
)

// The browser tests drive the storefront and the dashboard of 'tailor demo'
// in headless Chromium (Debian's chromium, or $TAILOR_CHROMIUM). Without
// Chromium they skip, unless TAILOR_REQUIRE_SERVICES=1. Screenshots go to
// $TAILOR_SCREENSHOTS (docs/screenshots holds the README's), else to a
// temporary folder; page timings go to the log, and to
// $TAILOR_WEBUI_TIMINGS as JSON when set.

// maxPageBytes is the most a page may load, assets and API answers
// included (the budget).
const maxPageBytes = 1.5 * 1024 * 1024

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TAILOR_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TAILOR_REQUIRE_SERVICES") == "1" {
		t.Fatal("chromium is not installed and TAILOR_REQUIRE_SERVICES=1 (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium, or set TAILOR_CHROMIUM)")
	return ""
}

// browserTab starts headless Chromium and returns a tab's context; page
// errors and console errors fail the test.
func browserTab(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Exceptions and console.error calls fail the test. The network's own
	// log entries do not: the tests ask for missing records on purpose.
	var (
		mu   sync.Mutex
		errs []string
	)
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && m.Source != "network" {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("browser console: %s", e)
		}
	})
	return ctx
}

// run runs browser actions with a deadline, failing the test on error.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		fail(t, ctx, what, err)
	}
}

// val runs a browser action that returns a value.
func val[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		fail(t, ctx, what, err)
	}
	return v
}

// fail ends the test with what the page shows.
func fail(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body.innerText`))
	t.Fatalf("%s: %v\npage text: %.800s", what, err, text)
}

// pageTiming is what the browser measured of one page load.
type pageTiming struct {
	Page string `json:"page"`
	// Interactive is Navigation Timing's domInteractive, and Ready the
	// time its content was shown (the API answers drawn), in ms from the
	// start of the navigation.
	Interactive float64 `json:"interactive_ms"`
	Ready       float64 `json:"ready_ms"`
	// Bytes is what the page loaded: the document, assets and API answers.
	Bytes    float64 `json:"bytes"`
	Requests int     `json:"requests"`
}

// load navigates to url afresh (a full page load), waits until the page
// says it is ready, and measures it.
func load(t *testing.T, ctx context.Context, url, ready string) pageTiming {
	t.Helper()
	run(t, ctx, "load "+url,
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`main[data-ready="`+ready+`"]`)))
	pt := val(t, ctx, "measure "+url, chromedp.Evaluate[pageTiming](`(() => {
			const n = performance.getEntriesByType('navigation')[0];
			const r = performance.getEntriesByName('tailor-ready-`+ready+`');
			const res = performance.getEntriesByType('resource');
			return {page: location.pathname + location.hash, interactive_ms: n.domInteractive, ready_ms: r.length ? r[0].startTime : -1,
				bytes: n.transferSize + res.reduce((s, e) => s + (e.transferSize || e.encodedBodySize), 0), requests: res.length + 1};
		})()`))
	t.Logf("%s: interactive %.0f ms, content shown %.0f ms, %.0f KB in %d requests", pt.Page, pt.Interactive, pt.Ready, pt.Bytes/1024, pt.Requests)
	// Nothing shows a JavaScript value that went wrong.
	text := val(t, ctx, "page text", chromedp.Evaluate[string](`document.body.innerText`))
	for _, bad := range []string{"undefined", "NaN", "[object Object]", "\nnull\n"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s shows %q:\n%.600s", pt.Page, bad, text)
		}
	}
	if pt.Bytes > maxPageBytes {
		t.Errorf("%s loaded %.0f KB, more than the %.0f KB budget", pt.Page, pt.Bytes/1024, maxPageBytes/1024)
	}
	return pt
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	// Let charts draw and the last images settle.
	run(t, ctx, "settle", chromedp.Sleep(300*time.Millisecond))
	buf := val(t, ctx, "screenshot "+name, chromedp.FullScreenshot(80))
	if err := os.WriteFile(filepath.Join(dir, name+".jpg"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// count returns how many elements match a CSS selector.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return val(t, ctx, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

func attrs(t *testing.T, ctx context.Context, sel, attr string) []string {
	t.Helper()
	return val(t, ctx, "read "+sel, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.getAttribute(%q) || '')`, sel, attr)))
}

func TestWebUIInBrowser(t *testing.T) {
	ctx := browserTab(t)
	shots := os.Getenv("TAILOR_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// The analyses are read again every 5 s (the demo's default is a
	// minute), so that the dashboard's funnel soon holds the storefront's
	// views.
	base, out := startCmd(t, "demo", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--analyses-every", "5s")
	if !strings.Contains(out.String(), base+"/admin") || !strings.Contains(out.String(), "Open the storefront at "+base+"/") {
		t.Errorf("the demo does not print the storefront and dashboard URLs:\n%s", out)
	}
	var timings []pageTiming

	t.Run("shopper", func(t *testing.T) {
		timings = append(timings, load(t, ctx, base+"/", "home"))
		// Pick a champion: a shopper with a history to personalize.
		run(t, ctx, "pick a shopper",
			chromedp.Click(chromedp.CSS("#shopper-btn")),
			chromedp.WaitVisible(chromedp.CSS(`#picker-list button[data-shopper]`)),
			chromedp.SendKeys(chromedp.CSS("#picker-q"), "champions"),
			chromedp.Sleep(100*time.Millisecond),
			chromedp.Click(chromedp.CSS(`#picker-list button[data-shopper]`)),
			chromedp.WaitVisible(chromedp.CSS(`main[data-ready="home"] section[data-list="recommended"] .card`)))
		button := val(t, ctx, "read the shopper", chromedp.Text(chromedp.CSS("#shopper-btn")))
		if !strings.Contains(button, "(champions)") {
			t.Errorf("shopper button %q does not show the champion's segment", button)
		}
		shopper := strings.Fields(strings.TrimPrefix(button, "Shopper: "))[0]
		before := attrs(t, ctx, `section[data-list="recommended"] .card`, "data-item")
		if reasons := attrs(t, ctx, `section[data-list="recommended"] .card`, "data-reason"); slices.Contains(reasons, "") || len(reasons) == 0 {
			t.Errorf("recommendations without a reason to show on hover: %q", reasons)
		}
		if n := count(t, ctx, `section[data-list="trending"] .card`); n == 0 {
			t.Error("the home page shows no trending items")
		}
		screenshot(t, ctx, shots, "storefront-home")

		// Search as you type, then the full results.
		run(t, ctx, "search",
			chromedp.SendKeys(chromedp.CSS("#search"), "teapot"),
			chromedp.WaitVisible(chromedp.CSS(`#suggest a[data-item]`)),
			chromedp.SendKeys(chromedp.CSS("#search"), "\r"),
			chromedp.WaitVisible(chromedp.CSS(`main[data-ready="search"] section[data-list="search"] .card`)))
		titles := val(t, ctx, "search titles", chromedp.Evaluate[[]string](`[...document.querySelectorAll('section[data-list="search"] .card .t')].map(e => e.textContent)`))
		if len(titles) == 0 || !strings.Contains(strings.ToUpper(titles[0]), "TEAPOT") {
			t.Errorf("search for teapot: %q", titles)
		}
		screenshot(t, ctx, shots, "storefront-search")

		// The product page, from the search list.
		run(t, ctx, "open a product",
			chromedp.Click(chromedp.CSS(`section[data-list="search"] .card`)),
			chromedp.WaitVisible(chromedp.CSS(`main[data-ready="product"] #add-to-cart`)))
		item := attrs(t, ctx, `.product`, "data-item")[0]
		if count(t, ctx, `section[data-list="similar"] .card`) == 0 {
			t.Error("the product page shows no similar items")
		}
		if count(t, ctx, `section[data-list="bought-together"]`) == 0 {
			t.Error("the product page has no bought-together list")
		}
		screenshot(t, ctx, shots, "storefront-product")

		// Into the cart, and buy.
		run(t, ctx, "add to cart",
			chromedp.Click(chromedp.CSS("#add-to-cart")),
			chromedp.WaitVisible(chromedp.CSS(`#toast`)))
		cartLink := val(t, ctx, "cart link", chromedp.Text(chromedp.CSS("#cart-link")))
		if cartLink != "Cart (1)" {
			t.Errorf("cart link %q after adding one", cartLink)
		}
		run(t, ctx, "cart",
			chromedp.Click(chromedp.CSS("#cart-link")),
			chromedp.WaitVisible(chromedp.CSS(`main[data-ready="cart"] #checkout`)))
		if count(t, ctx, `#cart tr[data-item="`+item+`"]`) != 1 {
			t.Errorf("the cart does not hold %s", item)
		}
		if count(t, ctx, `section[data-list="cart"] .card`) == 0 {
			t.Error("the cart shows no recommendations")
		}
		screenshot(t, ctx, shots, "storefront-cart")
		run(t, ctx, "checkout",
			chromedp.Click(chromedp.CSS("#checkout")),
			chromedp.WaitVisible(chromedp.CSS(`main[data-ready="thanks"]`)))

		// The purchase is stored with the list it came from, and the home
		// page's recommendations change.
		var events struct {
			Data []struct {
				ItemID           string `json:"item_id"`
				Type             string `json:"type"`
				RecommendationID string `json:"recommendation_id"`
				OrderID          string `json:"order_id"`
			} `json:"data"`
		}
		if code := get(t, base+"/v1/users/"+shopper+"/events?limit=10", &events); code != 200 {
			t.Fatalf("events of %s: %d", shopper, code)
		}
		seen := map[string]bool{}
		for _, e := range events.Data {
			if e.ItemID == item {
				seen[e.Type] = true
				if e.RecommendationID == "" {
					t.Errorf("the %s event of %s carries no recommendation_id", e.Type, item)
				}
			}
		}
		for _, typ := range []string{"click", "view", "add_to_cart", "purchase"} {
			if !seen[typ] {
				t.Errorf("no %s event of %s was stored: %+v", typ, item, events.Data)
			}
		}
		load(t, ctx, base+"/", "home")
		run(t, ctx, "home after buying", chromedp.WaitVisible(chromedp.CSS(`section[data-list="recommended"] .card`)))
		after := attrs(t, ctx, `section[data-list="recommended"] .card`, "data-item")
		if slices.Equal(before, after) {
			t.Errorf("the recommendations did not change after buying %s: %v", item, after)
		}
		if count(t, ctx, `section[data-list="buy-again"] .card .due`) == 0 {
			t.Error("buy it again shows no due dates")
		}

		// A collection, re-ranked for the shopper.
		timings = append(timings, load(t, ctx, base+"/#/c/Kitchen%2FTea%20%26%20Coffee", "category"))
		if count(t, ctx, `section[data-list="category"] .card`) == 0 {
			t.Error("the collection page shows no products")
		}
		timings = append(timings, load(t, ctx, base+"/#/p/"+item, "product"))
		timings = append(timings, load(t, ctx, base+"/#/cart", "cart"))

		// A shopper id that does not exist is a clear message.
		run(t, ctx, "unknown shopper",
			chromedp.Click(chromedp.CSS("#shopper-btn")),
			chromedp.WaitVisible(chromedp.CSS("#picker-id")),
			chromedp.SendKeys(chromedp.CSS("#picker-id"), "no-such-shopper"),
			chromedp.Click(chromedp.CSS("#picker-go")),
			chromedp.WaitVisible(chromedp.CSS("#picker-err")))
		msg := val(t, ctx, "unknown shopper message", chromedp.Text(chromedp.CSS("#picker-err")))
		if !strings.Contains(msg, "no shopper with id") {
			t.Errorf("unknown shopper message: %q", msg)
		}
		// An item that does not exist is a message too, not a blank page.
		load(t, ctx, base+"/", "home")
		run(t, ctx, "unknown product", chromedp.Navigate(base+"/#/p/NO-SUCH-ITEM"), chromedp.WaitVisible(chromedp.CSS(`main .error`)))

		// The assistant, off on this server (no chat model), answers with
		// products and says so.
		timings = append(timings, load(t, ctx, base+"/#/ask", "ask"))
		run(t, ctx, "ask the assistant",
			chromedp.SendKeys(chromedp.CSS("#ask-input"), "heart holder"),
			chromedp.Click(chromedp.CSS("#ask-send")),
			chromedp.WaitVisible(chromedp.CSS(`.msg.assistant`)))
		if n := count(t, ctx, `.msg.assistant .card`); n == 0 {
			t.Error("the assistant's reply shows no products")
		}
		if note := val(t, ctx, "assistant note", chromedp.Text(chromedp.CSS(`.msg.assistant .note`))); !strings.Contains(note, "The assistant is off") {
			t.Errorf("the assistant's note: %q", note)
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		// The analyses refresh every 5 s here: wait until they hold the
		// storefront's views, so that the funnel has its three steps.
		deadline := time.Now().Add(90 * time.Second)
		for {
			resp, err := http.Get(base + "/v1/analytics/funnel")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the funnel still answers %d after 90 s", resp.StatusCode)
			}
			time.Sleep(time.Second)
		}
		// An A/B test between the two model versions, served to shoppers
		// through the API, so that the online page has arms to compare.
		var reg struct {
			Versions []struct{ ID string } `json:"versions"`
		}
		if get(t, base+"/v1/models", &reg); len(reg.Versions) < 2 {
			t.Fatalf("the demo registry holds %d versions, want 2", len(reg.Versions))
		}
		ab := fmt.Sprintf(`{"ab_test":{"a":%q,"b":%q,"share_b":0.5}}`, reg.Versions[1].ID, reg.Versions[0].ID)
		if code := call(t, "PUT", base+"/v1/scenarios/home_ab", ab, nil); code != 200 {
			t.Fatalf("store the A/B scenario: %d", code)
		}
		var users struct {
			Data []struct{ ID string } `json:"data"`
		}
		get(t, base+"/v1/users?limit=40", &users)
		for i, u := range users.Data {
			var recs struct {
				RecommendationID string `json:"recommendation_id"`
				Items            []struct {
					ItemID string `json:"item_id"`
				} `json:"items"`
			}
			if code := get(t, base+"/v1/users/"+u.ID+"/recommendations?n=5&scenario=home_ab", &recs); code != 200 || len(recs.Items) == 0 {
				t.Fatalf("A/B recommendations for %s: %d", u.ID, code)
			}
			if i%3 == 0 {
				click := fmt.Sprintf(`[{"user_id":%q,"item_id":%q,"type":"click","recommendation_id":%q}]`, u.ID, recs.Items[0].ItemID, recs.RecommendationID)
				if code := call(t, "POST", base+"/v1/storefront/events", click, nil); code != 200 {
					t.Fatalf("click: %d", code)
				}
			}
		}
		for _, page := range []string{"data", "models", "online", "shoppers", "pricing", "scenarios"} {
			timings = append(timings, load(t, ctx, base+"/admin#/"+page, page))
			// Every chart has data and is drawn.
			charts := count(t, ctx, ".chart")
			if empty := count(t, ctx, `.chart[data-points="0"]`); empty > 0 {
				t.Errorf("%s: %d of %d charts have no data", page, empty, charts)
			}
			if charts > 0 {
				val(t, ctx, page+" charts drawn", chromedp.Poll[bool](fmt.Sprintf(`document.querySelectorAll('.chart canvas').length >= %d`, charts), chromedp.WithPollingTimeout(10*time.Second)))
			}
			if n := count(t, ctx, "main .error"); n > 0 {
				text := val(t, ctx, "errors", chromedp.Text(chromedp.CSS("main .error")))
				t.Errorf("%s shows %d error(s): %s", page, n, text)
			}
			screenshot(t, ctx, shots, "admin-"+page)
		}
		for page, sel := range map[string]string{"data": "#rejected tr", "models": "#evaluation tr", "online": "#ab-tests tr", "shoppers": "#cohorts tr", "pricing": "#price-recs tr"} {
			timings = append(timings, load(t, ctx, base+"/admin#/"+page, page))
			if page == "pricing" {
				run(t, ctx, "price recommendations", chromedp.WaitVisible(chromedp.CSS("#price-recs")))
			}
			if count(t, ctx, sel) < 2 {
				t.Errorf("%s: the table %s is empty", page, sel)
			}
			if page == "shoppers" && count(t, ctx, "#funnel tr") != 4 {
				t.Error("the funnel does not show its three steps")
			}
		}

		// Activate the other model version, and see it served.
		load(t, ctx, base+"/admin#/models", "models")
		ids := attrs(t, ctx, "button[data-activate]", "data-activate")
		if len(ids) == 0 {
			t.Fatal("no model version to activate")
		}
		run(t, ctx, "activate",
			chromedp.Click(chromedp.CSS(`button[data-activate="`+ids[0]+`"]`)),
			chromedp.WaitVisible(chromedp.CSS("#activated")))
		var models struct {
			Serving struct {
				Version struct{ ID, Model string }
			}
		}
		if get(t, base+"/v1/models", &models); models.Serving.Version.ID != ids[0] {
			t.Errorf("serving %s after activating %s", models.Serving.Version.ID, ids[0])
		}
		var recs struct {
			ModelVersion string `json:"model_version"`
		}
		if get(t, base+"/v1/trending", nil); get(t, base+"/v1/users/12350/recommendations?n=3", &recs) != 200 || recs.ModelVersion != ids[0] {
			t.Errorf("recommendations come from %q, want %s", recs.ModelVersion, ids[0])
		}

		// The version rolled away from is an arm of the A/B test: deleting
		// it is refused, and the page says why.
		load(t, ctx, base+"/admin#/models", "models")
		old := attrs(t, ctx, "button[data-delete]", "data-delete")
		if len(old) != 1 || old[0] == ids[0] {
			t.Fatalf("delete buttons for %v (serving %s)", old, ids[0])
		}
		sel := chromedp.CSS(`button[data-delete="` + old[0] + `"]`)
		run(t, ctx, "delete an A/B arm", chromedp.Click(sel), chromedp.Click(sel), chromedp.WaitVisible(chromedp.CSS("#versions ~ * .error, .panel .error")))
		if msg := val(t, ctx, "delete refused", chromedp.Text(chromedp.CSS(".panel .error"))); !strings.Contains(msg, "A/B test of scenario home_ab") {
			t.Errorf("deleting an A/B arm says %q", msg)
		}
		if code := call(t, "DELETE", base+"/v1/scenarios/home_ab", "", nil); code != 200 {
			t.Fatalf("delete the A/B scenario: %d", code)
		}
		load(t, ctx, base+"/admin#/models", "models")
		run(t, ctx, "delete the old version", chromedp.Click(sel), chromedp.Click(sel), chromedp.WaitVisible(chromedp.CSS("#deleted")))
		if code := get(t, base+"/v1/models", &reg); code != 200 || len(reg.Versions) != 1 || reg.Versions[0].ID != ids[0] {
			t.Errorf("versions after the deletion: %d %+v", code, reg.Versions)
		}

		// The rules editor shows the API's error beside the field.
		load(t, ctx, base+"/admin#/scenarios/new", "scenarios")
		run(t, ctx, "bad rule",
			chromedp.SendKeys(chromedp.CSS(`#rules-form input[name="name"]`), "gifts_first"),
			chromedp.SendKeys(chromedp.CSS(`#rules-form input[name="max_per_category"]`), "-1"),
			chromedp.Click(chromedp.CSS(`#rules-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-error-for="max_per_category"]`)))
		fieldErr := val(t, ctx, "field error", chromedp.Text(chromedp.CSS(`[data-error-for="max_per_category"]`)))
		if !strings.Contains(fieldErr, "max_per_category: -1") {
			t.Errorf("the error beside max_per_category is %q", fieldErr)
		}
		val(t, ctx, "clear max_per_category", chromedp.Evaluate[string](`document.querySelector('#rules-form input[name="max_per_category"]').value = ''`))
		run(t, ctx, "bad boost",
			chromedp.SendKeys(chromedp.CSS(`#rules-form textarea[name="more"]`), `{"boosts": [{"categories": ["Gifts/Other"], "factor": -1}]}`),
			chromedp.Click(chromedp.CSS(`#rules-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-error-for="more"]`)))
		if msg := val(t, ctx, "boost error", chromedp.Text(chromedp.CSS(`[data-error-for="more"]`))); !strings.Contains(msg, "boosts[0].factor: -1") {
			t.Errorf("the error beside the JSON rules is %q", msg)
		}
		val(t, ctx, "clear the JSON rules", chromedp.Evaluate[string](`document.querySelector('#rules-form textarea[name="more"]').value = ''`))
		run(t, ctx, "good rule",
			chromedp.SetValue(chromedp.CSS(`#rules-form input[name="max_per_category"]`), "2"),
			chromedp.SendKeys(chromedp.CSS(`#rules-form input[name="categories"]`), "Kitchen/Tea & Coffee"),
			chromedp.Click(chromedp.CSS(`#rules-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#preview ol li`)))
		var stored map[string]any
		if code := get(t, base+"/v1/scenarios/gifts_first", &stored); code != 200 || stored["max_per_category"] != 2.0 {
			t.Errorf("stored scenario: %d %v", code, stored)
		}
		screenshot(t, ctx, shots, "admin-scenario-editor")
	})

	if path := os.Getenv("TAILOR_WEBUI_TIMINGS"); path != "" {
		b, _ := json.MarshalIndent(timings, "", "  ")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// With API keys, the dashboard asks for an admin key and the storefront
// calls the API with its configured read key, which is all a shopper's
// browser ever sees.
func TestWebUIWithKeys(t *testing.T) {
	ctx := browserTab(t)
	t.Setenv("TAILOR_API_KEYS", "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tailor.toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[webui]
storefront_key = "tk_shop_read_0123456789"

[[auth.keys]]
name = "shop"
role = "read"
sha256 = %q

[[auth.keys]]
name = "ops"
role = "admin"
sha256 = %q
`, config.HashKey("tk_shop_read_0123456789"), config.HashKey("tk_ops_admin_0123456789"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startCmd(t, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--config", cfg)
	var uiCfg map[string]any
	if get(t, base+"/ui/config.json", &uiCfg); uiCfg["storefront_key"] != "tk_shop_read_0123456789" || uiCfg["demo"] != false {
		t.Errorf("config.json = %v", uiCfg)
	}

	// The storefront works with the read key: an empty shop says so, and
	// the shopper list, which needs the write role, asks for an id instead.
	load(t, ctx, base+"/", "home")
	if n := count(t, ctx, `section[data-list="trending"]`); n != 1 {
		t.Errorf("the storefront home has %d trending sections", n)
	}
	run(t, ctx, "picker", chromedp.Click(chromedp.CSS("#shopper-btn")), chromedp.WaitVisible(chromedp.CSS("#picker-list li")),
		chromedp.WaitNotPresent(chromedp.CSS("#picker-list li.loading")))
	if msg := val(t, ctx, "picker message", chromedp.Text(chromedp.CSS("#picker-list li"))); !strings.Contains(msg, "type a shopper id") {
		t.Errorf("picker with a read key says %q", msg)
	}

	// The dashboard asks for a key, refuses the read key beside the field,
	// and opens with the admin key.
	run(t, ctx, "dashboard login",
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible(chromedp.CSS("#login-key")),
		chromedp.SendKeys(chromedp.CSS("#login-key"), "tk_shop_read_0123456789"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#login-err")))
	if msg := val(t, ctx, "login error", chromedp.Text(chromedp.CSS("#login-err"))); !strings.Contains(msg, "Admin key") || !strings.Contains(msg, "role") {
		t.Errorf("login with the read key: %q", msg)
	}
	val(t, ctx, "clear the key", chromedp.Evaluate[string](`document.getElementById('login-key').value = ''`))
	run(t, ctx, "admin key",
		chromedp.SendKeys(chromedp.CSS("#login-key"), "tk_ops_admin_0123456789"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main[data-ready="data"]`)))
	if n := count(t, ctx, "main .error"); n > 0 {
		t.Errorf("the dashboard shows %d errors with the admin key", n)
	}
}
