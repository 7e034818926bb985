package glove_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/llm/glove"
)

// A small file in the wink-embeddings layout: words most frequent first,
// each vector followed by its norm and its index.
const wink = `{"precision":8,"l2NormIndex":4,"wordIndex":5,"size":6,"dimensions":4,
"words":["the","tea","pot","cup","red","rare"],
"vectors":{"tea":[1,0,0,0,1,1],"the":[0.5,0.5,0.5,0.5,1,0],"pot":[0,2,0,0,2,2],"cup":[0,0,1,0,1,3],"red":[0,0,0,-1,1,4],"rare":[9,9,9,9,18,5]},
"unkVector":[0,0,0,0,0,-1]}`

// TestConvertLoadEmbed converts the file keeping the five most frequent
// words, stores and loads it, and embeds texts: the SIF-weighted average
// of the known words (the frequent "the" weighs least), unknown words and
// case ignored.
func TestConvertLoadEmbed(t *testing.T) {
	v, err := glove.Convert(strings.NewReader(wink), 5)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 5 || v.Dims() != 4 {
		t.Fatalf("%d words of %d dimensions", v.Len(), v.Dims())
	}
	if _, ok := v.Lookup("rare"); ok {
		t.Error("the sixth word was kept")
	}
	path := filepath.Join(t.TempDir(), "vectors.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	loaded, err := glove.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := loaded.Embed(context.Background(), []string{"Tea POT", "the tea", "zzz qqq", ""})
	if err != nil {
		t.Fatal(err)
	}
	// Zipf over 5 ranks: H = 1 + 1/2 + 1/3 + 1/4 + 1/5; p(rank r) = 1/((r+1)H).
	h := 1 + 1.0/2 + 1.0/3 + 1.0/4 + 1.0/5
	w := func(rank int) float64 { p := 1 / (float64(rank+1) * h); return glove.SIF / (glove.SIF + p) }
	want := [][]float64{
		{w(1) / 2, 2 * w(2) / 2, 0, 0},
		{(0.5*w(0) + w(1)) / 2, 0.5 * w(0) / 2, 0.5 * w(0) / 2, 0.5 * w(0) / 2},
		{0, 0, 0, 0},
		{0, 0, 0, 0},
	}
	for i := range want {
		for d := range want[i] {
			// int8 quantization: within a 127th of the largest value.
			if math.Abs(float64(vecs[i][d])-want[i][d]) > 2.0/127*max(want[i][d], 0.01)+1e-6 {
				t.Errorf("text %d, dimension %d: %v, want %v", i, d, vecs[i][d], want[i][d])
			}
		}
	}
	if w(0) >= w(4) {
		t.Errorf("the most frequent word weighs %v, the fifth %v", w(0), w(4))
	}
	for _, bad := range []string{"not json", `{"dimensions":4}`, `{"dimensions":4,"words":["a"],"vectors":{"a":[1,2]}}`} {
		if _, err := glove.Convert(strings.NewReader(bad), 0); err == nil {
			t.Errorf("%q converted", bad)
		}
	}
	garbage := filepath.Join(t.TempDir(), "garbage.bin")
	os.WriteFile(garbage, []byte("hello"), 0o600)
	if _, err := glove.Load(garbage); err == nil || !strings.Contains(err.Error(), "tailor vectors install") {
		t.Errorf("loading garbage: %v", err)
	}
}
