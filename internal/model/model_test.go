package model_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
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

// matrixModels returns the registered matrix models, each made by New
// with the parameters and unwrapped to its matrix form.
func matrixOf(t *testing.T, info model.Info, params json.RawMessage) (model.Matrix, bool) {
	t.Helper()
	m, err := info.New(params, 1)
	if err != nil {
		t.Fatal(err)
	}
	return model.AsMatrix(m)
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
		"popular":  {2, 3}, // c and d have two users each; ties by index
		"itemknn":  {2, 3}, // c co-occurs with a and b; d only through c
		"userknn":  {2, 3}, // u1, who has c, is u0's only neighbour; d scores 0
		"buyagain": {2, 3}, // u0's own items are excluded: popularity
		"ease":     {2, 3}, // c goes with a and b
		"rp3beta":  {2, 3}, // walks from a and b reach c; d only through c
		"ials":     {2, 3}, // u0's vector is closest to u1's, who has c
		"bpr":      {2, 3}, // c is ranked with a and b by u1
		"slim":     {2, 3}, // c is regressed on a and b
		"blend":    {2, 3}, // slim, ials and ease all agree
	}
	for _, info := range all.Models() {
		m, ok := matrixOf(t, info, nil)
		if !ok {
			continue
		}
		t.Run(info.Name, func(t *testing.T) {
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

// TestArtifacts saves and loads every model and checks that the loaded
// model recommends as the fitted one did.
func TestArtifacts(t *testing.T) {
	d := scenario(t)
	for _, info := range all.Models() {
		if _, ok := matrixOf(t, info, nil); !ok {
			continue
		}
		t.Run(info.Name, func(t *testing.T) {
			params := json.RawMessage("{}")
			if len(info.Grid) > 0 {
				params = info.Grid[len(info.Grid)-1]
			}
			wrapped, err := info.New(params, 1)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := model.AsMatrix(wrapped)
			if err := m.Fit(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			wrapped.(model.Sized).SetNumItems(d.NumItems())
			var buf bytes.Buffer
			n, err := model.Save(&buf, info.Name, params, wrapped)
			if err != nil {
				t.Fatal(err)
			}
			if size, _ := model.Size(info.Name, params, wrapped); n != int64(buf.Len()) || size != n {
				t.Errorf("wrote %d bytes, buffer %d, size %d", n, buf.Len(), size)
			}
			artifact := buf.Bytes()
			loadedModel, name, loadedParams, err := model.Load(bytes.NewReader(artifact), all.Lookup)
			if err != nil {
				t.Fatal(err)
			}
			loaded, _ := model.AsMatrix(loadedModel)
			if s := loadedModel.(model.Sized).NumItems(); s != d.NumItems() {
				t.Errorf("the loaded model knows %d items, want %d", s, d.NumItems())
			}
			if name != info.Name || string(loadedParams) != string(params) {
				t.Errorf("loaded %s %s", name, loadedParams)
			}
			for u := int32(0); u < 4; u++ {
				want := m.Recommend(u, 4, nil, nil)
				got := loaded.Recommend(u, 4, nil, nil)
				if !slices.Equal(got, want) {
					t.Errorf("user %d: loaded model recommends %v, fitted one %v", u, got, want)
				}
			}
			// Damaged artifacts fail cleanly.
			for _, cut := range []int{0, 10, len(artifact) / 2, len(artifact) - 1} {
				if _, _, _, err := model.Load(bytes.NewReader(artifact[:cut]), all.Lookup); err == nil {
					t.Errorf("an artifact cut at %d loaded", cut)
				}
			}
			bad := bytes.Clone(artifact)
			bad[len(bad)-5] ^= 0xff
			if loaded, _, _, err := model.Load(bytes.NewReader(bad), all.Lookup); err == nil {
				mx, _ := model.AsMatrix(loaded)
				mx.Recommend(0, 4, nil, nil) // must not panic either way
			}
		})
	}
}

func TestSimilarItems(t *testing.T) {
	d := scenario(t)
	var checked []string
	for _, info := range all.Models() {
		m, ok := matrixOf(t, info, nil)
		if !ok {
			continue
		}
		sim, ok := m.(model.Similar)
		if !ok {
			continue
		}
		if err := m.Fit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		checked = append(checked, info.Name)
		// a and b have the same users.
		if got := indices(sim.SimilarItems(0, 1, nil)); !slices.Equal(got, []int32{1}) {
			t.Errorf("%s: similar to a = %v, want [1]", info.Name, got)
		}
		if got := sim.SimilarItems(2, 10, nil); slices.ContainsFunc(got, func(e topk.Entry) bool { return e.Index == 2 }) {
			t.Errorf("%s: c is similar to itself: %v", info.Name, got)
		}
	}
	for _, want := range []string{"itemknn", "ease", "rp3beta", "slim", "ials", "bpr"} {
		if !slices.Contains(checked, want) {
			t.Errorf("%s does not find similar items", want)
		}
	}
}

func TestBuyAgainOwnItemsFirst(t *testing.T) {
	x := func(u, i int32, w float32) feature.Interaction {
		return feature.Interaction{User: u, Item: i, Weight: w}
	}
	d, err := feature.Build([]string{"u0", "u1", "u2"}, []string{"a", "b", "c", "d"},
		[]feature.Interaction{x(0, 0, 1), x(0, 1, 3), x(1, 2, 1), x(2, 2, 1), x(1, 3, 1), x(0, 3, 1)})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := all.Lookup("buyagain")
	m, _ := matrixOf(t, info, nil)
	if err := m.Fit(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	// u0 bought b three times, a and d once (d has more buyers than a),
	// then c is the most popular item u0 did not buy.
	if got := indices(m.Recommend(0, 4, nil, nil)); !slices.Equal(got, []int32{1, 3, 0, 2}) {
		t.Errorf("buy again for u0 = %v, want [1 3 0 2]", got)
	}
	// Score ranks the same way.
	scores := make([]float32, 4)
	m.(model.Scorer).Score(0, scores)
	if got := indices(topk.Select(scores, 4, nil)); !slices.Equal(got, []int32{1, 3, 0, 2}) {
		t.Errorf("buy-again scores for u0 rank %v (%v), want [1 3 0 2]", got, scores)
	}
}

func TestIALSBadParams(t *testing.T) {
	info, _ := all.Lookup("ials")
	for _, bad := range []string{`{"factors":-1}`, `{"lambda":-0.1}`, `{"unobserved":-1}`, `{"iterations":0.5}`, `{"nu":3}`} {
		if _, err := info.New([]byte(bad), 1); err == nil {
			t.Errorf("ials accepted %s", bad)
		}
	}
	// Vectors that overflow are reported with the iteration, not kept.
	m, _ := matrixOf(t, info, []byte(`{"init_std":1e300}`))
	err := m.Fit(context.Background(), scenario(t))
	if err == nil || !strings.Contains(err.Error(), "iteration 1") {
		t.Errorf("overflowing fit: err = %v, want one naming iteration 1", err)
	}
}

func TestBPRBadParams(t *testing.T) {
	info, _ := all.Lookup("bpr")
	for _, bad := range []string{`{"learning_rate":-0.1}`, `{"factors":0.5}`, `{"negatives":"hard"}`, `{"holdout":0.7}`, `{"reg":-1}`} {
		if _, err := info.New([]byte(bad), 1); err == nil {
			t.Errorf("bpr accepted %s", bad)
		}
	}
	m, _ := matrixOf(t, info, []byte(`{"learning_rate":10,"reg":0,"factors":8}`))
	d := scenario(t)
	if err := m.Fit(context.Background(), d); err != nil && !strings.Contains(err.Error(), "epoch") {
		t.Errorf("a diverging fit must name the epoch: %v", err)
	}
}

func TestSLIMBadParams(t *testing.T) {
	info, _ := all.Lookup("slim")
	for _, bad := range []string{`{"l1":-1}`, `{"l2":-2}`, `{"support":-5}`, `{"sweeps":5000}`} {
		if _, err := info.New([]byte(bad), 1); err == nil {
			t.Errorf("slim accepted %s", bad)
		}
	}
}

// TestBlend checks that a one-member blend ranks as its member does (the
// standardization is monotone), that weights matter, and that bad members
// are named.
func TestBlend(t *testing.T) {
	d := scenario(t)
	fit := func(name, params string) model.Matrix {
		t.Helper()
		info, err := all.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := matrixOf(t, info, json.RawMessage(params))
		if err := m.Fit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		return m
	}
	alone := fit("rp3beta", `{}`)
	blended := fit("blend", `{"members":[{"model":"rp3beta","weight":2}]}`)
	for u := int32(0); u < 4; u++ {
		if got, want := indices(blended.Recommend(u, 4, nil, nil)), indices(alone.Recommend(u, 4, nil, nil)); !slices.Equal(got, want) {
			t.Errorf("user %d: one-member blend %v, member %v", u, got, want)
		}
	}
	// With one weight negligible, the blend ranks as the other member.
	ease := fit("ease", `{}`)
	mostlyEase := fit("blend", `{"members":[{"model":"ease","weight":1},{"model":"rp3beta","weight":1e-9}]}`)
	for u := int32(0); u < 4; u++ {
		if got, want := indices(mostlyEase.Recommend(u, 4, nil, nil)), indices(ease.Recommend(u, 4, nil, nil)); !slices.Equal(got, want) {
			t.Errorf("user %d: blend weighted to ease %v, ease %v", u, got, want)
		}
	}
	info, _ := all.Lookup("blend")
	for _, tc := range []struct{ params, field string }{
		{`{"members":[{"model":"ease","weight":0}]}`, "members[0].weight"},
		{`{"members":[{"model":"ease","weight":1},{"model":"nope","weight":1}]}`, "members[1].model"},
		{`{"members":[{"model":"blend","weight":1}]}`, "members[0].model"},
		{`{"members":[{"model":"ials","weight":1,"params":{"factors":0.5}}]}`, "members[0]"},
		{`{"members":[{"model":"popular","weight":1}]}`, "members[0].model"},
	} {
		_, err := info.New(json.RawMessage(tc.params), 1)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want one naming %s", tc.params, err, tc.field)
		}
	}
}

// TestHistoryScorers checks that scoring a user's training row as a live
// history ranks as Recommend does for that user, that bad indices are
// errors, and that explanations point into the history.
func TestHistoryScorers(t *testing.T) {
	d := scenario(t)
	var serving []string
	for _, info := range all.Models() {
		m, ok := matrixOf(t, info, nil)
		if !ok {
			continue
		}
		hs, ok := m.(model.HistoryScorer)
		if !ok {
			continue
		}
		serving = append(serving, info.Name)
		if err := m.Fit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		scores := make([]float32, d.NumItems())
		for u := int32(0); u < 4; u++ {
			items, weights := d.Row(u)
			if err := hs.ScoreHistory(items, weights, scores); err != nil {
				t.Fatalf("%s: %v", info.Name, err)
			}
			exclude := func(i int32) bool { return d.Has(u, i) }
			got := indices(topk.Select(scores, 1, exclude))
			want := indices(m.Recommend(u, 1, exclude, nil))
			if !slices.Equal(got, want) {
				t.Errorf("%s user %d: history ranks %v first, Recommend %v", info.Name, u, got, want)
			}
		}
		if err := hs.ScoreHistory([]int32{0, 9}, []float32{1, 1}, scores); err == nil {
			t.Errorf("%s: index 9 of 4 items accepted", info.Name)
		}
		// u0 has a and b; where c scores above 0 it is because of them.
		if err := hs.ScoreHistory([]int32{0, 1}, []float32{1, 1}, scores); err != nil {
			t.Fatal(err)
		}
		if ex, ok := m.(model.Explainer); ok && info.Name != "buyagain" && info.Name != "popular" && scores[2] > 0 {
			if j, ok := ex.Because([]int32{0, 1}, 2); !ok || (j != 0 && j != 1) {
				t.Errorf("%s: c because of %d (%v), want a or b", info.Name, j, ok)
			}
		}
	}
	for _, want := range []string{"popular", "itemknn", "ease", "rp3beta", "ials", "slim", "buyagain", "blend"} {
		if !slices.Contains(serving, want) {
			t.Errorf("%s cannot score a live history", want)
		}
	}
}

// countingModel counts its fits and fails when told to.
type countingModel struct {
	fits int
	fail bool
}

func (m *countingModel) Fit(context.Context, *feature.Dataset) error {
	m.fits++
	if m.fail {
		return errors.New("no")
	}
	return nil
}

func (m *countingModel) Recommend(int32, int, func(int32) bool, []topk.Entry) []topk.Entry {
	return nil
}

// TestFitCache checks that a search's cache fits a member once per
// training set, refits on other data, keeps no failed fit, and that a
// blend fitted through it ranks as one fitted without it.
func TestFitCache(t *testing.T) {
	ctx := model.WithFitCache(context.Background())
	cache := model.FitCacheFrom(ctx)
	if cache == nil || model.FitCacheFrom(context.Background()) != nil {
		t.Fatal("the cache is not carried by exactly the context it was put in")
	}
	d, other := scenario(t), scenario(t)
	var first model.Matrix
	for n := range 3 {
		got, err := cache.Fit(ctx, d, "m", &countingModel{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			first = got
		} else if got != first {
			t.Errorf("fit %d under the same key and data returned another model", n+1)
		}
	}
	if fits := first.(*countingModel).fits; fits != 1 {
		t.Errorf("the kept model was fitted %d times", fits)
	}
	again := &countingModel{}
	if got, _ := cache.Fit(ctx, other, "m", again); got != again || again.fits != 1 {
		t.Error("a model was reused on other data")
	}
	failing := &countingModel{fail: true}
	if _, err := cache.Fit(ctx, other, "bad", failing); err == nil {
		t.Error("a failed fit returned no error")
	}
	retry := &countingModel{}
	if got, err := cache.Fit(ctx, other, "bad", retry); err != nil || got != retry {
		t.Error("a failed fit was kept")
	}

	info, _ := all.Lookup("blend")
	params := []string{
		`{"members":[{"model":"ease","weight":1},{"model":"rp3beta","weight":2}]}`,
		`{"members":[{"model":"ease","weight":2},{"model":"rp3beta","weight":1}]}`,
	}
	for _, p := range params {
		plain, _ := matrixOf(t, info, json.RawMessage(p))
		cached, _ := matrixOf(t, info, json.RawMessage(p))
		if err := plain.Fit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if err := cached.Fit(ctx, d); err != nil {
			t.Fatal(err)
		}
		for u := int32(0); u < 4; u++ {
			if got, want := cached.Recommend(u, 4, nil, nil), plain.Recommend(u, 4, nil, nil); !slices.Equal(got, want) {
				t.Errorf("%s user %d: through the cache %v, without %v", p, u, got, want)
			}
		}
	}
}

// TestSelectScoresAsReference compares SelectScores with the plain
// definition (every allowed item, boosted, sorted best first with ties to
// the lower index, the first N) on random score vectors full of ties,
// with and without exclusions, boosts and candidates.
func TestSelectScoresAsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	h := topk.New(0)
	for trial := range 3000 {
		n := 1 + rng.IntN(300)
		scores := make([]float32, n)
		for i := range scores {
			scores[i] = float32(rng.IntN(20)-5) / 4 // few values: many ties, some negative
		}
		q := &model.Query{Task: model.TaskPersonal, User: -1, N: 1 + rng.IntN(30)}
		if rng.IntN(2) == 0 {
			banned := map[int32]bool{}
			for range rng.IntN(n) {
				banned[int32(rng.IntN(n))] = true
			}
			q.Exclude = func(i int32) bool { return banned[i] }
		}
		if rng.IntN(3) == 0 {
			q.Boost = func(i int32) float64 { return []float64{1, 1, 2, 0.5}[i%4] }
		}
		if rng.IntN(4) == 0 {
			for i := range int32(n) {
				if rng.IntN(3) == 0 {
					q.Candidates = append(q.Candidates, i)
				}
			}
		}
		var want []topk.Entry
		for i := range int32(n) {
			if q.Allowed(i) {
				want = append(want, topk.Entry{Index: i, Score: q.Boosted(i, scores[i])})
			}
		}
		slices.SortStableFunc(want, func(a, b topk.Entry) int { return cmp.Compare(b.Score, a.Score) })
		want = want[:min(q.N, len(want))]
		got := model.SelectScores(q, scores, h, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (n %d, N %d, exclude %v, boost %v, candidates %d):\n got %v\nwant %v",
				trial, n, q.N, q.Exclude != nil, q.Boost != nil, len(q.Candidates), got, want)
		}
	}
}
