// Package redistest gives tests the Redis server named by TAILOR_TEST_REDIS
// (default redis://127.0.0.1:6379/0), a key prefix of their own, a proxy
// to it that a test can cut, to see Redis fail mid-load, and Redis servers
// of their own (to try a memory bound). Without a
// server the test is skipped, unless TAILOR_REQUIRE_SERVICES=1 (as CI sets
// it), which makes it fail.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
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

// Start runs a Redis server of the test's own (redis-server, with extra
// arguments such as "--maxmemory", "2mb") on a free loopback port, stopped
// when the test ends, and returns its URL. Without redis-server the test
// is skipped, unless TAILOR_REQUIRE_SERVICES=1.
func Start(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("TAILOR_REQUIRE_SERVICES") == "1" {
			t.Fatal("redis-server is not installed and TAILOR_REQUIRE_SERVICES=1")
		}
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opts, _ := redis.ParseURL(url)
	c := redis.NewClient(opts)
	defer c.Close()
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return url
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redis-server on port %d did not answer", port)
	return ""
}
