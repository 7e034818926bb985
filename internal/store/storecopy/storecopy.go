// Package storecopy copies everything one store holds into another, empty
// one: to move a shop from the embedded SQLite store to PostgreSQL (or
// back, or between databases).
package storecopy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// ErrNotEmpty is returned when the destination holds records or model
// versions already.
var ErrNotEmpty = errors.New("the destination store is not empty")

// reportKinds are the kinds of report Tailor keeps: the last import's
// cleaning report and the last evaluation.
var reportKinds = []string{"import", "evaluation"}

// batch is how many records go to the destination in one call.
const batch = 10_000

// Result counts what was copied.
type Result struct {
	store.Counts
	Models      int `json:"models"`
	Scenarios   int `json:"scenarios"`
	Reports     int `json:"reports"`
	Impressions int `json:"impressions"`
}

// Copy copies src into dst, which must be empty: items, shoppers and
// events in one transaction of dst (events in their order), then the
// model registry with its artifacts and active versions, the scenarios,
// the reports and the impression counts. progress, if not nil, is told
// each step. What is not copied: the tombstones of deleted events and
// shoppers (deleted data stays deleted, but a retried batch holding a
// deleted event would store it in dst), and cached embeddings (computed
// again on use).
func Copy(ctx context.Context, dst, src store.Store, progress func(step string)) (Result, error) {
	var res Result
	say := func(format string, args ...any) {
		if progress != nil {
			progress(fmt.Sprintf(format, args...))
		}
	}
	c, err := dst.Counts(ctx)
	if err != nil {
		return res, fmt.Errorf("read the destination: %w", err)
	}
	versions, err := dst.ModelVersions(ctx, "")
	if err != nil {
		return res, fmt.Errorf("read the destination: %w", err)
	}
	if c != (store.Counts{}) || len(versions) > 0 {
		return res, fmt.Errorf("%w: it holds %d items, %d shoppers, %d events and %d model versions", ErrNotEmpty, c.Items, c.Users, c.Events, len(versions))
	}
	want, err := src.Counts(ctx)
	if err != nil {
		return res, fmt.Errorf("read the source: %w", err)
	}

	err = dst.Update(ctx, func(w store.Writer) error {
		res.Counts = store.Counts{}
		if d, ok := w.(store.IndexDeferrer); ok {
			if err := d.DeferIndexes(ctx, want.Events); err != nil {
				return err
			}
		}
		var err error
		res.Items, err = inBatches(func(fn func(*tailor.Item) error) error { return store.AllItems(ctx, src, fn) },
			func(b []tailor.Item) error { return w.UpsertItems(ctx, b) })
		if err != nil {
			return fmt.Errorf("copy items: %w", err)
		}
		say("items: %d", res.Items)
		res.Users, err = inBatches(func(fn func(*tailor.User) error) error { return store.AllUsers(ctx, src, fn) },
			func(b []tailor.User) error { return w.UpsertUsers(ctx, b) })
		if err != nil {
			return fmt.Errorf("copy shoppers: %w", err)
		}
		say("shoppers: %d", res.Users)
		events := make([]tailor.Event, 0, batch)
		flush := func() error {
			r, err := w.InsertEvents(ctx, events)
			res.Events += r.Inserted
			events = events[:0]
			return err
		}
		err = src.ScanEvents(ctx, store.EventQuery{}, func(e *tailor.Event) error {
			if events = append(events, *e); len(events) == batch {
				if err := flush(); err != nil {
					return err
				}
				if res.Events%(20*batch) == 0 {
					say("events: %d of %d", res.Events, want.Events)
				}
			}
			return nil
		})
		if err == nil && len(events) > 0 {
			err = flush()
		}
		if err != nil {
			return fmt.Errorf("copy events: %w", err)
		}
		say("events: %d", res.Events)
		return nil
	})
	if err != nil {
		return res, err
	}

	versions, err = src.ModelVersions(ctx, "")
	if err != nil {
		return res, fmt.Errorf("read the model registry: %w", err)
	}
	for i := len(versions) - 1; i >= 0; i-- { // oldest first
		v := versions[i]
		artifact, err := src.ModelArtifact(ctx, v.ID)
		if err != nil {
			return res, fmt.Errorf("copy model version %s: %w", v.ID, err)
		}
		active := v.Active
		v.Active = false
		if err := dst.SaveModel(ctx, v, artifact); err != nil {
			return res, fmt.Errorf("copy model version %s: %w", v.ID, err)
		}
		if active {
			if err := dst.ActivateModel(ctx, v.ID); err != nil {
				return res, fmt.Errorf("copy model version %s: %w", v.ID, err)
			}
		}
		res.Models++
	}
	say("model versions: %d", res.Models)
	scenarios, err := src.Scenarios(ctx)
	if err != nil {
		return res, fmt.Errorf("read the scenarios: %w", err)
	}
	for name, rules := range scenarios {
		if err := dst.PutScenario(ctx, name, rules); err != nil {
			return res, fmt.Errorf("copy scenario %s: %w", name, err)
		}
		res.Scenarios++
	}
	for _, kind := range reportKinds {
		r, err := src.Report(ctx, kind)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("read the %s report: %w", kind, err)
		}
		if err := dst.PutReport(ctx, r); err != nil {
			return res, fmt.Errorf("copy the %s report: %w", kind, err)
		}
		res.Reports++
	}
	imps, err := src.ImpressionCounts(ctx, time.Unix(0, 0), time.Now().AddDate(1, 0, 0))
	if err != nil {
		return res, fmt.Errorf("read the impressions: %w", err)
	}
	for lo := 0; lo < len(imps); lo += batch {
		if err := dst.AddImpressions(ctx, imps[lo:min(lo+batch, len(imps))]); err != nil {
			return res, fmt.Errorf("copy the impressions: %w", err)
		}
	}
	res.Impressions = len(imps)
	say("scenarios %d, reports %d, impression counts %d", res.Scenarios, res.Reports, res.Impressions)
	return res, nil
}

// inBatches hands every record that each yields to put, batch at a time,
// and returns how many it handed over.
func inBatches[T any](each func(fn func(*T) error) error, put func([]T) error) (int, error) {
	var (
		buf []T
		n   int
	)
	err := each(func(r *T) error {
		if buf = append(buf, *r); len(buf) == batch {
			n += len(buf)
			err := put(buf)
			buf = buf[:0]
			return err
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		n += len(buf)
		err = put(buf)
	}
	return n, err
}
