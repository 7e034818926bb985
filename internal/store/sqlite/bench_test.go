package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
)

func benchEvents(n, users, items int, prefix string) []tailor.Event {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]tailor.Event, n)
	for i := range evs {
		v := 1.0
		evs[i] = tailor.Event{ID: fmt.Sprintf("%s-%09d", prefix, i), UserID: tailor.UserID(fmt.Sprintf("u%d", (i*7919)%users)),
			ItemID: tailor.ItemID(fmt.Sprintf("i%d", (i*104729)%items)), Type: tailor.Purchase, Value: &v, OrderID: fmt.Sprintf("o%d", i/5),
			Timestamp: t0.Add(time.Duration(i) * time.Second)}
	}
	return evs
}

// seeded opens a store holding 100,000 events over 10,000 users and 5,000
// items, closed when the benchmark ends (closing checkpoints the log: not
// part of what is measured).
func seeded(b *testing.B) *sqlite.DB {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { b.StopTimer(); db.Close() })
	if err := db.Update(ctx, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, benchEvents(100000, 10000, 5000, "seed"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkInsertEvents measures one transaction of 1,000 events into a
// store that already holds 100,000, over 10,000 users and 5,000 items.
func BenchmarkInsertEvents(b *testing.B) {
	ctx := context.Background()
	db := seeded(b)
	batches := make([][]tailor.Event, b.N)
	for i := range batches {
		batches[i] = benchEvents(1000, 10000, 5000, fmt.Sprintf("b%d", i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Update(ctx, func(w store.Writer) error {
			_, err := w.InsertEvents(ctx, batches[i])
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkConcurrentSingleUpdates measures Update calls of one event each
// from 16 goroutines, which group commit runs together.
func BenchmarkConcurrentSingleUpdates(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { b.StopTimer(); db.Close() }()
	evs := benchEvents(b.N, 10000, 5000, "c")
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan int)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := db.Update(ctx, func(w store.Writer) error {
					_, err := w.InsertEvents(ctx, evs[i:i+1])
					return err
				}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkDeleteUser measures deleting one shopper (10 events) from a
// store of 100,000 events over 10,000 users, with the secure deletion and
// the log truncation that follows it.
func BenchmarkDeleteUser(b *testing.B) {
	ctx := context.Background()
	db := seeded(b)
	if b.N > 10000 {
		b.Fatalf("only 10,000 users to delete, b.N = %d", b.N)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := db.DeleteUser(ctx, tailor.UserID(fmt.Sprintf("u%d", i))); err != nil || n != 10 {
			b.Fatalf("delete u%d: %d events, %v", i, n, err)
		}
	}
}
