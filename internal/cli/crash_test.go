package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/postgres/pgtest"
)

// TestMain lets the test binary run as tailor itself when TAILOR_TEST_MAIN
// is 1, or as a retrainer (runRetrainer) when TAILOR_TEST_RETRAINER names a
// store, so that a test can start a server as a process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("TAILOR_TEST_MAIN") == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	if url := os.Getenv("TAILOR_TEST_RETRAINER"); url != "" {
		os.Exit(runRetrainer(url))
	}
	os.Exit(m.Run())
}

// TestCrashKeepsAcknowledgedEvents starts 'tailor serve' as a process,
// posts batches of events from four clients, kills the process (SIGKILL)
// while they post, and starts it again, several times over one store:
// every event of every acknowledged batch is stored, and the store opens
// after each kill. (A power cut is what durability = "full" adds; a
// process kill is what a test can do.) It runs on the embedded store and
// on PostgreSQL (a replica killed under load).
func TestCrashKeepsAcknowledgedEvents(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		crashTest(t, dir, []string{"--data-dir", dir})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Store(t)
		crashTest(t, url, []string{"--store", url, "--data-dir", t.TempDir()})
	})
}

// crashTest runs the kills on the store at loc, which serve opens with
// storeArgs.
func crashTest(t *testing.T, loc string, storeArgs []string) {
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	listening := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	var (
		mu    sync.Mutex
		acked []string
	)
	for round := range rounds {
		cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, storeArgs...)...)
		cmd.Env = append(os.Environ(), "TAILOR_TEST_MAIN=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		base := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if m := listening.FindStringSubmatch(sc.Text()); m != nil {
					base <- m[1]
				}
			}
		}()
		var url string
		select {
		case url = <-base:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: the server did not start: %s", round, stderr.String())
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for b := 0; ; b++ {
					select {
					case <-stop:
						return
					default:
					}
					var events []map[string]any
					var ids []string
					for k := range 50 {
						id := fmt.Sprintf("r%d-c%d-b%d-e%d", round, c, b, k)
						ids = append(ids, id)
						events = append(events, map[string]any{"id": id, "user_id": fmt.Sprint("u", k%7), "item_id": fmt.Sprint("i", (b+k)%13),
							"type": "view", "timestamp": "2026-11-28T10:00:00Z"})
					}
					body, _ := json.Marshal(events)
					resp, err := client.Post(url+"/v1/events", "application/json", bytes.NewReader(body))
					if err != nil {
						return // the server is gone
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						mu.Lock()
						acked = append(acked, ids...)
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	if len(acked) < 200 {
		t.Fatalf("only %d events acknowledged in %d rounds: the test did not load the server", len(acked), rounds)
	}
	db, err := openStore(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[string]bool{}
	if err := db.ScanEvents(context.Background(), store.EventQuery{}, func(e *tailor.Event) error {
		stored[e.ID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, id := range acked {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged events are lost after %d kills", lost, len(acked), rounds)
	}
	t.Logf("%d acknowledged events, all stored, over %d kills", len(acked), rounds)
}
