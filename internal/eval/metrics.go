// Package eval measures recommendation lists against held-out data: the
// ranking metrics of one user's list at several cut-offs K, their means over
// users with bootstrap confidence intervals, and beyond-accuracy measures
// over all lists (coverage, novelty, diversity, popularity).
//
// Definitions, for a list rec (best first) and the set T of a user's test
// items, with hits(K) = |rec[:K] ∩ T|:
//
//	Precision@K = hits(K) / K
//	Recall@K    = hits(K) / |T|
//	Hit@K       = 1 if hits(K) > 0, else 0
//	NDCG@K      = DCG@K / IDCG@K, DCG@K = Σ_{i<K, rec[i]∈T} 1/log2(i+2),
//	              IDCG@K = Σ_{i<min(K,|T|)} 1/log2(i+2)   (binary gains)
//	MAP@K       = Σ_{i<K, rec[i]∈T} hits(i+1)/(i+1) / min(K, |T|)
//	MRR@K       = 1/(r+1) for the first hit at position r < K, else 0
//
// These match the definitions of RecBole and of ../shared/REFERENCE.md.
package eval

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Metric names, as they appear in keys such as "ndcg@10".
const (
	Precision = "precision"
	Recall    = "recall"
	NDCG      = "ndcg"
	MAP       = "map"
	MRR       = "mrr"
	Hit       = "hit"
)

// RankingMetrics lists the per-user ranking metrics in a fixed order.
var RankingMetrics = []string{Precision, Recall, NDCG, MAP, MRR, Hit}

// Key returns the name of a metric at a cut-off, such as "ndcg@10".
func Key(metric string, k int) string { return metric + "@" + strconv.Itoa(k) }

// ParseKs parses a comma-separated list of cut-offs such as "10,20". Each
// must be a positive integer; duplicates are dropped and the list sorted.
func ParseKs(s string) ([]int, error) {
	var ks []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		k, err := strconv.Atoi(part)
		if err != nil || k <= 0 {
			return nil, fmt.Errorf("k: %q is not a positive integer", part)
		}
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return slices.Compact(ks), nil
}

// Scores are one user's metric values: Scores[m][j] is RankingMetrics[m]
// at ks[j].
type Scores [][]float64

// Rank computes the ranking metrics of one user's list rec, best first,
// against the relevant (test) items, at each cut-off in ks. rec may be
// shorter than the largest K (a small catalog); positions past its end
// count as misses. relevant must not be empty.
func Rank[T comparable](rec []T, relevant map[T]bool, ks []int) Scores {
	s := make(Scores, len(RankingMetrics))
	for m := range s {
		s[m] = make([]float64, len(ks))
	}
	nRel := len(relevant)
	if nRel == 0 {
		return s
	}
	maxK := 0
	for _, k := range ks {
		maxK = max(maxK, k)
	}
	// One pass over the list, recording cumulative values at each K.
	var (
		hits     int
		dcg, ap  float64
		firstHit = -1
	)
	cum := make([]struct {
		hits    int
		dcg, ap float64
	}, maxK)
	for i := 0; i < maxK; i++ {
		if i < len(rec) && relevant[rec[i]] {
			hits++
			dcg += 1 / math.Log2(float64(i+2))
			ap += float64(hits) / float64(i+1)
			if firstHit < 0 {
				firstHit = i
			}
		}
		cum[i].hits, cum[i].dcg, cum[i].ap = hits, dcg, ap
	}
	for j, k := range ks {
		c := cum[k-1]
		ideal := min(k, nRel)
		idcg := 0.0
		for i := 0; i < ideal; i++ {
			idcg += 1 / math.Log2(float64(i+2))
		}
		s[0][j] = float64(c.hits) / float64(k)
		s[1][j] = float64(c.hits) / float64(nRel)
		s[2][j] = c.dcg / idcg
		s[3][j] = c.ap / float64(ideal)
		if firstHit >= 0 && firstHit < k {
			s[4][j] = 1 / float64(firstHit+1)
		}
		if c.hits > 0 {
			s[5][j] = 1
		}
	}
	return s
}

// AUC returns the area under the ROC curve of one user's full ranking: the
// share of (relevant, irrelevant) pairs in which the relevant item ranks
// higher. positions are the 0-based ranks of the relevant items among n
// ranked candidates (relevant ones included). It is 0.5 for a random
// order; NaN when there are no relevant or no irrelevant candidates.
func AUC(positions []int, n int) float64 {
	p := len(positions)
	neg := n - p
	if p == 0 || neg <= 0 {
		return math.NaN()
	}
	ps := slices.Clone(positions)
	slices.Sort(ps)
	var below float64
	for j, r := range ps {
		// Irrelevant candidates ranked after this one: everything after
		// it minus the relevant ones after it.
		below += float64(n-1-r) - float64(p-1-j)
	}
	return below / (float64(p) * float64(neg))
}
