package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tailorhq/tailor/internal/demo"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
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
	// The candidates by default include the neural sequence models, which
	// take minutes on the sample; which ones the default holds is
	// TestDefaultCandidates's.
	code, stdout, stderr := runMain(t, "train", "--data-dir", dir, "--select", "--budget", "train=1h", "--skip-holdout",
		"--models", "popular,itemknn,ease,ials,buyagain,repeatexplore")
	if code != 0 || !strings.Contains(stdout, "(chosen)") || !strings.Contains(stdout, "saved and activated") {
		t.Fatalf("train --select: %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runMain(t, "train", "--data-dir", dir, "--budget", "train=1h"); code != 2 || !strings.Contains(stderr, "--budget needs --select") {
		t.Errorf("--budget alone: %d %s", code, stderr)
	}
	if code, _, stderr := runMain(t, "train", "--data-dir", dir, "--select", "--model", "ease"); code != 2 || !strings.Contains(stderr, "not both") {
		t.Errorf("--select with --model: %d %s", code, stderr)
	}
	if code, _, stderr := runMain(t, "train", "--data-dir", dir, "--models", "ease"); code != 2 || !strings.Contains(stderr, "--models needs --select") {
		t.Errorf("--models alone: %d %s", code, stderr)
	}
	if code, _, stderr := runMain(t, "train", "--data-dir", dir, "--select", "--models", "nope"); code != 2 || !strings.Contains(stderr, "nope") {
		t.Errorf("an unknown candidate: %d %s", code, stderr)
	}
}

// TestDefaultCandidates: for 'train --select', every model serve can use
// (saved, answering from a history) and no other; for 'select', every
// model of the task but random.
func TestDefaultCandidates(t *testing.T) {
	servable := defaultCandidates(model.TaskPersonal, true, 1)
	for _, want := range []string{"ease", "ials", "itemknn", "buyagain", "repeatexplore", "ranker", "sasrec", "gru4rec"} {
		if !slices.Contains(servable, want) {
			t.Errorf("train --select's candidates %v lack %s", servable, want)
		}
	}
	every := defaultCandidates(model.TaskPersonal, false, 1)
	if slices.Contains(every, "random") || slices.Contains(servable, "random") || len(every) < len(servable) {
		t.Errorf("select's candidates %v, train --select's %v", every, servable)
	}
	for _, name := range servable {
		info, err := all.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := info.New(nil, 1)
		if !model.IsPersistent(m) || !model.AnswersHistories(m) {
			t.Errorf("%s cannot be served but is a candidate", name)
		}
	}
}
