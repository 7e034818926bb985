// Package llmtest is a test server that speaks the OpenAI-compatible API
// (embeddings and chat completions with tool calls) for the tests of the
// client and of what uses it: embeddings are made from the text's words,
// chat replies are scripted, and failures can be queued.
package llmtest

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dims is the length of the server's embeddings.
const Dims = 16

// Reply is a scripted chat reply: text, or tool calls (name and JSON
// arguments), or a raw body sent as is.
type Reply struct {
	Content   string
	ToolCalls []Call
	Raw       string
}

// Call is a scripted tool call.
type Call struct {
	Name, Arguments string
}

// Failure is a queued failed answer: a status (with Retry-After seconds
// when RetryAfter is set) or a delay longer than the client waits.
type Failure struct {
	Status     int
	RetryAfter string
	Body       string
	Delay      time.Duration
}

// Server is the test server. Its fields may be set between requests.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	failures []Failure
	replies  []Reply
	// requests are the bodies of the chat requests received, decoded
	// (Chats).
	requests []map[string]any
	// Key, when set, must come as the bearer token.
	Key string
	// Calls counts the requests per path.
	Calls map[string]int
	// Reverse makes embeddings come back in reverse order (with their
	// indices), as the protocol allows.
	Reverse bool
}

// New starts a server; Close it when done.
func New() *Server {
	s := &Server{Calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Fail queues failures for the next requests.
func (s *Server) Fail(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// Script queues chat replies.
func (s *Server) Script(r ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, r...)
}

// Chats returns the bodies of the chat requests received so far,
// decoded, oldest first.
func (s *Server) Chats() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.requests...)
}

// Count returns the requests made to path.
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Calls[path]
}

// Vector is the embedding the server gives a text: the sum of a
// pseudo-random vector per lower-cased word, so texts sharing words are
// close.
func Vector(text string) []float32 {
	v := make([]float32, Dims)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		h := sha256.Sum256([]byte(w))
		for i := range v {
			v[i] += float32(int8(h[i%len(h)])) / 128
		}
	}
	return v
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.Calls[r.URL.Path]++
	var f *Failure
	if len(s.failures) > 0 {
		f = &s.failures[0]
		s.failures = s.failures[1:]
	}
	key := s.Key
	s.mu.Unlock()
	if f != nil {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.Status != 0 {
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			w.WriteHeader(f.Status)
			io.WriteString(w, f.Body)
			return
		}
	}
	if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided"}}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/v1/embeddings":
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"bad request"}}`)
			return
		}
		type datum struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []datum
		tokens := 0
		for i, t := range req.Input {
			data = append(data, datum{i, Vector(t)})
			tokens += len(strings.Fields(t))
		}
		if s.Reverse {
			for i, j := 0, len(data)-1; i < j; i, j = i+1, j-1 {
				data[i], data[j] = data[j], data[i]
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}})
	case "/v1/chat/completions":
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		var rep Reply
		if len(s.replies) > 0 {
			rep = s.replies[0]
			s.replies = s.replies[1:]
		} else {
			rep = Reply{Content: "(no scripted reply)"}
		}
		s.mu.Unlock()
		if rep.Raw != "" {
			io.WriteString(w, rep.Raw)
			return
		}
		msg := map[string]any{"role": "assistant", "content": rep.Content}
		finish := "stop"
		if len(rep.ToolCalls) > 0 {
			var calls []map[string]any
			for i, c := range rep.ToolCalls {
				calls = append(calls, map[string]any{"id": "call_" + strconv.Itoa(i), "type": "function",
					"function": map[string]any{"name": c.Name, "arguments": c.Arguments}})
			}
			msg["tool_calls"], msg["content"], finish = calls, nil, "tool_calls"
		}
		prompt := len(body) / 4 // about a token per four bytes
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage": map[string]int{"prompt_tokens": prompt, "completion_tokens": 10, "total_tokens": prompt + 10}})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}
