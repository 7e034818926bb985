// Package feature turns interactions into training data: dense indices for
// users and items, and a compressed sparse row (CSR) user×item matrix of
// float32 weights with the time of each interaction.
package feature

import (
	"fmt"
	"slices"
)

// Interaction is one user–item signal, by dense indices.
type Interaction struct {
	User, Item int32
	// Weight is the strength of the signal (a rating, a count, a weight
	// from the event type).
	Weight float32
	// Time is when it happened, in Unix seconds.
	Time int64
}

// Dataset is a user×item matrix in CSR form over a fixed index space: row
// u holds the items of user u in increasing index order. Users and Items
// name the indices; a dataset built for a split keeps the index space of
// the whole data, so rows of users with no training data are empty.
//
// A Dataset is read-only once built and safe for concurrent reads.
type Dataset struct {
	Users []string // dense user index → id
	Items []string // dense item index → id

	RowPtr  []int64 // row u is [RowPtr[u], RowPtr[u+1])
	Cols    []int32 // item indices
	Weights []float32
	Times   []int64
}

// Build makes a dataset of the interactions over the index space named by
// users and items. Interactions of the same user and item are merged: the
// weights add up and the latest time is kept. It returns an error if an
// index is out of range.
func Build(users, items []string, xs []Interaction) (*Dataset, error) {
	nu, ni := len(users), len(items)
	sorted := slices.Clone(xs)
	for _, x := range sorted {
		if x.User < 0 || int(x.User) >= nu || x.Item < 0 || int(x.Item) >= ni {
			return nil, fmt.Errorf("interaction (%d, %d) is outside the %d×%d index space", x.User, x.Item, nu, ni)
		}
	}
	slices.SortFunc(sorted, func(a, b Interaction) int {
		if a.User != b.User {
			return int(a.User - b.User)
		}
		return int(a.Item - b.Item)
	})
	d := &Dataset{Users: users, Items: items, RowPtr: make([]int64, nu+1)}
	for i := 0; i < len(sorted); {
		x := sorted[i]
		w, t := x.Weight, x.Time
		j := i + 1
		for ; j < len(sorted) && sorted[j].User == x.User && sorted[j].Item == x.Item; j++ {
			w += sorted[j].Weight
			t = max(t, sorted[j].Time)
		}
		d.Cols = append(d.Cols, x.Item)
		d.Weights = append(d.Weights, w)
		d.Times = append(d.Times, t)
		d.RowPtr[x.User+1]++
		i = j
	}
	for u := 0; u < nu; u++ {
		d.RowPtr[u+1] += d.RowPtr[u]
	}
	return d, nil
}

// NumUsers returns the number of user indices.
func (d *Dataset) NumUsers() int { return len(d.Users) }

// NumItems returns the number of item indices.
func (d *Dataset) NumItems() int { return len(d.Items) }

// NNZ returns the number of stored user–item pairs.
func (d *Dataset) NNZ() int { return len(d.Cols) }

// Row returns the items of user u, in increasing order, and their weights.
// The slices alias the dataset: do not modify them.
func (d *Dataset) Row(u int32) ([]int32, []float32) {
	lo, hi := d.RowPtr[u], d.RowPtr[u+1]
	return d.Cols[lo:hi], d.Weights[lo:hi]
}

// Has reports whether user u has item i.
func (d *Dataset) Has(u, i int32) bool {
	items, _ := d.Row(u)
	_, ok := slices.BinarySearch(items, i)
	return ok
}

// ItemUsers returns, for every item, the number of users who have it.
func (d *Dataset) ItemUsers() []int32 {
	n := make([]int32, d.NumItems())
	for _, i := range d.Cols {
		n[i]++
	}
	return n
}

// ForgetUsers removes the users for whom gone reports true: their ids
// become "" and their rows empty, so that nothing of them is left (the
// indices of the others do not move). It returns how many it removed. The
// dataset's slices are modified in place.
func (d *Dataset) ForgetUsers(gone func(id string) bool) int {
	removed := 0
	var w int64 // where the kept entries go
	weights, times := len(d.Weights) == len(d.Cols), len(d.Times) == len(d.Cols)
	for u := range d.Users {
		lo, hi := d.RowPtr[u], d.RowPtr[u+1]
		d.RowPtr[u] = w
		if d.Users[u] != "" && gone(d.Users[u]) {
			d.Users[u] = ""
			removed++
			continue
		}
		copy(d.Cols[w:], d.Cols[lo:hi])
		if weights {
			copy(d.Weights[w:], d.Weights[lo:hi])
		}
		if times {
			copy(d.Times[w:], d.Times[lo:hi])
		}
		w += hi - lo
	}
	d.RowPtr[len(d.Users)] = w
	// The tails held the removed rows' entries: clear them before cutting.
	clear(d.Cols[w:])
	d.Cols = d.Cols[:w]
	if weights {
		clear(d.Weights[w:])
		d.Weights = d.Weights[:w]
	}
	if times {
		clear(d.Times[w:])
		d.Times = d.Times[:w]
	}
	return removed
}

// Transpose returns the item×user matrix: row i lists the users of item i
// in increasing order, with the same weights and times.
func (d *Dataset) Transpose() *Dataset {
	t := &Dataset{Users: d.Items, Items: d.Users, RowPtr: make([]int64, d.NumItems()+1)}
	for _, i := range d.Cols {
		t.RowPtr[i+1]++
	}
	for i := 0; i < d.NumItems(); i++ {
		t.RowPtr[i+1] += t.RowPtr[i]
	}
	t.Cols = make([]int32, len(d.Cols))
	t.Weights = make([]float32, len(d.Cols))
	t.Times = make([]int64, len(d.Cols))
	next := slices.Clone(t.RowPtr[:d.NumItems()])
	for u := 0; u < d.NumUsers(); u++ {
		for k := d.RowPtr[u]; k < d.RowPtr[u+1]; k++ {
			i := d.Cols[k]
			p := next[i]
			t.Cols[p], t.Weights[p], t.Times[p] = int32(u), d.Weights[k], d.Times[k]
			next[i]++
		}
	}
	return t
}

// Index assigns dense indices to ids in order of first appearance.
type Index struct {
	ids []string
	of  map[string]int32
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{of: map[string]int32{}} }

// Add returns the index of id, assigning the next one if id is new.
func (x *Index) Add(id string) int32 {
	if i, ok := x.of[id]; ok {
		return i
	}
	i := int32(len(x.ids))
	x.ids = append(x.ids, id)
	x.of[id] = i
	return i
}

// Lookup returns the index of id and whether it has one.
func (x *Index) Lookup(id string) (int32, bool) {
	i, ok := x.of[id]
	return i, ok
}

// IDs returns the ids by index. The slice aliases the index.
func (x *Index) IDs() []string { return x.ids }
