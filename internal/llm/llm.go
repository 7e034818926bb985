// Package llm is Tailor's access to language and embedding models as a
// service: small interfaces for embedding texts and for chat with tools,
// with the behaviour every provider needs around them (an embedding cache
// in the store, usage and cost counted in /metrics). Providers live in
// their own packages (llm/openai for any OpenAI-compatible endpoint,
// llm/glove for local word vectors); no provider type leaks out of them.
package llm

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Embedder turns texts into vectors of one model.
type Embedder interface {
	// Name identifies the model and its version (the embedding cache's
	// key), such as "openai:text-embedding-3-small" or "glove-sif:100".
	Name() string
	// Embed returns one vector per text, in order, all of one length.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Chatter holds one turn of a conversation with a chat model that may call
// tools.
type Chatter interface {
	Chat(ctx context.Context, req ChatRequest) (ChatResponse, error)
}

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one message of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ToolCalls are the calls an assistant message asks for.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID names the call a tool message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// Tool is a function the model may call: its name, what it does, and its
// parameters as a JSON Schema object.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// ToolCall is the model's call of a tool, with its arguments as JSON.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ChatRequest is one turn: the conversation so far and the tools offered.
type ChatRequest struct {
	Messages []Message
	Tools    []Tool
	// MaxTokens bounds the reply (0: the provider's default).
	MaxTokens int
}

// ChatResponse is the model's reply and what it cost.
type ChatResponse struct {
	Message      Message
	FinishReason string
	Usage        Usage
}

// Usage counts the tokens of a request.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// ErrMalformed is wrapped by the errors of replies that do not follow the
// protocol (missing fields, wrong counts, vectors of mixed lengths).
var ErrMalformed = errors.New("malformed reply")

// TextHash is the key of a text in the embedding cache: its SHA-256.
func TextHash(text string) [sha256.Size]byte { return sha256.Sum256([]byte(text)) }

// EmbeddingStore keeps embeddings by model and text hash.
type EmbeddingStore interface {
	// Embeddings returns the stored vectors of the hashes it has.
	Embeddings(ctx context.Context, model string, hashes [][sha256.Size]byte) (map[[sha256.Size]byte][]float32, error)
	// PutEmbeddings stores vectors by hash.
	PutEmbeddings(ctx context.Context, model string, vectors map[[sha256.Size]byte][]float32) error
}

// Cached is an Embedder that asks its store first and its model only for
// the texts the store lacks, then stores what the model returned.
type Cached struct {
	Embedder
	Store EmbeddingStore
	// Hits and Misses, when set, count texts found and not found.
	Hits, Misses func(n int)
}

// Embed returns the stored vectors and embeds the rest.
func (c *Cached) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	hashes := make([][sha256.Size]byte, len(texts))
	for i, t := range texts {
		hashes[i] = TextHash(t)
	}
	have, err := c.Store.Embeddings(ctx, c.Name(), hashes)
	if err != nil {
		return nil, fmt.Errorf("embedding cache: %w", err)
	}
	out := make([][]float32, len(texts))
	var missing []string
	var at []int
	for i, h := range hashes {
		if v, ok := have[h]; ok {
			out[i] = v
		} else {
			missing = append(missing, texts[i])
			at = append(at, i)
		}
	}
	if c.Hits != nil {
		c.Hits(len(texts) - len(missing))
	}
	if c.Misses != nil {
		c.Misses(len(missing))
	}
	if len(missing) == 0 {
		return out, nil
	}
	vecs, err := c.Embedder.Embed(ctx, missing)
	if err != nil {
		return nil, err
	}
	if len(vecs) != len(missing) {
		return nil, fmt.Errorf("%s: %d vectors for %d texts: %w", c.Name(), len(vecs), len(missing), ErrMalformed)
	}
	put := make(map[[sha256.Size]byte][]float32, len(missing))
	for k, i := range at {
		out[i] = vecs[k]
		put[hashes[i]] = vecs[k]
	}
	if err := c.Store.PutEmbeddings(ctx, c.Name(), put); err != nil {
		return nil, fmt.Errorf("embedding cache: %w", err)
	}
	return out, nil
}

// AskJSON sends one system and one user message to the chat model within
// timeout and decodes its answer, JSON (in a code fence or not), into out;
// an answer that is not that JSON wraps ErrMalformed.
func AskJSON(ctx context.Context, chat Chatter, system, user string, maxTokens int, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := chat.Chat(ctx, ChatRequest{MaxTokens: maxTokens, Messages: []Message{{Role: RoleSystem, Content: system}, {Role: RoleUser, Content: user}}})
	if err != nil {
		return err
	}
	text := strings.TrimSpace(resp.Message.Content)
	// Models wrap JSON in a code fence now and then.
	text = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(text, "```json"), "```"), "```"))
	if err := json.Unmarshal([]byte(text), out); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
