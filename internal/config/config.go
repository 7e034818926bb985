// Package config holds Tailor's configuration file format: typed sections
// with documented defaults, loaded strictly (unknown keys are errors) and
// validated once. Components never import it: the cli package turns each
// section into that component's options.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/tailorhq/tailor"
)

// Config is the whole configuration. The zero value is not valid; start
// from Default.
type Config struct {
	Server ServerConfig `toml:"server"`
	Events EventsConfig `toml:"events"`
	Auth   AuthConfig   `toml:"auth"`
	WebUI  WebUIConfig  `toml:"webui"`
	LLM    LLMConfig    `toml:"llm"`
	Store  StoreConfig  `toml:"store"`
	NATS   NATSConfig   `toml:"nats"`
	Redis  RedisConfig  `toml:"redis"`
}

// RedisConfig gives serving replicas a Redis for what they share hot: the
// API keys' rate limits (one budget per key across replicas), shoppers'
// newest events, and the rankings replicas compute. While Redis does not
// answer, each replica limits by itself and computes for itself, and
// /healthz and /metrics say so.
type RedisConfig struct {
	// URL is the Redis server, such as redis://127.0.0.1:6379/0;
	// TAILOR_REDIS_URL overrides it. Empty: no Redis.
	URL string `toml:"url"`
	// Prefix starts every key Tailor writes (default "tailor:"), for
	// several shops on one Redis.
	Prefix string `toml:"prefix"`
	// RankingTTL is how long a ranking a replica computed (a model
	// version's best items for a history or an item) stays in Redis for
	// the others (default 10m).
	RankingTTL Duration `toml:"ranking_ttl"`
}

// NATSConfig connects serving replicas through a NATS JetStream stream:
// the events, items, shoppers and scenarios written through one replica,
// and the model versions activated through it, reach every other replica
// at once. Without it replicas on one store follow it at their own pace
// (histories after serve's --history-ttl, the registry within two seconds).
type NATSConfig struct {
	// URL is the NATS server, such as nats://127.0.0.1:4222;
	// TAILOR_NATS_URL overrides it. Empty: no sharing.
	URL string `toml:"url"`
	// Stream names the JetStream stream (default "TAILOR"): the same for
	// every replica of a shop, another for each shop on one NATS.
	Stream string `toml:"stream"`
}

// StoreConfig chooses where Tailor keeps its data. Empty is the embedded
// SQLite store in the data dir; a PostgreSQL URL lets several serving
// replicas share one store.
type StoreConfig struct {
	// URL is a postgres:// (or postgresql://) URL; TAILOR_STORE in the
	// environment and the commands' --store flag override it.
	URL string `toml:"url"`
	// ReadURL, if set, is a PostgreSQL URL (a streaming replica) that
	// listings, scans for training and analyses read from;
	// TAILOR_STORE_READ_URL overrides it.
	ReadURL string `toml:"read_url"`
}

// LLMConfig configures the word vectors of search by meaning and, when a
// shop has one, a language-model provider: any OpenAI-compatible API
// (a hosted provider, or a vLLM, Ollama or llama.cpp server). Tailor works
// fully without a provider.
type LLMConfig struct {
	// Vectors is the word-vector file search finds items by meaning with:
	// empty uses the file of 'tailor vectors install' when it is there;
	// "off" searches by words only.
	Vectors string `toml:"vectors"`
	// BaseURL is the provider's API, such as https://api.openai.com/v1;
	// empty means no provider.
	BaseURL string `toml:"base_url"`
	// APIKey is the provider's key; TAILOR_LLM_API_KEY in the
	// environment overrides it (keep keys out of files).
	APIKey string `toml:"api_key"`
	// ChatModel is the chat model of the shopping assistant and of LLM
	// re-ranking; EmbeddingModel, when set, embeds the catalog and the
	// queries of search instead of the word vectors (each text once: the
	// store keeps the embeddings).
	ChatModel      string `toml:"chat_model"`
	EmbeddingModel string `toml:"embedding_model"`
	// Timeout bounds each request to the provider (default 30s);
	// RateLimit is the most requests a second sent to it (0: no limit).
	Timeout   Duration `toml:"timeout"`
	RateLimit float64  `toml:"rate_limit"`
	// PromptPrice and CompletionPrice are what a million tokens cost in
	// dollars, for the cost counter in /metrics.
	PromptPrice     float64 `toml:"prompt_price"`
	CompletionPrice float64 `toml:"completion_price"`
}

