// Package openai is a client of the OpenAI-compatible HTTP API (embeddings
// and chat completions with tools) that hosted providers and self-hosted
// servers (vLLM, Ollama, llama.cpp) speak. It implements llm.Embedder and
// llm.Chatter, with a timeout per attempt, retries with backoff on 429 and
// 5xx answers and transport errors (honouring Retry-After), a client-side
// rate limit, and usage, cost and latency in Prometheus metrics.
//
// It is a small client of its own rather than the official SDK: Tailor
// uses two endpoints, and needs the retry, rate-limit and metrics policy in
// one place of its own for every OpenAI-compatible server, where the
// official module brings its own retries and hundreds of generated types.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tailorhq/tailor/internal/llm"
)

// Config configures a Client. Zero fields take the documented defaults.
type Config struct {
	// BaseURL is the API's base, such as https://api.openai.com/v1 or
	// http://127.0.0.1:11434/v1 (Ollama). Required.
	BaseURL string
	// APIKey is sent as a bearer token when not empty.
	APIKey string
	// ChatModel and EmbeddingModel name the models; a client without one
	// refuses that operation.
	ChatModel, EmbeddingModel string
	// Timeout bounds each attempt (default 30 s).
	Timeout time.Duration
	// Retries is how many times a failed attempt is retried (default 3;
	// negative: never), the first after Backoff (default 500 ms), each
	// next after twice the last, or after the Retry-After the server
	// sends (capped at 30 s).
	Retries int
	Backoff time.Duration
	// RateLimit is the most requests a second the client sends (0: no
	// limit), in bursts of at most Burst (default 1).
	RateLimit float64
	Burst     int
	// PromptPrice and CompletionPrice are what a million tokens cost, in
	// dollars, for the cost counter.
	PromptPrice, CompletionPrice float64
	// Batch is the most texts in one embeddings request (default 128).
	Batch int
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// HTTPClient sends the requests (default: a client of its own).
	HTTPClient *http.Client
}

// Client is an OpenAI-compatible API client. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    string
	http    *http.Client
	limiter *rate.Limiter
	met     *metrics
}

// New returns a client, or an error naming the setting that is wrong.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("llm base_url: %q is not an http(s) URL such as https://api.openai.com/v1", cfg.BaseURL)
	}
	if cfg.Timeout < 0 || cfg.Backoff < 0 || cfg.RateLimit < 0 || cfg.Burst < 0 || cfg.Batch < 0 {
		return nil, errors.New("llm: timeout, backoff, rate_limit, burst and batch must not be negative")
	}
	if cfg.PromptPrice < 0 || cfg.CompletionPrice < 0 {
		return nil, errors.New("llm: prices must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.Batch == 0 {
		cfg.Batch = 128
	}
	c := &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), http: cfg.HTTPClient}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if cfg.RateLimit > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), max(1, cfg.Burst))
	}
	c.met = newMetrics(cfg.Registerer, u.Host)
	return c, nil
}

// Name identifies the embedding model: the server's host and the model.
func (c *Client) Name() string {
	u, _ := url.Parse(c.base)
	return "openai:" + u.Host + "/" + c.cfg.EmbeddingModel
}

type embeddingsRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

