package cli

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/assistant"
	"github.com/tailorhq/tailor/internal/llm/llmtest"
	"github.com/tailorhq/tailor/internal/recommend"
)

// TestServeWithProvider serves the sample shop with an OpenAI-compatible
// provider (a test server) for embeddings and chat: search embeds with it
// and keeps answering by words when it fails; the assistant searches
// through a tool and shows only products that exist; with the provider
// down it answers with search and says so.
func TestServeWithProvider(t *testing.T) {
	dir := importSample(t)
	srv := llmtest.New()
	defer srv.Close()
	cfgPath := filepath.Join(t.TempDir(), "tailor.toml")
	cfg := fmt.Sprintf("[llm]\nvectors = \"off\"\nbase_url = %q\nchat_model = \"chat\"\nembedding_model = \"embed\"\ntimeout = \"2s\"\n", srv.URL+"/v1")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base, out := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--config", cfgPath)
	if !strings.Contains(out.String(), "embeddings of embed at") || !strings.Contains(out.String(), "The shopping assistant talks with chat") {
		t.Errorf("serve did not say what it uses:\n%s", out)
	}
	if srv.Count("/v1/embeddings") == 0 {
		t.Fatal("the catalog was not embedded with the provider")
	}
	var found recommend.Response
	if code := call(t, "GET", base+"/v1/search?q=heart+holder&n=5", "", &found); code != 200 || len(found.Items) == 0 {
		t.Fatalf("search: %d %+v", code, found)
	}
	item := string(found.Items[0].ItemID)

	srv.Script(
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "search", Arguments: `{"query":"heart holder"}`}}},
		llmtest.Reply{Content: fmt.Sprintf("This one: [[%s]]. Also [[INVENTED-1]].", item)},
	)
	var rep assistant.Reply
	if code := call(t, "POST", base+"/v1/assistant", `{"user_id":"12350","message":"something with hearts to hold a candle"}`, &rep); code != 200 {
		t.Fatalf("assistant: %d %+v", code, rep)
	}
	if rep.Assistant != "on" || len(rep.Items) != 1 || string(rep.Items[0].ItemID) != item || !slices.Equal(rep.Refused, []string{"INVENTED-1"}) || rep.ConversationID == "" {
		t.Errorf("assistant reply %+v", rep)
	}
	if code := call(t, "POST", base+"/v1/assistant", `{"message":""}`, nil); code != 400 {
		t.Errorf("an empty message: %d", code)
	}

	// The provider goes down: search answers by words, the assistant by
	// search (a second search by words), and /metrics counts it.
	var fails []llmtest.Failure
	for range 40 {
		fails = append(fails, llmtest.Failure{Status: 503})
	}
	srv.Fail(fails...)
	if code := call(t, "GET", base+"/v1/search?q=heart+holder&n=5", "", &found); code != 200 || len(found.Items) == 0 {
		t.Errorf("search with the provider down: %d %+v", code, found)
	}
	rep = assistant.Reply{}
	if code := call(t, "POST", base+"/v1/assistant", `{"message":"heart holder"}`, &rep); code != 200 || rep.Assistant != "unavailable" || len(rep.Items) == 0 {
		t.Errorf("assistant with the provider down: %d %+v", code, rep)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"tailor_search_embedding_failures_total 2", `tailor_llm_embedding_cache_total{result="hit"} 0`, `tailor_assistant_replies_total{assistant="unavailable"} 1`,
		`tailor_assistant_refused_products_total 1`, `tailor_llm_requests_total{operation="chat",outcome="retry"`, `tailor_llm_embedding_cache_total{result="miss"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
			for _, l := range strings.Split(string(metrics), "\n") {
				if strings.Contains(l, "embedding") || strings.Contains(l, "assistant") {
					t.Log(l)
				}
			}
		}
	}
}

// TestServeWithoutProvider: the assistant is off and answers with search.
func TestServeWithoutProvider(t *testing.T) {
	dir := importSample(t)
	base, out := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")
	if !strings.Contains(out.String(), "The shopping assistant is off") {
		t.Errorf("serve did not say the assistant is off:\n%s", out)
	}
	var rep assistant.Reply
	if code := call(t, "POST", base+"/v1/assistant", `{"message":"heart holder"}`, &rep); code != 200 || rep.Assistant != "off" || len(rep.Items) == 0 {
		t.Errorf("assistant off: %d %+v", code, rep)
	}
}