// WebUIConfig configures the storefront (/) and dashboard (/admin) pages.
type WebUIConfig struct {
	// Disabled turns both pages off; the API is served alone.
	Disabled bool `toml:"disabled"`
	// StorefrontKey is the key the storefront's pages call the API with
	// when keys are configured. Every shopper's browser sees it, so it must
	// be one of the auth.keys with the role read, never write or admin.
	StorefrontKey string `toml:"storefront_key"`
}

// ServerConfig configures the HTTP API.
type ServerConfig struct {
	// MaxBodyBytes is the largest request body accepted (default 16 MiB).
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// MaxBatch is the most rows one batch request may carry (default 10000).
	MaxBatch int `toml:"max_batch"`
	// Durability is what an acknowledged write survives: "full" (the
	// default) a crash of the machine, as each commit is synced to disk;
	// "process" a crash of the process only, as the log is synced at
	// checkpoints (faster ingestion; BENCHMARKS.md has the cost).
	Durability string `toml:"durability"`
}

// EventsConfig says which events are accepted and what they weigh.
type EventsConfig struct {
	// AllowCustomTypes admits event types beyond the built-in ones
	// (default true).
	AllowCustomTypes bool `toml:"allow_custom_types"`
	// Types, when set, is the closed list of accepted event types.
	Types []string `toml:"types"`
	// MaxFuture is how far in the future a timestamp may be (default 24h).
	MaxFuture Duration `toml:"max_future"`
	// Weights is how much each event type counts as a signal of interest
	// when models build training data. Types not listed weigh 0.
	Weights map[string]float64 `toml:"weights"`
	// ExcludeFromRecommendations lists the event types whose items are
	// not recommended again to the shopper (default ["purchase"]; an empty
	// list recommends bought items too). Returned items never are.
	ExcludeFromRecommendations []string `toml:"exclude_from_recommendations"`
}

// AuthConfig lists the API keys, and what shopper tokens need.
type AuthConfig struct {
	Keys []KeyConfig `toml:"keys"`
	// TokenSecret signs shopper tokens (at least 32 characters; also
	// TAILOR_TOKEN_SECRET). Empty: a random secret each start, so tokens
	// stop working when the server restarts and replicas refuse each
	// other's.
	TokenSecret string `toml:"token_secret"`
	// AllowedOrigins are other sites (scheme://host[:port]) whose pages
	// may call the API from a browser (CORS).
	AllowedOrigins []string `toml:"allowed_origins"`
}

// KeyConfig is one API key, stored as the SHA-256 of the key, never the key.
type KeyConfig struct {
	// Name identifies the key in logs.
	Name string `toml:"name"`
	// Role is read, write or admin.
	Role string `toml:"role"`
	// SHA256 is the lower-case hex SHA-256 of the key.
	SHA256 string `toml:"sha256"`
	// RateLimit is how many requests a second the key may make on
	// average (0: no limit); Burst how many at once (0: RateLimit rounded
	// up).
	RateLimit float64 `toml:"rate_limit"`
	Burst     int     `toml:"burst"`
}

// Duration is a time.Duration written as a string such as "36h".
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Roles are the API key roles, from least to most privileged. Each role
// may do everything the roles before it may.
var Roles = []string{"read", "write", "admin"}

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		Server: ServerConfig{MaxBodyBytes: 16 << 20, MaxBatch: 10000, Durability: "full"},
		Events: EventsConfig{
			AllowCustomTypes: true,
			MaxFuture:        Duration(24 * time.Hour),
			Weights: map[string]float64{
				"view": 1, "click": 2, "add_to_cart": 4, "remove_from_cart": 0,
				"purchase": 8, "return": 0, "rating": 1,
			},
			ExcludeFromRecommendations: []string{"purchase", "rating"},
		},
	}
}

