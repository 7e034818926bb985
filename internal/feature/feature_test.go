package feature

import (
	"bytes"
	"slices"
	"testing"
)

func TestBuildAndTranspose(t *testing.T) {
	users, items := []string{"u0", "u1", "u2"}, []string{"a", "b", "c"}
	d, err := Build(users, items, []Interaction{
		{User: 1, Item: 2, Weight: 1, Time: 10},
		{User: 0, Item: 1, Weight: 2, Time: 5},
		{User: 1, Item: 0, Weight: 1, Time: 7},
		{User: 1, Item: 2, Weight: 3, Time: 12}, // merged with the first
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.NNZ() != 3 || !slices.Equal(d.RowPtr, []int64{0, 1, 3, 3}) {
		t.Fatalf("rowptr %v nnz %d", d.RowPtr, d.NNZ())
	}
	items1, w1 := d.Row(1)
	if !slices.Equal(items1, []int32{0, 2}) || !slices.Equal(w1, []float32{1, 4}) || d.Times[2] != 12 {
		t.Errorf("row 1 = %v %v times %v", items1, w1, d.Times)
	}
	if !d.Has(1, 2) || d.Has(2, 0) || d.Has(0, 0) {
		t.Error("Has is wrong")
	}
	if got := d.ItemUsers(); !slices.Equal(got, []int32{1, 1, 1}) {
		t.Errorf("item users = %v", got)
	}
	tr := d.Transpose()
	usersOf2, w := tr.Row(2)
	if !slices.Equal(usersOf2, []int32{1}) || w[0] != 4 || tr.NumUsers() != 3 {
		t.Errorf("transpose row 2 = %v %v", usersOf2, w)
	}
	if _, err := Build(users, items, []Interaction{{User: 3, Item: 0}}); err == nil {
		t.Error("out-of-range user accepted")
	}
}

func TestIndex(t *testing.T) {
	x := NewIndex()
	if x.Add("b") != 0 || x.Add("a") != 1 || x.Add("b") != 0 {
		t.Error("indices not by first appearance")
	}
	if i, ok := x.Lookup("a"); !ok || i != 1 {
		t.Error("lookup a")
	}
	if _, ok := x.Lookup("z"); ok {
		t.Error("lookup of a missing id")
	}
	if !slices.Equal(x.IDs(), []string{"b", "a"}) {
		t.Errorf("ids = %v", x.IDs())
	}
}

func TestDecoderBytes(t *testing.T) {
	var b bytes.Buffer
	e := NewEncoder(&b)
	e.String("abc")
	e.String("")
	e.Uint64(7)
	data := b.Bytes()
	d := NewDecoder(data)
	if got := d.Bytes(); string(got) != "abc" || cap(got) != 3 {
		t.Errorf("first = %q (cap %d)", got, cap(got))
	}
	if got := d.Bytes(); len(got) != 0 {
		t.Errorf("second = %q", got)
	}
	if got := d.Uint64(); got != 7 || d.Err() != nil {
		t.Errorf("then %d, %v", got, d.Err())
	}
	short := NewDecoder(data[:6])
	if short.Bytes(); short.Err() == nil {
		t.Error("a truncated payload decoded")
	}
}

// TestForgetUsers removes two of four users: their ids and rows go, the
// others keep their indices, items, weights and times.
func TestForgetUsers(t *testing.T) {
	d, err := Build([]string{"a", "b", "c", "d"}, []string{"x", "y", "z"}, []Interaction{
		{User: 0, Item: 1, Weight: 1, Time: 10}, {User: 1, Item: 0, Weight: 2, Time: 20}, {User: 1, Item: 2, Weight: 3, Time: 30},
		{User: 2, Item: 2, Weight: 4, Time: 40}, {User: 3, Item: 0, Weight: 5, Time: 50}, {User: 3, Item: 1, Weight: 6, Time: 60},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := d.ForgetUsers(func(id string) bool { return id == "b" || id == "d" || id == "nobody" })
	if n != 2 || !slices.Equal(d.Users, []string{"a", "", "c", ""}) {
		t.Fatalf("removed %d, users %q", n, d.Users)
	}
	if !slices.Equal(d.RowPtr, []int64{0, 1, 1, 2, 2}) || !slices.Equal(d.Cols, []int32{1, 2}) ||
		!slices.Equal(d.Weights, []float32{1, 4}) || !slices.Equal(d.Times, []int64{10, 40}) {
		t.Errorf("matrix after: rows %v cols %v weights %v times %v", d.RowPtr, d.Cols, d.Weights, d.Times)
	}
	if items, _ := d.Row(2); !slices.Equal(items, []int32{2}) {
		t.Errorf("c's row: %v", items)
	}
	// Forgetting again removes nothing (an emptied id is never asked about).
	if n := d.ForgetUsers(func(string) bool { return true }); n != 2 || d.NNZ() != 0 {
		t.Errorf("forgetting everyone left: removed %d, %d entries", n, d.NNZ())
	}
}
