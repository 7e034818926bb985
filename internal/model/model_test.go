package model_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/topk"
)

// scenario: u0 has a and b; u1 has a, b and c; u2 has c and d; u3 has d.
// Items that co-occur with a and b (c) should rank above d for u0, and
// every model must leave out excluded items.
func scenario(t *testing.T) *feature.Dataset {
	t.Helper()
	x := func(u, i int32) feature.Interaction { return feature.Interaction{User: u, Item: i, Weight: 1} }
	d, err := feature.Build([]string{"u0", "u1", "u2", "u3"}, []string{"a", "b", "c", "d"},
		[]feature.Interaction{x(0, 0), x(0, 1), x(1, 0), x(1, 1), x(1, 2), x(2, 2), x(2, 3), x(3, 3)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func indices(es []topk.Entry) []int32 {
	var out []int32
	for _, e := range es {
		out = append(out, e.Index)
	}
	return out
}

func TestModels(t *testing.T) {
	want := map[string][]int32{
		"popular": {2, 3}, // c and d have two users each; ties by index
		"itemknn": {2, 3}, // c co-occurs with a and b; d only through c
		"userknn": {2, 3}, // u1, who has c, is u0's only neighbour; d scores 0
	}
	for _, info := range all.Models() {
		t.Run(info.Name, func(t *testing.T) {
			m, err := info.New(nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			d := scenario(t)
			if err := m.Fit(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			got := indices(m.Recommend(0, 2, func(i int32) bool { return d.Has(0, i) }, nil))
			if w, ok := want[info.Name]; !ok {
				t.Errorf("no expectation for model %s", info.Name)
			} else if !slices.Equal(got, w) {
				t.Errorf("recommend for u0 = %v, want %v", got, w)
			}
			if got := m.Recommend(0, 10, nil, nil); len(got) != 4 {
				t.Errorf("unrestricted list = %v", got)
			}
		})
	}
	if _, err := all.Lookup("nope"); err == nil {
		t.Error("unknown model found")
	}
	info, _ := all.Lookup("itemknn")
	for _, bad := range []string{`{"neighbors":-1}`, `{"similarity":"pearson"}`, `{"alpha":2}`, `{"nieghbors":5}`, `[1]`} {
		if _, err := info.New([]byte(bad), 1); err == nil {
			t.Errorf("itemknn accepted %s", bad)
		}
	}
}
