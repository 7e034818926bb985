// Package search is a full-text index over the catalog: BM25 over
// stemmed words of the title, description, categories and brand (the
// title and the brand count more), tolerant of typos (a word not in the
// index matches the indexed words one edit away, or two for long words,
// at a discount) and of unfinished words (the last word of a query also
// matches the indexed words it begins). Personalization is left to the
// caller, which re-ranks the results.
package search

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/kljensen/snowball/english"

	"github.com/tailorhq/tailor"
)

// isStopWord reports English words too common to search by.
func isStopWord(w string) bool {
	switch w {
	case "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "is", "it", "its",
		"of", "on", "or", "that", "the", "to", "was", "were", "will", "with":
		return true
	}
	return false
}

// Tokens lowercases, splits on anything but letters and digits, drops stop
// words and stems (English Snowball).
func Tokens(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if isStopWord(w) {
			continue
		}
		out = append(out, english.Stem(w, false))
	}
	return out
}

type posting struct {
	doc int32
	tf  float32 // field-weighted term frequency
}

// Index is an immutable BM25 index. It is safe for concurrent use.
type Index struct {
	ids      []tailor.ItemID
	lengths  []float32
	avgLen   float64
	postings map[string][]posting
	terms    []string // sorted, for prefixes
	byLen    map[int][]string
}

// Field weights.
const (
	titleWeight, brandWeight, categoryWeight, descriptionWeight = 3, 2, 2, 1
	k1, b                                                       = 1.2, 0.75
)

// Build indexes the items.
func Build(items []tailor.Item) *Index {
	x := &Index{postings: map[string][]posting{}, byLen: map[int][]string{}}
	for _, it := range items {
		if it.Hidden || it.NonProduct {
			continue
		}
		doc := int32(len(x.ids))
		x.ids = append(x.ids, it.ID)
		tf := map[string]float32{}
		add := func(text string, w float32) {
			for _, t := range Tokens(text) {
				tf[t] += w
			}
		}
		add(it.Title, titleWeight)
		add(it.Brand, brandWeight)
		add(strings.Join(it.Categories, " "), categoryWeight)
		add(it.Description, descriptionWeight)
		var length float32
		for t, f := range tf {
			x.postings[t] = append(x.postings[t], posting{doc, f})
			length += f
		}
		x.lengths = append(x.lengths, length)
		x.avgLen += float64(length)
	}
	if len(x.ids) > 0 {
		x.avgLen /= float64(len(x.ids))
	}
	for t := range x.postings {
		x.terms = append(x.terms, t)
		x.byLen[len(t)] = append(x.byLen[len(t)], t)
	}
	slices.Sort(x.terms)
	return x
}

// Len is the number of indexed items.
func (x *Index) Len() int { return len(x.ids) }

// Hit is a matching item.
type Hit struct {
	Item  tailor.ItemID `json:"item_id"`
	Score float64       `json:"score"`
}

// expansion is an indexed term a query word matches, with its weight.
type expansion struct {
	term   string
	weight float64
}

// expand finds the indexed terms a query word stands for: itself; else
// those one edit away (two for words of 8 letters or more) at 0.6 (0.4);
// and, for the last word, those it begins, at 0.8.
func (x *Index) expand(word string, last bool) []expansion {
	var out []expansion
	if _, ok := x.postings[word]; ok {
		out = append(out, expansion{word, 1})
	} else if len(word) >= 4 {
		maxEd := 1
		if len(word) >= 8 {
			maxEd = 2
		}
		for l := len(word) - maxEd; l <= len(word)+maxEd; l++ {
			for _, t := range x.byLen[l] {
				if d := editDistance(word, t, maxEd); d <= maxEd {
					out = append(out, expansion{t, map[int]float64{1: 0.6, 2: 0.4}[d]})
				}
			}
		}
	}
	if last && len(word) >= 2 {
		i, _ := slices.BinarySearch(x.terms, word)
		for n := 0; i < len(x.terms) && strings.HasPrefix(x.terms[i], word) && n < 50; i++ {
			if x.terms[i] != word {
				out = append(out, expansion{x.terms[i], 0.8})
				n++
			}
		}
	}
	return out
}

// editDistance is the Levenshtein distance of a and b, or max+1 once it
// exceeds max.
func editDistance(a, b string, maxD int) int {
	if d := len(a) - len(b); d > maxD || -d > maxD {
		return maxD + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > maxD {
			return maxD + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Search returns up to n items for the query, best first, keeping only
// those keep accepts (nil keeps all). A query of only stop words or
// unknown words finds nothing.
func (x *Index) Search(query string, n int, keep func(tailor.ItemID) bool) []Hit {
	words := Tokens(query)
	// A query typed so far: its last word may be unfinished.
	last := len(query) > 0 && (unicode.IsLetter(rune(query[len(query)-1])) || unicode.IsDigit(rune(query[len(query)-1])))
	scores := map[int32]float64{}
	N := float64(len(x.ids))
	for wi, w := range words {
		best := map[int32]float64{} // per document, the best expansion of this word
		for _, e := range x.expand(w, last && wi == len(words)-1) {
			ps := x.postings[e.term]
			idf := math.Log(1 + (N-float64(len(ps))+0.5)/(float64(len(ps))+0.5))
			for _, p := range ps {
				tf := float64(p.tf)
				s := e.weight * idf * tf * (k1 + 1) / (tf + k1*(1-b+b*float64(x.lengths[p.doc])/x.avgLen))
				if s > best[p.doc] {
					best[p.doc] = s
				}
			}
		}
		for d, s := range best {
			scores[d] += s
		}
	}
	hits := make([]Hit, 0, len(scores))
	for d, s := range scores {
		if keep == nil || keep(x.ids[d]) {
			hits = append(hits, Hit{x.ids[d], s})
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Item, b.Item)) })
	return hits[:min(n, len(hits))]
}

// Personalize re-ranks hits (best first) for a shopper: each hit's score
// becomes (1 − weight) × its text score over the best hit's, plus weight ×
// the shopper's score for it, scaled to [0, 1] over the hits. A hit the
// shopper's scores do not know (personal returns false: an item the model
// has no data for) counts as a score of 0, as the collaborative models
// score such an item: no evidence either way, not the worst. It returns
// whether each hit scored above the middle of that range (a reason: "and
// suits you"). The order is stable for ties. It does nothing when hits is
// empty.
func Personalize(hits []Hit, personal func(k int) (float64, bool), weight float64) (suits []bool) {
	if len(hits) == 0 {
		return nil
	}
	p := make([]float64, len(hits))
	lo, hi := math.Inf(1), math.Inf(-1)
	for k := range hits {
		v, ok := personal(k)
		if !ok {
			v = 0
		}
		p[k] = v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	top := hits[0].Score
	suits = make([]bool, len(hits))
	for k := range hits {
		s := 0.0
		if hi > lo {
			s = (p[k] - lo) / (hi - lo)
		}
		hits[k].Score = (1-weight)*hits[k].Score/top + weight*s
		suits[k] = s > 0.5
	}
	order := make([]int, len(hits))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(hits[b].Score, hits[a].Score) })
	sorted, sortedSuits := make([]Hit, len(hits)), make([]bool, len(hits))
	for k, o := range order {
		sorted[k], sortedSuits[k] = hits[o], suits[o]
	}
	copy(hits, sorted)
	return sortedSuits
}
