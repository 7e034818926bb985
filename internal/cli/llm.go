package cli

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/llm"
	"github.com/tailorhq/tailor/internal/llm/explain"
	"github.com/tailorhq/tailor/internal/llm/glove"
	"github.com/tailorhq/tailor/internal/llm/openai"
	"github.com/tailorhq/tailor/internal/llm/rerank"
	"github.com/tailorhq/tailor/internal/recommend"
)

// llmProvider returns the configured OpenAI-compatible client, or nil when
// none is configured.
func llmProvider(cfg *config.Config, reg prometheus.Registerer) (*openai.Client, error) {
	l := cfg.LLM
	if l.BaseURL == "" {
		return nil, nil
	}
	return openai.New(openai.Config{BaseURL: l.BaseURL, APIKey: l.APIKey, ChatModel: l.ChatModel, EmbeddingModel: l.EmbeddingModel,
		Timeout: time.Duration(l.Timeout), RateLimit: l.RateLimit, PromptPrice: l.PromptPrice, CompletionPrice: l.CompletionPrice,
		Registerer: reg})
}

// searchEmbedder returns what search embeds the catalog with (nil: words
// only), what it embeds queries with (nil: the same), and a line saying
// so: the provider's embedding model (the catalog's embeddings kept in the
// store, the queries' not), else the installed word vectors.
func searchEmbedder(cfg *config.Config, prov *openai.Client, cache llm.EmbeddingStore, reg prometheus.Registerer) (llm.Embedder, llm.Embedder, string, error) {
	l := cfg.LLM
	if prov != nil && l.EmbeddingModel != "" {
		lookups := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_llm_embedding_cache_total",
			Help: "Texts looked up in the store's embedding cache, by result (hit, miss)."}, []string{"result"})
		if reg != nil {
			reg.MustRegister(lookups)
		}
		hit, miss := lookups.WithLabelValues("hit"), lookups.WithLabelValues("miss")
		return &llm.Cached{Embedder: prov, Store: cache, Hits: func(n int) { hit.Add(float64(n)) }, Misses: func(n int) { miss.Add(float64(n)) }}, prov,
			fmt.Sprintf("Search finds items by words and meaning: embeddings of %s at %s (kept in the store).", l.EmbeddingModel, l.BaseURL), nil
	}
	if l.Vectors == "off" {
		return nil, nil, "Search finds items by their words (llm.vectors is off).", nil
	}
	path := cmp.Or(l.Vectors, glove.DefaultPath())
	if _, err := os.Stat(path); err != nil {
		if l.Vectors != "" {
			return nil, nil, "", fmt.Errorf("llm.vectors: %w (install them with 'tailor vectors install --out %s')", err, path)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Sprintf("Search finds items by their words: no word vectors at %s ('tailor vectors install' adds search by meaning).", path), nil
		}
		return nil, nil, "", err
	}
	v, err := glove.Load(path)
	if err != nil {
		return nil, nil, "", err
	}
	return v, nil, fmt.Sprintf("Search finds items by words and meaning: %d word vectors from %s.", v.Len(), path), nil
}

// llmSentencer is the chat model that writes reasons as sentences, or nil
// without one.
func llmSentencer(cfg *config.Config, prov *openai.Client) recommend.Sentencer {
	if prov == nil || cfg.LLM.ChatModel == "" {
		return nil
	}
	return &explain.Explainer{Chat: prov}
}

// llmRanker is the chat model that orders the lists of scenarios with
// llm_rerank, or nil without one.
func llmRanker(cfg *config.Config, prov *openai.Client) recommend.LLMRanker {
	if prov == nil || cfg.LLM.ChatModel == "" {
		return nil
	}
	return &rerank.Reranker{Chat: prov}
}
