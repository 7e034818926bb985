package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.toml")
	if len(files) == 0 {
		t.Fatal("no good files")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	c, err := Load("testdata/full.good.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.MaxBatch != 500 || c.Events.AllowCustomTypes || time.Duration(c.Events.MaxFuture) != time.Hour ||
		c.Events.Weights["wishlist"] != 3 || len(c.Auth.Keys) != 2 || c.Auth.Keys[1].Role != "write" {
		t.Errorf("loaded %+v", c)
	}
	if l := c.LLM; l.Vectors != "off" || l.ChatModel != "llama3.1" || l.EmbeddingModel != "nomic-embed-text" || time.Duration(l.Timeout) != 20*time.Second || l.RateLimit != 4 || l.CompletionPrice != 0.6 {
		t.Errorf("llm: %+v", l)
	}
	if c.Auth.TokenSecret != "0123456789abcdef0123456789abcdef" || strings.Join(c.Auth.AllowedOrigins, ",") != "https://shop.example,http://localhost:3000" {
		t.Errorf("auth: token secret %q, origins %v", c.Auth.TokenSecret, c.Auth.AllowedOrigins)
	}
	if strings.Join(c.Events.ExcludeFromRecommendations, ",") != "purchase,add_to_cart" {
		t.Errorf("exclude_from_recommendations = %v", c.Events.ExcludeFromRecommendations)
	}
	if c.Store.URL != "postgres://tailor@db.internal:5432/shop" || c.Store.ReadURL != "postgres://tailor@replica.internal:5432/shop" {
		t.Errorf("store: %+v", c.Store)
	}
	if c.NATS.URL != "nats://nats.internal:4222" || c.NATS.Stream != "SHOP" || c.Redis.URL != "redis://redis.internal:6379/0" || c.Redis.Prefix != "shop:" {
		t.Errorf("nats %+v, redis %+v", c.NATS, c.Redis)
	}
	if c.Events.Weights["add_to_cart"] != 4 {
		t.Errorf("default weight lost: %v", c.Events.Weights)
	}
	r := c.Rules()
	if r.AllowCustomTypes || r.MaxFuture != time.Hour {
		t.Errorf("rules = %+v", r)
	}
	sf, err := Load("testdata/storefront.good.toml")
	if err != nil {
		t.Fatal(err)
	}
	if k := sf.Auth.Keys[0]; k.RateLimit != 50 || k.Burst != 100 || sf.WebUI.StorefrontKey != "tk_shop_read_1" {
		t.Errorf("storefront config: key %+v, webui %+v", k, sf.WebUI)
	}
}

func TestLoadBad(t *testing.T) {
	want := map[string]string{
		"unknown_key":            "unknown keys: server.listen",
		"bad_role":               `auth.keys[0].role: "root"`,
		"plain_key":              "auth.keys[0].sha256",
		"bad_duration":           "max_future",
		"bad_type":               `"Add To Cart"`,
		"bad_batch":              "server.max_batch",
		"bad_durability":         `server.durability: "fast"`,
		"bad_exclude":            "events.exclude_from_recommendations[0]",
		"storefront_admin_key":   `webui.storefront_key: the key "shop-admin" has the role admin`,
		"storefront_unknown_key": "webui.storefront_key: not one of auth.keys",
		"bad_rate_limit":         "auth.keys[0].rate_limit: -5 must be from 0",
		"short_token_secret":     "auth.token_secret: 9 characters; at least 32",
		"bad_origin":             `auth.allowed_origins[1]: "https://shop.example/path" is not an origin`,
		"duplicate_key_name":     `auth.keys[1].name: "shop" is the name of another key`,
		"llm_without_url":        "llm.chat_model, llm.embedding_model and llm.api_key need llm.base_url",
		"llm_bad_url":            `llm.base_url: "localhost:11434" is not an http(s) URL`,
		"store_bad_url":          `store.url: "mysql://shop:xxxxx@db/tailor" is not a postgres:// URL`,
		"store_read_without_url": "store.read_url: set without store.url",
		"nats_bad_url":           `nats.url: "http://127.0.0.1:4222" is not a nats:// URL`,
		"redis_bad_url":          `redis.url: "127.0.0.1:6379" is not a redis:// URL`,
	}
	files, _ := filepath.Glob("testdata/*.bad.toml")
	if len(files) != len(want) {
		t.Fatalf("%d bad files, want %d", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bad.toml")
		_, err := Load(f)
		if err == nil {
			t.Errorf("%s: loaded without error", f)
			continue
		}
		if !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: error %q does not mention %q", f, err, want[name])
		}
	}
}

func TestKeysFromEnv(t *testing.T) {
	keys, err := KeysFromEnv("read:0123456789abcdef, admin:fedcba9876543210xyz")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Role != "read" || keys[0].SHA256 != HashKey("0123456789abcdef") || keys[1].Role != "admin" {
		t.Errorf("keys = %+v", keys)
	}
	for _, bad := range []string{"read", "root:0123456789abcdef", "read:short"} {
		if _, err := KeysFromEnv(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