type embeddingsReply struct {
	Data []struct {
		Index     *int      `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage llm.Usage `json:"usage"`
}

// Embed returns one vector per text, asking in batches of Config.Batch.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if c.cfg.EmbeddingModel == "" {
		return nil, errors.New("llm: no embedding model is configured (embedding_model)")
	}
	out := make([][]float32, 0, len(texts))
	for lo := 0; lo < len(texts); lo += c.cfg.Batch {
		batch := texts[lo:min(len(texts), lo+c.cfg.Batch)]
		var rep embeddingsReply
		if err := c.do(ctx, "embeddings", "/embeddings", embeddingsRequest{Model: c.cfg.EmbeddingModel, Input: batch}, &rep); err != nil {
			return nil, err
		}
		c.met.usage("embeddings", rep.Usage, c.cfg.PromptPrice, 0)
		if len(rep.Data) != len(batch) {
			return nil, fmt.Errorf("llm embeddings: %d vectors for %d texts: %w", len(rep.Data), len(batch), llm.ErrMalformed)
		}
		vecs := make([][]float32, len(batch))
		for _, d := range rep.Data {
			if d.Index == nil || *d.Index < 0 || *d.Index >= len(batch) || vecs[*d.Index] != nil {
				return nil, fmt.Errorf("llm embeddings: a missing, repeated or out-of-range index: %w", llm.ErrMalformed)
			}
			vecs[*d.Index] = d.Embedding
		}
		for i, v := range vecs {
			if len(v) == 0 || (len(out)+i > 0 && len(v) != len(firstOf(out, vecs))) {
				return nil, fmt.Errorf("llm embeddings: vector %d has %d dimensions: %w", lo+i, len(v), llm.ErrMalformed)
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, fmt.Errorf("llm embeddings: vector %d is not finite: %w", lo+i, llm.ErrMalformed)
				}
			}
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// firstOf is the first vector of out, else of vecs.
func firstOf(out, vecs [][]float32) []float32 {
	if len(out) > 0 {
		return out[0]
	}
	return vecs[0]
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    *string        `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string   `json:"type"`
	Function llm.Tool `json:"function"`
}

type chatRequest struct {
	Model     string        `json:"model"`
	Messages  []chatMessage `json:"messages"`
	Tools     []chatTool    `json:"tools,omitempty"`
	MaxTokens int           `json:"max_tokens,omitempty"`
}

type chatReply struct {
	Choices []struct {
		Message      chatMessage `json:"message"`
		FinishReason string      `json:"finish_reason"`
	} `json:"choices"`
	Usage llm.Usage `json:"usage"`
}

// Chat sends the conversation and returns the model's reply.
func (c *Client) Chat(ctx context.Context, req llm.ChatRequest) (llm.ChatResponse, error) {
	if c.cfg.ChatModel == "" {
		return llm.ChatResponse{}, errors.New("llm: no chat model is configured (chat_model)")
	}
	body := chatRequest{Model: c.cfg.ChatModel, MaxTokens: req.MaxTokens}
	for _, m := range req.Messages {
		cm := chatMessage{Role: m.Role, ToolCallID: m.ToolCallID}
		content := m.Content
		cm.Content = &content
		for _, tc := range m.ToolCalls {
			var call chatToolCall
			call.ID, call.Type, call.Function.Name, call.Function.Arguments = tc.ID, "function", tc.Name, string(tc.Arguments)
			cm.ToolCalls = append(cm.ToolCalls, call)
		}
		body.Messages = append(body.Messages, cm)
	}
	for _, t := range req.Tools {
		body.Tools = append(body.Tools, chatTool{Type: "function", Function: t})
	}
	var rep chatReply
	if err := c.do(ctx, "chat", "/chat/completions", body, &rep); err != nil {
		return llm.ChatResponse{}, err
	}
	c.met.usage("chat", rep.Usage, c.cfg.PromptPrice, c.cfg.CompletionPrice)
	if len(rep.Choices) == 0 {
		return llm.ChatResponse{}, fmt.Errorf("llm chat: no choices: %w", llm.ErrMalformed)
	}
	ch := rep.Choices[0]
	out := llm.ChatResponse{FinishReason: ch.FinishReason, Usage: rep.Usage, Message: llm.Message{Role: llm.RoleAssistant}}
	if ch.Message.Content != nil {
		out.Message.Content = *ch.Message.Content
	}
	for _, tc := range ch.Message.ToolCalls {
		args := strings.TrimSpace(tc.Function.Arguments)
		if args == "" {
			args = "{}"
		}
		if tc.Function.Name == "" || !json.Valid([]byte(args)) {
			return llm.ChatResponse{}, fmt.Errorf("llm chat: a tool call without a name or with arguments that are not JSON: %w", llm.ErrMalformed)
		}
		out.Message.ToolCalls = append(out.Message.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: json.RawMessage(args)})
	}
	if out.Message.Content == "" && len(out.Message.ToolCalls) == 0 {
		return llm.ChatResponse{}, fmt.Errorf("llm chat: a reply with neither text nor tool calls: %w", llm.ErrMalformed)
	}
	return out, nil
}

