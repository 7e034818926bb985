package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// sharedData returns the folder of the shared datasets (../shared/data
// beside the repository, or $TAILOR_SHARED_DATA). Without it the test is
// skipped, unless TAILOR_REQUIRE_SERVICES=1 asks for it to fail.
func sharedData(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("TAILOR_SHARED_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("TAILOR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("shared data %s is missing and TAILOR_REQUIRE_SERVICES=1: %v", path, err)
		}
		t.Skipf("shared data %s is missing (set TAILOR_SHARED_DATA): %v", path, err)
	}
	return path
}

type importReport struct {
	Read, Accepted, Rejected, Duplicates int
	RejectedByReason                     map[string]int `json:"rejected_by_reason"`
	Items, Users, Events                 int
}

func importJSON(t *testing.T, args ...string) importReport {
	t.Helper()
	code, out, errOut := runMain(t, append([]string{"import", "--json", "--data-dir", t.TempDir()}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Read != rep.Accepted+rep.Rejected+rep.Duplicates {
		t.Errorf("read %d != accepted %d + rejected %d + duplicates %d", rep.Read, rep.Accepted, rep.Rejected, rep.Duplicates)
	}
	return rep
}

// TestAcceptanceOnlineRetail imports the whole UCI Online Retail file: the
// counts must add up and match the file (431,673 lines, 4,010 customers).
func TestAcceptanceOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 431,673 lines")
	}
	path := sharedData(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	rep := importJSON(t, "--format", "online-retail", path)
	if rep.Read != 431673 {
		t.Errorf("read %d lines, the file has 431,673", rep.Read)
	}
	if rep.Users != 4010 {
		t.Errorf("%d users, the file has 4,010 customers", rep.Users)
	}
	// Rejected: 3 bad-debt adjustments, 1,169 negative stock adjustments
	// and 1,000 anonymous lines at price 0 (see the data README).
	want := map[string]int{"bad_debt_adjustment": 3, "stock_adjustment": 2169}
	for reason, n := range want {
		if rep.RejectedByReason[reason] != n {
			t.Errorf("rejected for %s: %d, want %d", reason, rep.RejectedByReason[reason], n)
		}
	}
	if rep.Rejected != 2172 || rep.Events != rep.Accepted || rep.Duplicates == 0 || rep.Duplicates > 3621 {
		t.Errorf("report = %+v", rep)
	}
}

// TestAcceptanceMovieLens imports ml-100k: 100,000 ratings, 943 users,
// 1,682 items.
func TestAcceptanceMovieLens(t *testing.T) {
	path := sharedData(t, "ml-100k")
	rep := importJSON(t, "--format", "movielens", path)
	if rep.Events != 100000 || rep.Users != 943 || rep.Items != 1682 || rep.Rejected != 0 {
		t.Errorf("report = %+v", rep)
	}
	small := importJSON(t, "--format", "movielens", sharedData(t, "ml-latest-small"))
	if small.Events != 100836 || small.Users != 610 || small.Items != 9742 || small.Rejected != 0 {
		t.Errorf("ml-latest-small report = %+v", small)
	}
}
