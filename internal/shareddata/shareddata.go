// Package shareddata finds the shared datasets (../shared/data beside the
// repository) for tests. Without them a test is skipped, unless
// TAILOR_REQUIRE_SERVICES=1 (as CI sets it) makes it fail.
package shareddata

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Path returns the path of name inside the shared data folder:
// $TAILOR_SHARED_DATA, or shared/data beside the repository that holds the
// test's working directory.
func Path(t testing.TB, name string) string {
	t.Helper()
	root := os.Getenv("TAILOR_SHARED_DATA")
	if root == "" {
		repo, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		root = filepath.Join(filepath.Dir(repo), "shared", "data")
	}
	path := filepath.Join(root, name)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("TAILOR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("shared data %s is missing and TAILOR_REQUIRE_SERVICES=1: %v", path, err)
		}
		t.Skipf("shared data %s is missing (set TAILOR_SHARED_DATA): %v", path, err)
	}
	return path
}

// repoRoot walks up from the working directory to the folder with go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("shareddata: no go.mod above the working directory")
		}
		dir = parent
	}
}
