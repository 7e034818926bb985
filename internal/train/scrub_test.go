package train_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/store/sqlite"
	"github.com/tailorhq/tailor/internal/train"
)

// TestScrub trains versions that hold a shopper, deletes the shopper, and
// scrubs: every artifact is rewritten without the id and still loads;
// scrubbing again does nothing; a version trained after the shopper came
// back keeps the new shopper, and a later deletion reaches every version.
func TestScrub(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tailor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const alice, bob = "alice-7f3a9c", "bob-2e81d0"
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	buy := func(users ...string) {
		t.Helper()
		var events []tailor.Event
		for u, user := range users {
			for k := range 6 {
				n++
				events = append(events, tailor.Event{ID: fmt.Sprint("e", n), UserID: tailor.UserID(user), ItemID: tailor.ItemID(fmt.Sprint("i", (u+k)%9)),
					Type: tailor.Purchase, Timestamp: t0.Add(time.Duration(n) * time.Minute)})
			}
		}
		if err := db.Update(ctx, func(w store.Writer) error { _, err := w.InsertEvents(ctx, events); return err }); err != nil {
			t.Fatal(err)
		}
	}
	shoppers := []string{alice, bob}
	for u := range 10 {
		shoppers = append(shoppers, fmt.Sprint("s", u))
	}
	buy(shoppers...)
	trainOne := func(name string) store.ModelVersion {
		t.Helper()
		v, err := train.Train(ctx, db, train.Options{Model: name, SkipHoldout: true, Lookup: all.Lookup, Seed: 1})
		if err != nil {
			t.Fatalf("train %s: %v", name, err)
		}
		return v
	}
	artifact := func(id string) []byte {
		t.Helper()
		b, err := db.ModelArtifact(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	holds := func(id, who string) bool { return bytes.Contains(artifact(id), []byte(who)) }
	loads := func(id string) {
		t.Helper()
		_, payload, err := recommend.DecodeBundle(artifact(id))
		if err == nil {
			_, _, _, err = model.LoadBytes(payload, all.Lookup)
		}
		if err != nil {
			t.Errorf("version %s does not load: %v", id, err)
		}
	}
	ease, ials := trainOne("ease"), trainOne("ials")
	for _, v := range []store.ModelVersion{ease, ials} {
		if !holds(v.ID, alice) {
			t.Fatalf("%s does not hold %s before the deletion: the test shows nothing", v.Model, alice)
		}
	}
	if rep, err := train.Scrub(ctx, db, all.Lookup); err != nil || rep != (train.ScrubReport{}) {
		t.Errorf("scrub with no deletion: %+v, %v", rep, err)
	}

	if _, err := db.DeleteUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	rep, err := train.Scrub(ctx, db, all.Lookup)
	if err != nil || rep != (train.ScrubReport{Versions: 2, Rewritten: 2, Shoppers: 2}) {
		t.Fatalf("scrub after deleting %s: %+v, %v", alice, rep, err)
	}
	for _, v := range []store.ModelVersion{ease, ials} {
		if holds(v.ID, alice) {
			t.Errorf("%s still holds %s", v.Model, alice)
		}
		if !holds(v.ID, bob) {
			t.Errorf("%s lost %s, who was not deleted", v.Model, bob)
		}
		loads(v.ID)
		got, err := db.ModelVersion(ctx, v.ID)
		if err != nil || !got.ScrubbedAt.After(v.ScrubbedAt) || got.Bytes != int64(len(artifact(v.ID))) {
			t.Errorf("%s after the scrub: %+v, %v (before: scrubbed at %v)", v.Model, got, err, v.ScrubbedAt)
		}
	}
	if rep, err := train.Scrub(ctx, db, all.Lookup); err != nil || rep != (train.ScrubReport{}) {
		t.Errorf("a second scrub: %+v, %v", rep, err)
	}

	// Alice comes back; a version trained now holds the new alice, and a
	// scrub leaves her there.
	buy(alice)
	again := trainOne("ease")
	if rep, err := train.Scrub(ctx, db, all.Lookup); err != nil || rep != (train.ScrubReport{}) || !holds(again.ID, alice) {
		t.Errorf("scrub after %s came back: %+v, %v; the new version holds her: %v", alice, rep, err, holds(again.ID, alice))
	}

	// Deleting bob reaches all three versions.
	if _, err := db.DeleteUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if rep, err := train.Scrub(ctx, db, all.Lookup); err != nil || rep != (train.ScrubReport{Versions: 3, Rewritten: 3, Shoppers: 3}) {
		t.Errorf("scrub after deleting %s: %+v, %v", bob, rep, err)
	}
	for _, v := range []store.ModelVersion{ease, ials, again} {
		if holds(v.ID, bob) {
			t.Errorf("%s %s still holds %s", v.Model, v.ID, bob)
		}
		loads(v.ID)
	}
}
