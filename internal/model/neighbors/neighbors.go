// Package neighbors builds and uses item-to-item neighbour lists, the
// shared part of the item-based models (itemknn, rp3beta): each item keeps
// its k best-weighted other items, and a user's score for an item is the
// sum of that item's weights in the lists of the user's items.
package neighbors

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/topk"
)

// Lists holds every item's neighbours in CSR form: item i's are
// Idx[Ptr[i]:Ptr[i+1]] with weights Sim[...], best first. Lists are
// read-only once built and safe for concurrent use.
type Lists struct {
	Ptr []int64
	Idx []int32
	Sim []float32
}

// Accumulate adds, for item i, into acc[j] the raw co-occurrence mass of
// every other item j, appends each j it touches for the first time to
// touched, and returns touched. Weigh turns item i's raw mass for j into
// the final weight.
type (
	Accumulate func(i int32, acc []float64, touched []int32) []int32
	Weigh      func(i, j int32, mass float64) float64
)

// Build makes the lists of n items, keeping the k best weights of each, on
// all cores.
func Build(ctx context.Context, n, k int, acc Accumulate, weigh Weigh) (*Lists, error) {
	lists := make([][]topk.Entry, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	const chunk = 64
	for start := 0; start < n; start += chunk {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			mass := make([]float64, n)
			var touched []int32
			h := topk.New(k)
			for i := start; i < min(start+chunk, n); i++ {
				touched = acc(int32(i), mass, touched[:0])
				h.Reset(k)
				for _, j := range touched {
					if int(j) != i {
						h.Push(j, float32(weigh(int32(i), j, mass[j])))
					}
					mass[j] = 0
				}
				lists[i] = h.Sorted(nil)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	l := &Lists{Ptr: make([]int64, n+1)}
	for i, es := range lists {
		l.Ptr[i+1] = l.Ptr[i] + int64(len(es))
	}
	l.Idx = make([]int32, l.Ptr[n])
	l.Sim = make([]float32, l.Ptr[n])
	for i, es := range lists {
		for j, e := range es {
			l.Idx[l.Ptr[i]+int64(j)] = e.Index
			l.Sim[l.Ptr[i]+int64(j)] = e.Score
		}
	}
	return l, nil
}

// Row returns item i's neighbours and weights, best first.
func (l *Lists) Row(i int32) ([]int32, []float32) {
	lo, hi := l.Ptr[i], l.Ptr[i+1]
	return l.Idx[lo:hi], l.Sim[lo:hi]
}

// Score adds to scores[j] the weight of j in the list of every item of
// items.
func (l *Lists) Score(items []int32, scores []float32) {
	for _, i := range items {
		idx, sim := l.Row(i)
		for k, j := range idx {
			scores[j] += sim[k]
		}
	}
}

// Similar appends to dst the n first neighbours of item i.
func (l *Lists) Similar(i int32, n int, dst []topk.Entry) []topk.Entry {
	idx, sim := l.Row(i)
	for k := 0; k < len(idx) && k < n; k++ {
		dst = append(dst, topk.Entry{Index: idx[k], Score: sim[k]})
	}
	return dst
}

// Encode writes the lists.
func (l *Lists) Encode(e *feature.Encoder) {
	e.Int64s(l.Ptr)
	e.Int32s(l.Idx)
	e.Float32s(l.Sim)
}

// Decode reads lists of n items written by Encode and checks them.
func Decode(d *feature.Decoder, n int) (*Lists, error) {
	l := &Lists{Ptr: d.Int64s(), Idx: d.Int32s(), Sim: d.Float32s()}
	if err := d.Err(); err != nil {
		return nil, err
	}
	if len(l.Ptr) != n+1 || l.Ptr[0] != 0 || l.Ptr[n] != int64(len(l.Idx)) || len(l.Sim) != len(l.Idx) {
		return nil, fmt.Errorf("%w: neighbour lists", feature.ErrCorrupt)
	}
	for i := 0; i < n; i++ {
		if l.Ptr[i] > l.Ptr[i+1] {
			return nil, fmt.Errorf("%w: neighbour lists", feature.ErrCorrupt)
		}
	}
	for _, j := range l.Idx {
		if j < 0 || int(j) >= n {
			return nil, fmt.Errorf("%w: neighbour out of range", feature.ErrCorrupt)
		}
	}
	return l, nil
}