// StatusError is a non-2xx answer of the provider.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("llm provider answered %d: %s", e.Status, e.Message)
}

// retryable reports answers worth another try.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusInternalServerError || status == http.StatusBadGateway ||
		status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// do posts body to path and decodes the answer into out, with the rate
// limit, a timeout per attempt and retries.
func (c *Client) do(ctx context.Context, op, path string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("llm %s: %w", op, err)
	}
	wait := c.cfg.Backoff
	retries := max(0, c.cfg.Retries)
	for attempt := 0; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return fmt.Errorf("llm %s: %w", op, err)
			}
		}
		start := time.Now()
		status, retryAfter, err := c.attempt(ctx, path, payload, out)
		c.met.seconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
		if err == nil {
			c.met.requests.WithLabelValues(op, "ok").Inc()
			return nil
		}
		if ctx.Err() != nil {
			c.met.requests.WithLabelValues(op, "error").Inc()
			return fmt.Errorf("llm %s: %w", op, ctx.Err())
		}
		again := attempt < retries && (status == 0 && !errors.Is(err, llm.ErrMalformed) || retryable(status))
		if !again {
			c.met.requests.WithLabelValues(op, "error").Inc()
			return fmt.Errorf("llm %s: %w", op, err)
		}
		c.met.requests.WithLabelValues(op, "retry").Inc()
		d := wait
		if retryAfter > 0 {
			d = min(retryAfter, 30*time.Second)
		}
		wait *= 2
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			c.met.requests.WithLabelValues(op, "error").Inc()
			return fmt.Errorf("llm %s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// attempt sends one request; it returns the status (0 when none came),
// the Retry-After asked for, and the error.
func (c *Client) attempt(ctx context.Context, path string, payload []byte, out any) (int, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, "POST", c.base+path, bytes.NewReader(payload))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode/100 != 2 {
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			after = time.Duration(s) * time.Second
		}
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return resp.StatusCode, after, &StatusError{Status: resp.StatusCode, Message: msg}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, 0, fmt.Errorf("%w: %v", llm.ErrMalformed, err)
	}
	return resp.StatusCode, 0, nil
}

type metrics struct {
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	cost     *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, host string) *metrics {
	labels := prometheus.Labels{"provider": host}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_llm_requests_total", ConstLabels: labels,
			Help: "Requests to the language model provider by operation and outcome (ok, retry, error)."}, []string{"operation", "outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_llm_tokens_total", ConstLabels: labels,
			Help: "Tokens the provider counted, by operation and kind (prompt, completion)."}, []string{"operation", "kind"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_llm_cost_dollars_total", ConstLabels: labels,
			Help: "What the tokens cost at the configured prices, in dollars."}, []string{"operation"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tailor_llm_request_seconds", ConstLabels: labels,
			Help: "Duration of each attempt.", Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10)}, []string{"operation"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.tokens, m.cost, m.seconds)
	}
	return m
}

// usage counts a reply's tokens and their cost.
func (m *metrics) usage(op string, u llm.Usage, promptPrice, completionPrice float64) {
	m.tokens.WithLabelValues(op, "prompt").Add(float64(u.PromptTokens))
	m.tokens.WithLabelValues(op, "completion").Add(float64(u.CompletionTokens))
	m.cost.WithLabelValues(op).Add((float64(u.PromptTokens)*promptPrice + float64(u.CompletionTokens)*completionPrice) / 1e6)
}
