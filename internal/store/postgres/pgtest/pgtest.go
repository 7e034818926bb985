// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the database named by TAILOR_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test), dropped when the test ends.
// Without a server the test is skipped, unless TAILOR_REQUIRE_SERVICES=1
// (as CI sets it), which makes it fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the database tests use when TAILOR_TEST_POSTGRES is not
// set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test"

// URL returns the test database's URL, or skips (or fails) the test when
// it does not answer.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TAILOR_TEST_POSTGRES")
	if url == "" {
		url = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if os.Getenv("TAILOR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL at %s does not answer and TAILOR_REQUIRE_SERVICES=1: %v", url, err)
		}
		t.Skipf("PostgreSQL at %s does not answer (set TAILOR_TEST_POSTGRES): %v", url, err)
	}
	conn.Close(ctx)
	return url
}

// Schema creates a schema for the test and returns its name; it is dropped
// with everything in it when the test ends.
func Schema(t testing.TB, url string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "tailor_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+name)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// Store returns the URL of a store of the test's own: the test database
// with a new schema first on its search path.
func Store(t testing.TB) string {
	t.Helper()
	url := URL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + Schema(t, url)
}
