// Package topk selects the k best-scored candidates from a stream without
// sorting all of them: a bounded min-heap keeps the k best seen so far, so
// selecting from n candidates costs O(n log k) time and O(k) memory.
package topk

import "sort"

// Entry is a candidate: an index (such as a dense item index) and its score.
type Entry struct {
	Index int32
	Score float32
}

// better reports whether a ranks before b: a higher score, or an equal score
// and a lower index, so that results are deterministic.
func better(a, b Entry) bool {
	return a.Score > b.Score || a.Score == b.Score && a.Index < b.Index
}

// Heap keeps the k best entries pushed into it. The zero value is not
// usable; use New. A Heap is not safe for concurrent use.
type Heap struct {
	k int
	h []Entry // a min-heap by better: h[0] is the worst kept entry
}

// New returns a Heap that keeps the k best entries. It panics if k < 0.
func New(k int) *Heap {
	if k < 0 {
		panic("topk: negative k")
	}
	return &Heap{k: k, h: make([]Entry, 0, k)}
}

// Reset empties the heap and sets its size to k, keeping its memory.
func (t *Heap) Reset(k int) {
	if k < 0 {
		panic("topk: negative k")
	}
	t.k = k
	t.h = t.h[:0]
}

// Len returns the number of entries kept, at most k.
func (t *Heap) Len() int { return len(t.h) }

// Threshold returns the score an entry must beat to be kept, and whether
// the heap is full; until it is, every entry is kept.
func (t *Heap) Threshold() (float32, bool) {
	if len(t.h) < t.k || t.k == 0 {
		return 0, false
	}
	return t.h[0].Score, true
}

// Push offers an entry; it is kept if it is among the k best so far.
func (t *Heap) Push(index int32, score float32) {
	e := Entry{Index: index, Score: score}
	if len(t.h) < t.k {
		t.h = append(t.h, e)
		t.up(len(t.h) - 1)
		return
	}
	if t.k == 0 || !better(e, t.h[0]) {
		return
	}
	t.h[0] = e
	t.down(0)
}

// Sorted returns the kept entries, best first, appended to dst. The heap
// is left empty.
func (t *Heap) Sorted(dst []Entry) []Entry {
	n := len(t.h)
	start := len(dst)
	dst = append(dst, make([]Entry, n)...)
	for i := n - 1; i >= 0; i-- {
		dst[start+i] = t.h[0]
		last := len(t.h) - 1
		t.h[0] = t.h[last]
		t.h = t.h[:last]
		if last > 0 {
			t.down(0)
		}
	}
	return dst
}

func (t *Heap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(t.h[p], t.h[i]) {
			break
		}
		t.h[p], t.h[i] = t.h[i], t.h[p]
		i = p
	}
}

func (t *Heap) down(i int) {
	n := len(t.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		worst := l
		if r := l + 1; r < n && better(t.h[l], t.h[r]) {
			worst = r
		}
		if !better(t.h[i], t.h[worst]) {
			return
		}
		t.h[i], t.h[worst] = t.h[worst], t.h[i]
		i = worst
	}
}

// Select returns the k best entries of scores (index i has score
// scores[i]), best first, skipping the indices for which skip returns true
// (skip may be nil). Ties go to the lower index.
func Select(scores []float32, k int, skip func(int32) bool) []Entry {
	t := New(min(k, len(scores)))
	for i, s := range scores {
		// The threshold is cheap and rejects most candidates; skip may
		// not be, so it is asked only about those that would be kept.
		if th, full := t.Threshold(); full && s < th {
			continue
		}
		if skip != nil && skip(int32(i)) {
			continue
		}
		t.Push(int32(i), s)
	}
	return t.Sorted(nil)
}

// SortEntries sorts entries best first (by score, then index). It is meant
// for tests and small lists; use a Heap to select from large ones.
func SortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return better(es[i], es[j]) })
}
