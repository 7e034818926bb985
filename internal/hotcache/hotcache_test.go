package hotcache_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/hotcache"
	"github.com/tailorhq/tailor/internal/redistest"
	"github.com/tailorhq/tailor/internal/store"
)

func newCache(t *testing.T, url, prefix string) *hotcache.Cache {
	t.Helper()
	c, err := hotcache.New(hotcache.Options{URL: url, Prefix: prefix, TTL: time.Minute, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fakeStore holds each shopper's events and counts the reads.
type fakeStore struct {
	events map[tailor.UserID][]tailor.Event
	reads  atomic.Int64
}

func (s *fakeStore) read(user tailor.UserID, during func()) func() (store.Page[tailor.Event], error) {
	return func() (store.Page[tailor.Event], error) {
		s.reads.Add(1)
		page := store.Page[tailor.Event]{Data: append([]tailor.Event(nil), s.events[user]...)}
		if during != nil {
			during()
		}
		return page, nil
	}
}

func page(n int, user string) []tailor.Event {
	out := make([]tailor.Event, n)
	for i := range out {
		out[i] = tailor.Event{ID: fmt.Sprintf("%s-%d", user, i), UserID: tailor.UserID(user), ItemID: tailor.ItemID("item-" + strconv.Itoa(i)),
			Type: tailor.View, Timestamp: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC)}
	}
	return out
}

// TestSharedPages: a page one replica read from the store, the other reads
// from the cache; a write through either makes both read the store again.
func TestSharedPages(t *testing.T) {
	url := "redis://" + redistest.Addr(t)
	prefix := redistest.Prefix()
	a, b := newCache(t, url, prefix), newCache(t, url, prefix)
	st := &fakeStore{events: map[tailor.UserID][]tailor.Event{"u1": page(3, "u1")}}
	ctx := context.Background()
	get := func(c *hotcache.Cache) []tailor.Event {
		p, err := c.Events(ctx, "u1", 100, st.read("u1", nil))
		if err != nil {
			t.Fatal(err)
		}
		return p.Data
	}
	if got := get(a); len(got) != 3 || st.reads.Load() != 1 {
		t.Fatalf("first read: %d events, %d store reads", len(got), st.reads.Load())
	}
	if got := get(b); len(got) != 3 || got[2].ItemID != "item-2" || !got[2].Timestamp.Equal(st.events["u1"][2].Timestamp) || st.reads.Load() != 1 {
		t.Fatalf("the other replica: %+v, %d store reads", got, st.reads.Load())
	}
	st.events["u1"] = append(st.events["u1"], page(4, "u1")[3])
	b.Invalidate(ctx, "u1")
	if got := get(a); len(got) != 4 || st.reads.Load() != 2 {
		t.Errorf("after a write: %d events, %d store reads", len(got), st.reads.Load())
	}
	if got := get(b); len(got) != 4 || st.reads.Load() != 2 {
		t.Errorf("after a write, the other: %d events, %d store reads", len(got), st.reads.Load())
	}
	// Another page size is another page.
	if p, _ := a.Events(ctx, "u1", 2, st.read("u1", nil)); st.reads.Load() != 3 || len(p.Data) != 4 {
		t.Errorf("another limit: %d store reads", st.reads.Load())
	}
}

// TestWriteDuringRead: a page read from the store while a write commits
// (and invalidates) is not kept: the next reader reads the store.
func TestWriteDuringRead(t *testing.T) {
	url := "redis://" + redistest.Addr(t)
	c := newCache(t, url, redistest.Prefix())
	st := &fakeStore{events: map[tailor.UserID][]tailor.Event{"u1": page(2, "u1")}}
	ctx := context.Background()
	write := func() {
		st.events["u1"] = page(5, "u1")
		c.Invalidate(ctx, "u1")
	}
	if p, _ := c.Events(ctx, "u1", 100, st.read("u1", write)); len(p.Data) != 2 {
		t.Fatalf("the read that raced: %d", len(p.Data))
	}
	if p, _ := c.Events(ctx, "u1", 100, st.read("u1", nil)); len(p.Data) != 5 || st.reads.Load() != 2 {
		t.Errorf("after the race: %d events, %d store reads (the raced page was kept)", len(p.Data), st.reads.Load())
	}
}

// TestRedisGone: with Redis gone, pages come from the store, nothing fails,
// and Check says why.
func TestRedisGone(t *testing.T) {
	p := redistest.NewProxy(t, redistest.Addr(t))
	c := newCache(t, p.URL(), redistest.Prefix())
	st := &fakeStore{events: map[tailor.UserID][]tailor.Event{"u1": page(2, "u1")}}
	ctx := context.Background()
	c.Events(ctx, "u1", 100, st.read("u1", nil))
	p.Cut()
	for range 20 {
		if pg, err := c.Events(ctx, "u1", 100, st.read("u1", nil)); err != nil || len(pg.Data) != 2 {
			t.Fatalf("with Redis gone: %v %v", pg, err)
		}
		c.Invalidate(ctx, "u1")
	}
	if st.reads.Load() != 21 {
		t.Errorf("%d store reads, want every read from the store", st.reads.Load())
	}
	if err := c.Check(); err == nil {
		t.Error("check says Redis is fine")
	}
}

// TestMemoryBound fills a Redis limited to 4 MB with ten times that in
// pages: with an LRU policy it stays within its bound and every read is
// right (evicted pages are read from the store); with noeviction it refuses
// to keep more, reads are still right, and writes still invalidate.
func TestMemoryBound(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "noeviction"} {
		t.Run(policy, func(t *testing.T) {
			url := redistest.Start(t, "--maxmemory", "4mb", "--maxmemory-policy", policy)
			c := newCache(t, url, "tailor:")
			ctx := context.Background()
			st := &fakeStore{events: map[tailor.UserID][]tailor.Event{}}
			const users = 2000 // 2,000 pages of 100 events: about 40 MB of JSON
			for i := range users {
				u := tailor.UserID("u" + strconv.Itoa(i))
				st.events[u] = page(100, string(u))
				if p, err := c.Events(ctx, u, 100, st.read(u, nil)); err != nil || len(p.Data) != 100 {
					t.Fatalf("fill %s: %d %v", u, len(p.Data), err)
				}
			}
			opts, _ := redis.ParseURL(url)
			rc := redis.NewClient(opts)
			defer rc.Close()
			info, err := rc.Info(ctx, "memory").Result()
			if err != nil {
				t.Fatal(err)
			}
			used := infoField(info, "used_memory")
			if used > 5<<20 {
				t.Errorf("Redis holds %d bytes, over its 4 MB bound", used)
			}
			// The newest pages are kept.
			reads := st.reads.Load()
			for i := users - 20; i < users; i++ {
				u := tailor.UserID("u" + strconv.Itoa(i))
				c.Events(ctx, u, 100, st.read(u, nil))
			}
			if policy == "allkeys-lru" && st.reads.Load()-reads > 5 {
				t.Errorf("%d of the 20 newest pages were read from the store", st.reads.Load()-reads)
			}
			// Every read is right; a write to one shopper is seen.
			st.events["u7"] = page(101, "u7")[1:]
			c.Invalidate(ctx, "u7")
			reads = st.reads.Load()
			for i := range users {
				u := tailor.UserID("u" + strconv.Itoa(i))
				p, err := c.Events(ctx, u, 100, st.read(u, nil))
				if err != nil || len(p.Data) != 100 || p.Data[0].ID != st.events[u][0].ID {
					t.Fatalf("read %s: %v %v", u, p.Data[:1], err)
				}
			}
			t.Logf("%s: Redis used %d bytes; %d of %d second reads went to the store", policy, used, st.reads.Load()-reads, users)
			if policy == "noeviction" && st.reads.Load()-reads == users {
				t.Error("no page was kept at all")
			}
		})
	}
}

func infoField(info, name string) int64 {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// TestRankings: a ranking kept by one replica is read by another, with
// the ranking time to live; unknown keys miss; with Redis gone every read
// misses and nothing waits; a Redis full of rankings stays within its
// bound (allkeys-lru) or refuses new ones (noeviction), and the newest
// rankings are still read back under LRU.
func TestRankings(t *testing.T) {
	ctx := context.Background()
	url := "redis://" + redistest.Addr(t)
	prefix := redistest.Prefix()
	mk := func(url string) *hotcache.Cache {
		c, err := hotcache.New(hotcache.Options{URL: url, Prefix: prefix, RankingTTL: 90 * time.Second, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := mk(url), mk(url)
	a.KeepRanking(ctx, "v1/p/abc", []byte{1, 2, 3})
	if got, ok := b.Ranking(ctx, "v1/p/abc"); !ok || string(got) != "\x01\x02\x03" {
		t.Errorf("kept by a, read by b: %v %v", got, ok)
	}
	if _, ok := b.Ranking(ctx, "v1/p/other"); ok {
		t.Error("an unknown key was found")
	}
	opts, _ := redis.ParseURL(url)
	rc := redis.NewClient(opts)
	defer rc.Close()
	if ttl := rc.PTTL(ctx, prefix+"rank:v1/p/abc").Val(); ttl < 80*time.Second || ttl > 90*time.Second {
		t.Errorf("time to live %v, want 90 s", ttl)
	}

	p := redistest.NewProxy(t, redistest.Addr(t))
	gone := mk(p.URL())
	gone.KeepRanking(ctx, "v1/p/g", []byte{1})
	p.Cut()
	start := time.Now()
	for range 20 {
		if _, ok := gone.Ranking(ctx, "v1/p/g"); ok {
			t.Fatal("a ranking was read from a Redis that is gone")
		}
		gone.KeepRanking(ctx, "v1/p/g", []byte{1})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("40 calls to a Redis that is gone took %v", d)
	}
	if gone.Check() == nil {
		t.Error("check says Redis is fine")
	}

	for _, policy := range []string{"allkeys-lru", "noeviction"} {
		t.Run(policy, func(t *testing.T) {
			url := redistest.Start(t, "--maxmemory", "4mb", "--maxmemory-policy", policy)
			c := mk(url)
			ranking := make([]byte, 1+128*8) // a ranking of 128 items
			const n = 40000                  // about 40 MB
			for i := range n {
				c.KeepRanking(ctx, "v1/p/"+strconv.Itoa(i), ranking)
			}
			opts, _ := redis.ParseURL(url)
			rc := redis.NewClient(opts)
			defer rc.Close()
			used := infoField(rc.Info(ctx, "memory").Val(), "used_memory")
			if used > 5<<20 {
				t.Errorf("Redis holds %d bytes, over its 4 MB bound", used)
			}
			found := 0
			for i := n - 20; i < n; i++ {
				if _, ok := c.Ranking(ctx, "v1/p/"+strconv.Itoa(i)); ok {
					found++
				}
			}
			if policy == "allkeys-lru" && found < 15 {
				t.Errorf("%d of the 20 newest rankings were found", found)
			}
			if policy == "noeviction" && found != 0 {
				t.Errorf("a full Redis kept %d of the newest rankings", found)
			}
			if err := c.Check(); err != nil {
				t.Errorf("a full Redis counts as down: %v", err)
			}
			t.Logf("%s: Redis used %d bytes; %d of the 20 newest rankings found", policy, used, found)
		})
	}
}