// Load reads the TOML file at path over the defaults and validates the
// result. Keys the file does not know are errors.
func Load(path string) (*Config, error) {
	c, err := Parse(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads the TOML file at path over the defaults without validating
// the result (for a caller that adds to it first, then calls Validate).
// Keys the file does not know are errors.
func Parse(path string) (*Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return c, nil
}

// Validate checks the configuration and reports every problem.
func (c *Config) Validate() error {
	var errs []error
	if c.Server.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("server.max_body_bytes: %d is below 1024", c.Server.MaxBodyBytes))
	}
	if d := c.Server.Durability; d != "full" && d != "process" {
		errs = append(errs, fmt.Errorf("server.durability: %q must be full or process", d))
	}
	for _, u := range []struct{ field, url string }{{"store.url", c.Store.URL}, {"store.read_url", c.Store.ReadURL}} {
		if u.url != "" && !strings.HasPrefix(u.url, "postgres://") && !strings.HasPrefix(u.url, "postgresql://") {
			errs = append(errs, fmt.Errorf("%s: %q is not a postgres:// URL", u.field, redactURL(u.url)))
		}
	}
	if u := c.NATS.URL; u != "" && !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
		errs = append(errs, fmt.Errorf("nats.url: %q is not a nats:// URL", redactURL(u)))
	}
	for _, r := range c.NATS.Stream {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			errs = append(errs, fmt.Errorf("nats.stream: %q may hold only letters, digits, _ and -", c.NATS.Stream))
			break
		}
	}
	if u := c.Redis.URL; u != "" && !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") && !strings.HasPrefix(u, "unix://") {
		errs = append(errs, fmt.Errorf("redis.url: %q is not a redis:// URL", redactURL(u)))
	}
	if c.Redis.RankingTTL < 0 {
		errs = append(errs, errors.New("redis.ranking_ttl: must not be negative"))
	}
	if c.Store.ReadURL != "" && c.Store.URL == "" {
		errs = append(errs, errors.New("store.read_url: set without store.url (the embedded store has no replicas)"))
	}
	if c.Server.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("server.max_batch: %d must be at least 1", c.Server.MaxBatch))
	}
	if c.Events.MaxFuture < 0 {
		errs = append(errs, errors.New("events.max_future: must not be negative"))
	}
	for _, t := range c.Events.Types {
		if !tailor.ValidTypeName(t) {
			errs = append(errs, fmt.Errorf("events.types: %q is not a valid event type name (a-z, 0-9, _)", t))
		}
	}
	for i, t := range c.Events.ExcludeFromRecommendations {
		if !tailor.ValidTypeName(t) {
			errs = append(errs, fmt.Errorf("events.exclude_from_recommendations[%d]: %q is not a valid event type name (a-z, 0-9, _)", i, t))
		}
	}
	for t, w := range c.Events.Weights {
		if !tailor.ValidTypeName(t) {
			errs = append(errs, fmt.Errorf("events.weights: %q is not a valid event type name (a-z, 0-9, _)", t))
		}
		if w != w || w < -1e6 || w > 1e6 {
			errs = append(errs, fmt.Errorf("events.weights.%s: %v is out of range", t, w))
		}
	}
	seen, names := map[string]bool{}, map[string]bool{}
	for i, k := range c.Auth.Keys {
		field := fmt.Sprintf("auth.keys[%d]", i)
		if k.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", field))
		}
		if !slices.Contains(Roles, k.Role) {
			errs = append(errs, fmt.Errorf("%s.role: %q is not one of %s", field, k.Role, strings.Join(Roles, ", ")))
		}
		if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != sha256.Size || strings.ToLower(k.SHA256) != k.SHA256 {
			errs = append(errs, fmt.Errorf("%s.sha256: must be 64 lower-case hex digits (see 'tailor keys hash')", field))
		}
		if !(k.RateLimit >= 0 && k.RateLimit <= 1e6) {
			errs = append(errs, fmt.Errorf("%s.rate_limit: %v must be from 0 (no limit) to 1000000 requests a second", field, k.RateLimit))
		}
		if k.Burst < 0 || k.Burst > 1e6 {
			errs = append(errs, fmt.Errorf("%s.burst: %d must be from 0 to 1000000", field, k.Burst))
		}
		if seen[k.SHA256] {
			errs = append(errs, fmt.Errorf("%s: the same key is listed twice", field))
		}
		if names[k.Name] && k.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is the name of another key (shopper tokens name the key that minted them)", field, k.Name))
		}
		seen[k.SHA256], names[k.Name] = true, true
	}
	if n := len(c.Auth.TokenSecret); n > 0 && n < 32 {
		errs = append(errs, fmt.Errorf("auth.token_secret: %d characters; at least 32 are needed (any random string, such as a key from 'tailor keys generate')", n))
	}
	for i, o := range c.Auth.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("auth.allowed_origins[%d]: %q is not an origin such as https://shop.example (scheme and host, no path)", i, o))
		}
	}
	if l := c.LLM; l.BaseURL != "" {
		if u, err := url.Parse(l.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("llm.base_url: %q is not an http(s) URL such as https://api.openai.com/v1", l.BaseURL))
		}
		if l.ChatModel == "" && l.EmbeddingModel == "" {
			errs = append(errs, errors.New("llm.base_url: name a chat_model, an embedding_model or both"))
		}
	} else if l.ChatModel != "" || l.EmbeddingModel != "" || l.APIKey != "" {
		errs = append(errs, errors.New("llm.chat_model, llm.embedding_model and llm.api_key need llm.base_url"))
	}
	if l := c.LLM; l.Timeout < 0 || !(l.RateLimit >= 0) || !(l.PromptPrice >= 0) || !(l.CompletionPrice >= 0) {
		errs = append(errs, errors.New("llm.timeout, llm.rate_limit, llm.prompt_price and llm.completion_price must not be negative"))
	}
	if key := c.WebUI.StorefrontKey; key != "" {
		i := slices.IndexFunc(c.Auth.Keys, func(k KeyConfig) bool { return k.SHA256 == HashKey(key) })
		switch {
		case i < 0:
			errs = append(errs, errors.New("webui.storefront_key: not one of auth.keys (list its hash with the role read)"))
		case c.Auth.Keys[i].Role != "read":
			errs = append(errs, fmt.Errorf("webui.storefront_key: the key %q has the role %s; shoppers' browsers see this key, so it must have the role read", c.Auth.Keys[i].Name, c.Auth.Keys[i].Role))
		}
	}
	return errors.Join(errs...)
}

