package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tailorhq/tailor/internal/loadgen"
)

// TestBenchSoak runs a short soak against a served sample shop: every
// kind of request is sent, every answer (the hostile ones refused with a
// 4xx) is what its kind allows, and the server's memory is sampled.
func TestBenchSoak(t *testing.T) {
	dir := importSample(t)
	base, _ := startCmd(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")
	out := filepath.Join(t.TempDir(), "soak.json")
	code, stdout, stderr := runMain(t, "bench", "soak", "--url", base, "--clients", "4", "--duration", "3s", "--sample", "1s", "--json", out)
	if code != 0 {
		t.Fatalf("bench soak: %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res loadgen.SoakResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Unexpected != 0 || res.Requests < 100 || len(res.Samples) < 3 || res.MaxRSSMB <= 0 {
		t.Errorf("soak: %d requests, %d unexpected %v, %d samples, max RSS %.1f MiB", res.Requests, res.Unexpected, res.FirstUnexpected, len(res.Samples), res.MaxRSSMB)
	}
	for _, kind := range []string{"recommendations", "events", "search", "events-by-type", "hostile-many-types", "hostile-nesting", "hostile-text", "delete-user"} {
		if res.ByKind[kind] == 0 {
			t.Errorf("no %s request was sent: %v", kind, res.ByKind)
		}
	}
	if res.ByStatus[500] != 0 {
		t.Errorf("%d answers were 500", res.ByStatus[500])
	}
}
