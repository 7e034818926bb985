// Package natstest gives tests the NATS server named by TAILOR_TEST_NATS
// (default nats://127.0.0.1:4222) and a stream name of their own. Without
// a server the test is skipped, unless TAILOR_REQUIRE_SERVICES=1 (as CI
// sets it), which makes it fail.
package natstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// URL returns the test NATS server's URL, or skips (or fails) the test
// when it does not answer.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TAILOR_TEST_NATS")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(url, nats.Timeout(3*time.Second))
	if err != nil {
		if os.Getenv("TAILOR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("NATS at %s does not answer and TAILOR_REQUIRE_SERVICES=1: %v", url, err)
		}
		t.Skipf("NATS at %s does not answer (set TAILOR_TEST_NATS): %v", url, err)
	}
	nc.Close()
	return url
}

// Stream returns a new stream name for the test, deleted when it ends.
func Stream(t testing.TB, url string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "TAILOR_TEST_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := nc.JetStream(); err == nil {
			_ = js.DeleteStream(name)
		}
	})
	return name
}
