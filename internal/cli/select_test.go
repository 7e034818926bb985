package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/demo"
)

// TestSelect chooses between two models on the sample shop's validation
// part under a budget they meet, writes the choice for 'train --config',
// and fails naming what each misses under a budget none meets.
func TestSelect(t *testing.T) {
	dir := t.TempDir()
	sample, err := demo.WriteSample(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "chosen.json")
	code, stdout, stderr := runMain(t, "select", "--dataset", "online-retail:"+sample, "--protocol", "kfold", "--models", "popular,itemknn",
		"--budget", "train=1h,memory=4GiB", "--out", out, "--report", filepath.Join(dir, "select.html"))
	if code != 0 || !strings.Contains(stdout, "(chosen)") || !strings.Contains(stdout, "front") {
		t.Fatalf("select: %d\n%s\n%s", code, stdout, stderr)
	}
	if html, err := os.ReadFile(filepath.Join(dir, "select.html")); err != nil || !strings.Contains(string(html), "Pareto front") || !strings.Contains(string(html), `stroke="#222"`) {
		t.Errorf("the report does not draw the front: %v", err)
	}
	var chosen tuned
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &chosen) != nil || (chosen.Model != "itemknn" && chosen.Model != "popular") || chosen.Protocol != "kfold" {
		t.Errorf("chosen: %s, %v", b, err)
	}
	if _, err := readTuned(out); err != nil {
		t.Errorf("'train --config' cannot read it: %v", err)
	}
	code, stdout, stderr = runMain(t, "select", "--dataset", "online-retail:"+sample, "--protocol", "kfold", "--models", "popular,itemknn", "--budget", "p99=1ns")
	if code == 0 || !strings.Contains(stderr, "no model is within the budget") || !strings.Contains(stdout, "misses p99") {
		t.Errorf("an impossible budget: %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runMain(t, "select", "--dataset", "online-retail:"+sample, "--protocol", "kfold", "--budget", "latency=5ms"); code != 2 || !strings.Contains(stderr, `unknown key "latency"`) {
		t.Errorf("a bad budget: %d %s", code, stderr)
	}
}

// TestTrainSelect chooses the model on the store's events and trains it;
// --budget without --select, and --select with --model, are usage errors.
func TestTrainSelect(t *testing.T) {
	dir := importSample(t)
	code, stdout, stderr := runMain(t, "train", "--data-dir", dir, "--select", "--budget", "train=1h", "--skip-holdout")
	if code != 0 || !strings.Contains(stdout, "(chosen)") || !strings.Contains(stdout, "saved and activated") {
		t.Fatalf("train --select: %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runMain(t, "train", "--data-dir", dir, "--budget", "train=1h"); code != 2 || !strings.Contains(stderr, "--budget needs --select") {
		t.Errorf("--budget alone: %d %s", code, stderr)
	}
	if code, _, stderr := runMain(t, "train", "--data-dir", dir, "--select", "--model", "ease"); code != 2 || !strings.Contains(stderr, "not both") {
		t.Errorf("--select with --model: %d %s", code, stderr)
	}
}
