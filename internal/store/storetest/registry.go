package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

func testModelRegistry(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.ActiveModel(ctx, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("active model of an empty registry: %v, want ErrNotFound", err)
	}
	until := time.Date(2011, 10, 1, 0, 0, 0, 0, time.UTC)
	versions := []store.ModelVersion{
		{ID: "01A", Slot: "default", Model: "ease", Params: json.RawMessage(`{"lambda":400}`), DataUntil: until,
			Metrics: map[string]float64{"ndcg@10": 0.25}, Protocol: "temporal"},
		{ID: "01B", Slot: "default", Model: "ials", DataUntil: until},
		{ID: "01C", Slot: "other", Model: "popular", DataUntil: until},
	}
	for i, v := range versions {
		if err := s.SaveModel(ctx, v, bytes.Repeat([]byte{byte(i)}, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveModel(ctx, versions[0], []byte("x")); err == nil {
		t.Error("a second version with the same id was saved")
	}
	got, err := s.ModelVersions(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "01B" || got[1].ID != "01A" {
		t.Fatalf("default versions = %+v, want 01B then 01A", got)
	}
	a := got[1]
	if a.Model != "ease" || string(a.Params) != `{"lambda":400}` || !a.DataUntil.Equal(until) || a.Metrics["ndcg@10"] != 0.25 ||
		a.Protocol != "temporal" || a.Bytes != 100 || a.Active || a.CreatedAt.IsZero() {
		t.Errorf("01A = %+v", a)
	}
	if all, _ := s.ModelVersions(ctx, ""); len(all) != 3 {
		t.Errorf("all versions: %d, want 3", len(all))
	}
	art, err := s.ModelArtifact(ctx, "01B")
	if err != nil || len(art) != 101 || art[0] != 1 {
		t.Errorf("artifact of 01B: %d bytes, %v", len(art), err)
	}
	// Artifacts of tens of megabytes are usual; one of a few megabytes
	// and an odd size, and an empty one, come back byte for byte.
	big := make([]byte, 5<<20+12345)
	for i := range big {
		big[i] = byte(i*7 + i>>12)
	}
	for id, want := range map[string][]byte{"01D": big, "01E": {}} {
		if err := s.SaveModel(ctx, store.ModelVersion{ID: id, Slot: "large", Model: "ease", DataUntil: until}, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.ModelArtifact(ctx, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("artifact of %s: %d bytes, %v; want the %d saved", id, len(got), err, len(want))
		}
	}
	for _, id := range []string{"01A", "01B", "01A"} {
		if err := s.ActivateModel(ctx, id); err != nil {
			t.Fatal(err)
		}
		active, err := s.ActiveModel(ctx, "default")
		if err != nil || active.ID != id || !active.Active {
			t.Fatalf("after activating %s: active %+v, %v", id, active, err)
		}
	}
	if err := s.ActivateModel(ctx, "01C"); err != nil {
		t.Fatal(err)
	}
	if active, _ := s.ActiveModel(ctx, "default"); active.ID != "01A" {
		t.Errorf("activating another slot changed default to %s", active.ID)
	}
	n := 0
	vs, _ := s.ModelVersions(ctx, "")
	for _, v := range vs {
		if v.Active {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d active versions, want one per slot (2)", n)
	}
	for _, id := range []string{"nope"} {
		if err := s.ActivateModel(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("activate %s: %v", id, err)
		}
		if _, err := s.ModelVersion(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("version %s: %v", id, err)
		}
		if _, err := s.ModelArtifact(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("artifact %s: %v", id, err)
		}
	}
}

func testScenarios(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Scenario(ctx, "home"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing scenario: %v", err)
	}
	if err := s.PutScenario(ctx, "home", json.RawMessage(`{"n":10}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutScenario(ctx, "home", json.RawMessage(`{"n":12}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutScenario(ctx, "cart", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Scenario(ctx, "home"); err != nil || string(r) != `{"n":12}` {
		t.Errorf("home = %s, %v", r, err)
	}
	all, err := s.Scenarios(ctx)
	if err != nil || len(all) != 2 || string(all["cart"]) != `{}` {
		t.Errorf("scenarios = %v, %v", all, err)
	}
	if err := s.DeleteScenario(ctx, "home"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteScenario(ctx, "home"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func testImpressions(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	add := []store.Impressions{
		{Minute: t0, Scenario: "home", Version: "v1", Responses: 2, Items: 20},
		{Minute: t0.Add(30 * time.Second), Scenario: "home", Version: "v1", Responses: 1, Items: 10}, // same minute
		{Minute: t0.Add(time.Minute), Scenario: "", Version: "v2", Responses: 5, Items: 50},
		{Minute: t0.Add(time.Minute), Scenario: "", Version: "v2", Segment: "lost", Responses: 1, Items: 10},
		{Minute: t0.Add(time.Hour), Scenario: "", Version: "v2", Responses: 7, Items: 70},
	}
	if err := s.AddImpressions(ctx, add); err != nil {
		t.Fatal(err)
	}
	got, err := s.ImpressionCounts(ctx, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Responses != 3 || got[0].Items != 30 || !got[0].Minute.Equal(t0) || got[1].Version != "v2" ||
		got[1].Segment != "" || got[2].Segment != "lost" || got[2].Responses != 1 {
		t.Errorf("impressions = %+v", got)
	}
	// Attributed events only.
	rec := ev("e1", "u1", "i1", tailor.Click, t0)
	rec.RecommendationID = "01X.v1.home"
	insert(t, s, rec, ev("e2", "u1", "i2", tailor.Click, t0))
	page, err := s.Events(ctx, store.EventQuery{Attributed: true}, store.PageRequest{})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != "e1" {
		t.Errorf("attributed events = %+v, %v", page.Data, err)
	}
}

func testDeleteModel(t *testing.T, s store.Store) {
	ctx := context.Background()
	until := time.Date(2011, 10, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"01A", "01B", "01C"} {
		if err := s.SaveModel(ctx, store.ModelVersion{ID: id, Slot: "default", Model: "ease", DataUntil: until}, bytes.Repeat([]byte{byte(i)}, 3<<20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ActivateModel(ctx, "01B"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteModel(ctx, "01B"); !errors.Is(err, store.ErrActive) {
		t.Errorf("deleting the active version: %v, want ErrActive", err)
	}
	if err := s.DeleteModel(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting an unknown version: %v, want ErrNotFound", err)
	}
	if err := s.DeleteModel(ctx, "01A"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ModelArtifact(ctx, "01A"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("artifact of a deleted version: %v", err)
	}
	if _, err := s.ModelVersion(ctx, "01A"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted version: %v", err)
	}
	vs, err := s.ModelVersions(ctx, "")
	if err != nil || len(vs) != 2 || vs[0].ID != "01C" || vs[1].ID != "01B" || !vs[1].Active {
		t.Errorf("versions after the deletion: %+v, %v", vs, err)
	}
	if art, err := s.ModelArtifact(ctx, "01C"); err != nil || len(art) != 3<<20 || art[0] != 2 {
		t.Errorf("the kept version's artifact: %d bytes, %v", len(art), err)
	}
	// Once another is active, the old one may go.
	if err := s.ActivateModel(ctx, "01C"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteModel(ctx, "01B"); err != nil {
		t.Errorf("deleting the version rolled away from: %v", err)
	}
	if a, err := s.ActiveModel(ctx, "default"); err != nil || a.ID != "01C" {
		t.Errorf("active after the deletions: %+v, %v", a, err)
	}
}

// testModelScrubber deletes shoppers and checks their tombstones (hashes,
// in order, after a time), then replaces an artifact and moves its
// ScrubbedAt, which never goes back.
func testModelScrubber(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	err := s.Update(ctx, func(w store.Writer) error {
		_, err := w.InsertEvents(ctx, []tailor.Event{
			{ID: "e1", UserID: "ann", ItemID: "i1", Type: tailor.View, Timestamp: at},
			{ID: "e2", UserID: "ben", ItemID: "i1", Type: tailor.View, Timestamp: at},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if tombs, err := s.DeletedUsers(ctx, time.Time{}); err != nil || len(tombs) != 0 {
		t.Fatalf("tombstones before any deletion: %v, %v", tombs, err)
	}
	for _, u := range []tailor.UserID{"ann", "ben"} {
		if _, err := s.DeleteUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	tombs, err := s.DeletedUsers(ctx, time.Time{})
	if err != nil || len(tombs) != 2 {
		t.Fatalf("tombstones: %v, %v", tombs, err)
	}
	if tombs[0].IDHash != sha256.Sum256([]byte("ann")) || tombs[1].IDHash != sha256.Sum256([]byte("ben")) ||
		tombs[0].DeletedAt.Before(before) || !tombs[1].DeletedAt.After(tombs[0].DeletedAt) {
		t.Errorf("tombstones: %+v", tombs)
	}
	if later, err := s.DeletedUsers(ctx, tombs[0].DeletedAt); err != nil || len(later) != 1 || later[0].IDHash != tombs[1].IDHash {
		t.Errorf("tombstones after ann's: %+v, %v", later, err)
	}

	v := store.ModelVersion{ID: "01S", Slot: "default", Model: "ease", DataUntil: at, ScrubbedAt: before}
	if err := s.SaveModel(ctx, v, bytes.Repeat([]byte{7}, 3000)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ModelVersion(ctx, "01S"); err != nil || !got.ScrubbedAt.Equal(before) {
		t.Fatalf("saved: %+v, %v", got, err)
	}
	if err := s.ScrubModel(ctx, "01S", []byte("smaller"), tombs[1].DeletedAt); err != nil {
		t.Fatal(err)
	}
	got, err := s.ModelVersion(ctx, "01S")
	if art, _ := s.ModelArtifact(ctx, "01S"); err != nil || string(art) != "smaller" || got.Bytes != 7 || !got.ScrubbedAt.Equal(tombs[1].DeletedAt) {
		t.Errorf("after the scrub: %+v, %q, %v", got, art, err)
	}
	// Only the mark moves (and never back); the artifact stays.
	if err := s.ScrubModel(ctx, "01S", nil, before); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ModelVersion(ctx, "01S"); !got.ScrubbedAt.Equal(tombs[1].DeletedAt) {
		t.Errorf("the mark went back to %v", got.ScrubbedAt)
	}
	if art, _ := s.ModelArtifact(ctx, "01S"); string(art) != "smaller" {
		t.Errorf("a nil artifact replaced it: %q", art)
	}
	if err := s.ScrubModel(ctx, "no-such", []byte("x"), before); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("scrub a version that is not there: %v", err)
	}
}
