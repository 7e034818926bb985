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

// BenchmarkInsertEvents measures one transaction of 1,000 events into a
// store that already holds 100,000, over 10,000 users and 5,000 items.
func BenchmarkInsertEvents(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	// Closing checkpoints the log: not part of what is measured.
	defer func() { b.StopTimer(); db.Close() }()
	if err := db.Update(ctx, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, benchEvents(100000, 10000, 5000, "seed"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
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
