package topk

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSelectMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := r.IntN(300)
		scores := make([]float32, n)
		for i := range scores {
			scores[i] = float32(r.IntN(20)) // many ties
		}
		k := r.IntN(40)
		skipped := map[int32]bool{}
		for i := 0; i < n/5; i++ {
			skipped[int32(r.IntN(n+1))] = true
		}
		got := Select(scores, k, func(i int32) bool { return skipped[i] })
		var all []Entry
		for i, s := range scores {
			if !skipped[int32(i)] {
				all = append(all, Entry{int32(i), s})
			}
		}
		SortEntries(all)
		want := all[:min(k, len(all))]
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (n=%d k=%d):\n got %v\nwant %v", trial, n, k, got, want)
		}
	}
}

func TestHeapEdges(t *testing.T) {
	h := New(0)
	h.Push(1, 5)
	if h.Len() != 0 || len(h.Sorted(nil)) != 0 {
		t.Error("k=0 kept an entry")
	}
	h.Reset(2)
	h.Push(3, 1)
	if th, full := h.Threshold(); full || th != 0 {
		t.Errorf("threshold before full = %v, %v", th, full)
	}
	h.Push(4, 3)
	h.Push(5, 2)
	if th, full := h.Threshold(); !full || th != 2 {
		t.Errorf("threshold = %v, %v; want 2, true", th, full)
	}
	got := h.Sorted([]Entry{{9, 9}})
	want := []Entry{{9, 9}, {4, 3}, {5, 2}}
	if !slices.Equal(got, want) {
		t.Errorf("Sorted = %v, want %v", got, want)
	}
	if h.Len() != 0 {
		t.Error("Sorted did not empty the heap")
	}
	defer func() {
		if recover() == nil {
			t.Error("New(-1) did not panic")
		}
	}()
	New(-1)
}

func BenchmarkSelect(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	scores := make([]float32, 100000)
	for i := range scores {
		scores[i] = r.Float32()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Select(scores, 20, nil)
	}
}

func BenchmarkSortAll(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	scores := make([]float32, 100000)
	for i := range scores {
		scores[i] = r.Float32()
	}
	es := make([]Entry, len(scores))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, s := range scores {
			es[j] = Entry{int32(j), s}
		}
		SortEntries(es)
	}
}
