// Package redistest gives tests the Redis server named by TAILOR_TEST_REDIS
// (default redis://127.0.0.1:6379/0), a key prefix of their own, and a
// proxy to it that a test can cut, to see Redis fail mid-load. Without a
// server the test is skipped, unless TAILOR_REQUIRE_SERVICES=1 (as CI sets
// it), which makes it fail.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr returns the test Redis server's host:port, or skips (or fails) the
// test when it does not answer.
func Addr(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TAILOR_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TAILOR_TEST_REDIS: %v", err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("TAILOR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("Redis at %s does not answer and TAILOR_REQUIRE_SERVICES=1: %v", url, err)
		}
		t.Skipf("Redis at %s does not answer (set TAILOR_TEST_REDIS): %v", url, err)
	}
	return opts.Addr
}

// Prefix returns a key prefix of the test's own.
func Prefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "tailor-test-" + hex.EncodeToString(b) + ":"
}

// Proxy forwards connections to a Redis server until Cut.
type Proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

// NewProxy starts a proxy to addr on a loopback port; it is cut when the
// test ends.
func NewProxy(t testing.TB, addr string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.cut {
				c.Close()
				up.Close()
			} else {
				p.conns = append(p.conns, c, up)
			}
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.Cut)
	return p
}

// URL is the proxy's redis:// URL.
func (p *Proxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

// Cut closes the proxy and every connection through it: Redis is gone
// for its clients.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