// Rules returns the validation rules the events section asks for.
func (c *Config) Rules() tailor.Rules {
	r := tailor.DefaultRules()
	r.AllowCustomTypes = c.Events.AllowCustomTypes
	r.MaxFuture = time.Duration(c.Events.MaxFuture)
	for _, t := range c.Events.Types {
		r.EventTypes = append(r.EventTypes, tailor.EventType(t))
	}
	return r
}

// HashKey returns the lower-case hex SHA-256 of an API key, as stored in
// the configuration.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// KeysFromEnv parses API keys from the value of TAILOR_API_KEYS: a comma
// separated list of ROLE:KEY pairs. The keys are hashed at once; the
// plain keys are not kept.
func KeysFromEnv(v string) ([]KeyConfig, error) {
	var keys []KeyConfig
	for i, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		role, key, ok := strings.Cut(part, ":")
		if !ok || !slices.Contains(Roles, role) {
			return nil, fmt.Errorf("TAILOR_API_KEYS entry %d: expected ROLE:KEY with ROLE one of %s", i+1, strings.Join(Roles, ", "))
		}
		if len(key) < 16 {
			return nil, fmt.Errorf("TAILOR_API_KEYS entry %d: the key is shorter than 16 characters", i+1)
		}
		keys = append(keys, KeyConfig{Name: fmt.Sprintf("env-%d", i+1), Role: role, SHA256: HashKey(key)})
	}
	return keys, nil
}

// redactURL drops a password from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err == nil:
		return u.Redacted()
	case !strings.Contains(s, "@"):
		return s // no user information, so no password
	}
	return "(an unparsable URL)"
}
