package openai_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailorhq/tailor/internal/llm"
	"github.com/tailorhq/tailor/internal/llm/llmtest"
	"github.com/tailorhq/tailor/internal/llm/openai"
)

func client(t *testing.T, s *llmtest.Server, cfg openai.Config) (*openai.Client, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.BaseURL, cfg.Registerer = s.URL+"/v1", reg
	if cfg.EmbeddingModel == "" {
		cfg.EmbeddingModel = "embed-small"
	}
	if cfg.ChatModel == "" {
		cfg.ChatModel = "chat-small"
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	c, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// TestEmbeddings: vectors come back in the order of the texts (the server
// answers in reverse, with indices), in batches, with the key sent, and
// the tokens and their cost counted.
func TestEmbeddings(t *testing.T) {
	s := llmtest.New()
	defer s.Close()
	s.Key, s.Reverse = "sk-test", true
	c, reg := client(t, s, openai.Config{APIKey: "sk-test", Batch: 2, PromptPrice: 20000})
	texts := []string{"red teapot", "blue mug", "tea towel", "heart candle holder", "mug"}
	vecs, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if !slices.Equal(v, llmtest.Vector(texts[i])) {
			t.Errorf("vector %d is not the one of %q", i, texts[i])
		}
	}
	if n := s.Count("/v1/embeddings"); n != 3 {
		t.Errorf("%d requests for 5 texts in batches of 2, want 3", n)
	}
	if got := value(t, reg, "tailor_llm_tokens_total", "operation", "embeddings", "kind", "prompt"); got != 10 {
		t.Errorf("prompt tokens %v, want 10 (the server counts words)", got)
	}
	if got := value(t, reg, "tailor_llm_cost_dollars_total", "operation", "embeddings"); got < 0.2-1e-9 || got > 0.2+1e-9 {
		t.Errorf("cost %v, want 10 tokens at $20,000 a million = 0.2", got)
	}
	if !strings.HasPrefix(c.Name(), "openai:127.0.0.1:") || !strings.HasSuffix(c.Name(), "/embed-small") {
		t.Errorf("name %q", c.Name())
	}
}

// TestFailures: what is retried (429 with Retry-After, 5xx, a timeout)
// and what is not (a 400, a malformed reply), with the provider's message.
func TestFailures(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		fail     []llmtest.Failure
		reply    llmtest.Reply
		wantErr  string
		requests int
	}{
		{"429 then ok", []llmtest.Failure{{Status: 429, RetryAfter: "0"}}, llmtest.Reply{Content: "hi"}, "", 2},
		{"two 503s then ok", []llmtest.Failure{{Status: 503}, {Status: 502}}, llmtest.Reply{Content: "hi"}, "", 3},
		{"a timeout then ok", []llmtest.Failure{{Delay: 300 * time.Millisecond}}, llmtest.Reply{Content: "hi"}, "", 2},
		{"always 500", []llmtest.Failure{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}}, llmtest.Reply{}, "answered 500", 4},
		{"400 is not retried", []llmtest.Failure{{Status: 400, Body: `{"error":{"message":"context length exceeded"}}`}}, llmtest.Reply{}, "answered 400: context length exceeded", 1},
		{"malformed JSON", nil, llmtest.Reply{Raw: `{"choices": [`}, "malformed reply", 1},
		{"no choices", nil, llmtest.Reply{Raw: `{"choices": []}`}, "no choices", 1},
		{"tool arguments not JSON", nil, llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "search", Arguments: "{query: tea"}}}, "not JSON", 1},
		{"empty reply", nil, llmtest.Reply{Raw: `{"choices":[{"message":{"role":"assistant","content":""},"finish_reason":"stop"}]}`}, "neither text nor tool calls", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := llmtest.New()
			defer s.Close()
			s.Fail(tc.fail...)
			s.Script(tc.reply)
			c, reg := client(t, s, openai.Config{Timeout: 100 * time.Millisecond})
			rep, err := c.Chat(ctx, llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}})
			if tc.wantErr == "" && (err != nil || rep.Message.Content != "hi") {
				t.Errorf("reply %+v, %v", rep, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one saying %q", err, tc.wantErr)
			}
			if strings.Contains(tc.wantErr, "malformed") && !errors.Is(err, llm.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if n := s.Count("/v1/chat/completions"); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			retries := value(t, reg, "tailor_llm_requests_total", "operation", "chat", "outcome", "retry")
			if int(retries) != tc.requests-1 {
				t.Errorf("%v retries counted, want %d", retries, tc.requests-1)
			}
		})
	}
}

