package eval

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Mean accumulates per-user values of one metric and reports their mean
// with a bootstrap confidence interval. The zero value is ready to use; a
// Mean is not safe for concurrent use.
type Mean struct {
	values []float64
}

// Add records one user's value.
func (m *Mean) Add(v float64) { m.values = append(m.values, v) }

// N returns the number of values recorded.
func (m *Mean) N() int { return len(m.values) }

// Value returns the mean, or NaN when nothing was recorded.
func (m *Mean) Value() float64 {
	if len(m.values) == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range m.values {
		s += v
	}
	return s / float64(len(m.values))
}

// CI returns the percentile bootstrap confidence interval of the mean at
// the given level (such as 0.95) from resamples resamples drawn with src.
// It returns NaNs when nothing was recorded.
func (m *Mean) CI(level float64, resamples int, src rand.Source) (lo, hi float64) {
	n := len(m.values)
	if n == 0 || resamples <= 0 {
		return math.NaN(), math.NaN()
	}
	r := rand.New(src)
	means := make([]float64, resamples)
	for b := range means {
		var s float64
		for i := 0; i < n; i++ {
			s += m.values[r.IntN(n)]
		}
		means[b] = s / float64(n)
	}
	slices.Sort(means)
	alpha := (1 - level) / 2
	at := func(q float64) float64 {
		i := int(math.Floor(q * float64(resamples-1)))
		return means[max(0, min(resamples-1, i))]
	}
	return at(alpha), at(1 - alpha)
}

// Coverage returns the share of the catalog (catalogSize items) that
// appears in at least one of the lists.
func Coverage[T comparable](lists [][]T, catalogSize int) float64 {
	if catalogSize <= 0 {
		return math.NaN()
	}
	seen := map[T]bool{}
	for _, l := range lists {
		for _, it := range l {
			seen[it] = true
		}
	}
	return float64(len(seen)) / float64(catalogSize)
}

// Novelty returns the mean self-information −log2(p(i)) of the recommended
// items, where p(i) is the share of the nUsers training users who
// interacted with item i (users[i]). Items no training user had are counted
// as if one had.
func Novelty[T comparable](lists [][]T, users map[T]int, nUsers int) float64 {
	var s float64
	var n int
	for _, l := range lists {
		for _, it := range l {
			u := max(users[it], 1)
			s += -math.Log2(float64(u) / float64(nUsers))
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// MeanPopularity returns the mean number of training users of the
// recommended items.
func MeanPopularity[T comparable](lists [][]T, users map[T]int) float64 {
	var s float64
	var n int
	for _, l := range lists {
		for _, it := range l {
			s += float64(users[it])
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// IntraListDiversity returns the mean, over lists of at least two items,
// of the average pairwise distance between the list's items, where the
// distance of two items is 1 − the Jaccard similarity of their category
// sets (cats). Items without categories are at distance 1 from all others.
func IntraListDiversity[T comparable](lists [][]T, cats map[T][]string) float64 {
	var total float64
	var counted int
	for _, l := range lists {
		if len(l) < 2 {
			continue
		}
		var s float64
		var pairs int
		for i := 0; i < len(l); i++ {
			for j := i + 1; j < len(l); j++ {
				s += 1 - jaccard(cats[l[i]], cats[l[j]])
				pairs++
			}
		}
		total += s / float64(pairs)
		counted++
	}
	if counted == 0 {
		return math.NaN()
	}
	return total / float64(counted)
}

func jaccard(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	inA := map[string]bool{}
	for _, x := range a {
		inA[x] = true
	}
	inter, union := 0, len(inA)
	seenB := map[string]bool{}
	for _, x := range b {
		if seenB[x] {
			continue
		}
		seenB[x] = true
		if inA[x] {
			inter++
		} else {
			union++
		}
	}
	return float64(inter) / float64(union)
}
