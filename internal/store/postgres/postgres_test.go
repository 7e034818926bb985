package postgres_test

import (
	"context"
	"testing"

	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/postgres"
	"github.com/tailorhq/tailor/internal/store/postgres/pgtest"
	"github.com/tailorhq/tailor/internal/store/storetest"
)

// open opens a store in a schema of the test's own.
func open(t *testing.T) *postgres.DB {
	t.Helper()
	url := pgtest.URL(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{Schema: pgtest.Schema(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}