// TestToolCalls: tools go out in the protocol's shape, and calls come back
// with their names and arguments; a conversation with a tool result is
// sent back in order.
func TestToolCalls(t *testing.T) {
	s := llmtest.New()
	defer s.Close()
	s.Script(llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "search", Arguments: `{"query":"teapot"}`}}}, llmtest.Reply{Content: "Here are teapots."})
	c, _ := client(t, s, openai.Config{})
	tools := []llm.Tool{{Name: "search", Description: "search the catalogue", Parameters: []byte(`{"type":"object","properties":{"query":{"type":"string"}}}`)}}
	msgs := []llm.Message{{Role: llm.RoleSystem, Content: "You help shoppers."}, {Role: llm.RoleUser, Content: "a teapot please"}}
	rep, err := c.Chat(context.Background(), llm.ChatRequest{Messages: msgs, Tools: tools})
	if err != nil || len(rep.Message.ToolCalls) != 1 || rep.Message.ToolCalls[0].Name != "search" || string(rep.Message.ToolCalls[0].Arguments) != `{"query":"teapot"}` || rep.FinishReason != "tool_calls" {
		t.Fatalf("first reply %+v, %v", rep, err)
	}
	msgs = append(msgs, rep.Message, llm.Message{Role: llm.RoleTool, ToolCallID: rep.Message.ToolCalls[0].ID, Content: `[{"id":"T1","title":"Teapot"}]`})
	rep, err = c.Chat(context.Background(), llm.ChatRequest{Messages: msgs, Tools: tools})
	if err != nil || rep.Message.Content != "Here are teapots." {
		t.Fatalf("second reply %+v, %v", rep, err)
	}
	first := s.Chats()[0]
	if first["model"] != "chat-small" || fmt.Sprint(first["tools"]) == "" || !strings.Contains(fmt.Sprint(first["tools"]), "search the catalogue") {
		t.Errorf("first request %v", first)
	}
	sent := s.Chats()[1]["messages"].([]any)
	if len(sent) != 4 || sent[2].(map[string]any)["tool_calls"] == nil || sent[3].(map[string]any)["tool_call_id"] != "call_0" {
		t.Errorf("second request's messages %v", sent)
	}
}

// TestRateLimit: five requests at two a second (bursts of one) take at
// least two seconds.
func TestRateLimit(t *testing.T) {
	s := llmtest.New()
	defer s.Close()
	c, _ := client(t, s, openai.Config{RateLimit: 2, Burst: 1})
	start := time.Now()
	for range 5 {
		if _, err := c.Embed(context.Background(), []string{"x"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Errorf("5 requests at 2 a second took %v", d)
	}
}

// TestBadConfig names the setting.
func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  openai.Config
		want string
	}{
		{openai.Config{BaseURL: "api.openai.com"}, "base_url"},
		{openai.Config{BaseURL: "https://x/v1", Timeout: -1}, "must not be negative"},
		{openai.Config{BaseURL: "https://x/v1", PromptPrice: -1}, "prices"},
	} {
		if _, err := openai.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	c, _ := openai.New(openai.Config{BaseURL: "https://x/v1"})
	if _, err := c.Embed(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "embedding_model") {
		t.Errorf("embed without a model: %v", err)
	}
}

// value reads a counter of the registry by name and labels.
func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := 0
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] == lp.GetValue() {
					match++
				}
			}
			if match == len(want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
