package sharedlimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/redistest"
	"github.com/tailorhq/tailor/internal/sharedlimit"
)

func newLimiter(t *testing.T, url, prefix string) *sharedlimit.Limiter {
	t.Helper()
	l, err := sharedlimit.New(sharedlimit.Options{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestShared: two limiters (two replicas) draw on one budget per key; keys
// do not share; a denied request is told how long to wait.
func TestShared(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix()
	a, b := newLimiter(t, "redis://"+addr, prefix), newLimiter(t, "redis://"+addr, prefix)
	ctx := context.Background()
	allowed := 0
	var wait time.Duration
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		ok, w, err := l.Allow(ctx, "shop", 2, 4) // 2 a second, bursts of 4
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		} else {
			wait = w
		}
	}
	if allowed != 4 {
		t.Errorf("%d of 10 quick requests allowed across two replicas, want the burst, 4", allowed)
	}
	if wait <= 0 || wait > 500*time.Millisecond {
		t.Errorf("wait %v, want up to one interval (500 ms)", wait)
	}
	if ok, _, err := b.Allow(ctx, "other", 2, 4); err != nil || !ok {
		t.Errorf("another key was limited: %v %v", ok, err)
	}
	time.Sleep(600 * time.Millisecond)
	if ok, _, err := a.Allow(ctx, "shop", 2, 4); err != nil || !ok {
		t.Errorf("after an interval the key was still limited: %v %v", ok, err)
	}
	if err := a.Check(); err != nil {
		t.Errorf("check: %v", err)
	}
}

// TestRedisGone: with Redis gone mid-way, Allow fails at once (no waiting
// for a timeout on every request) and Check says so, until Redis answers
// again.
func TestRedisGone(t *testing.T) {
	addr := redistest.Addr(t)
	p := redistest.NewProxy(t, addr)
	l := newLimiter(t, p.URL(), redistest.Prefix())
	ctx := context.Background()
	if ok, _, err := l.Allow(ctx, "shop", 100, 100); err != nil || !ok {
		t.Fatalf("through the proxy: %v %v", ok, err)
	}
	p.Cut()
	if _, _, err := l.Allow(ctx, "shop", 100, 100); !errors.Is(err, sharedlimit.ErrDown) {
		t.Errorf("Redis gone: err %v", err)
	}
	start := time.Now()
	for range 100 {
		if _, _, err := l.Allow(ctx, "shop", 100, 100); !errors.Is(err, sharedlimit.ErrDown) {
			t.Fatalf("err %v", err)
		}
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("100 requests with Redis gone took %v: they waited for it", took)
	}
	if err := l.Check(); err == nil {
		t.Error("check says Redis is fine")
	}
}

func TestBadURL(t *testing.T) {
	if _, err := sharedlimit.New(sharedlimit.Options{URL: "http://x"}); err == nil {
		t.Error("an http URL was accepted")
	}
}
