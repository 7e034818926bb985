package dataset

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/store"
)

// Load reads a dataset given as "FORMAT:PATH", where FORMAT is an import
// format (see ingest.Formats), cleaned as 'tailor import' cleans it,
// without a store. Users and items are numbered in the order of their
// first event; catalog items without events come after, in id order.
func Load(ctx context.Context, spec string) (*Dataset, error) {
	format, path, ok := strings.Cut(spec, ":")
	if !ok || format == "" || path == "" {
		return nil, fmt.Errorf("dataset %q: expected FORMAT:PATH, such as movielens:../shared/data/ml-100k", spec)
	}
	if !slices.Contains(ingest.Formats(), format) {
		return nil, fmt.Errorf("dataset %q: unknown format %q: use one of %s", spec, format, strings.Join(ingest.Formats(), ", "))
	}
	b := newBuilder()
	_, err := ingest.Read(ctx, []string{path}, ingest.Options{Format: format}, func(r ingest.Records) error {
		for i := range r.Items {
			b.catalog[r.Items[i].ID] = r.Items[i]
		}
		for i := range r.Events {
			b.event(&r.Events[i])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", spec, err)
	}
	if len(b.d.Events) == 0 {
		return nil, fmt.Errorf("dataset %s has no events", spec)
	}
	d := b.finish()
	d.Format, d.Path = format, path
	return d, nil
}

// Source is a store that a dataset can be read from.
type Source interface {
	store.EventReader
	store.ItemReader
}

// ErrNoEvents is returned when a store has no events (of those asked for).
var ErrNoEvents = errors.New("the store has no events")

// FromStore reads every event (in time order) and item of a store.
func FromStore(ctx context.Context, s Source) (*Dataset, error) {
	return FromStoreQuery(ctx, s, store.EventQuery{})
}

// FromStoreQuery reads the events of a store that q selects (in time
// order) and every item.
func FromStoreQuery(ctx context.Context, s Source, q store.EventQuery) (*Dataset, error) {
	b := newBuilder()
	if err := store.AllItems(ctx, s, func(it *tailor.Item) error {
		b.catalog[it.ID] = *it
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	n := 0
	if err := s.ScanEvents(ctx, q, func(e *tailor.Event) error {
		b.event(e)
		// A server reads its store in the background (the analyses'
		// refresh): hand the processor to waiting requests every
		// 1,024 events (about 4 ms) rather than holding it for the
		// scheduler's 10 ms slice.
		if n++; n%1024 == 0 {
			runtime.Gosched()
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the events: %w", err)
	}
	if len(b.d.Events) == 0 {
		return nil, ErrNoEvents
	}
	d := b.finish()
	d.Format = "store"
	return d, nil
}

// Records are a dataset's events and catalog as read, for the analyses
// that work on events (behaviour analysis, pricing, preparation).
type Records struct {
	// Format and Path are where they came from ("store" for a store).
	Format, Path string
	// Events are in the order read (for a store, time order), each once.
	Events []tailor.Event
	Items  map[tailor.ItemID]tailor.Item
}

// NonProduct reports whether the item is a fee, postage or another line
// that is not a product (false for unknown items).
func (r *Records) NonProduct(id tailor.ItemID) bool { return r.Items[id].NonProduct }

// Categories returns the item's categories.
func (r *Records) Categories(id tailor.ItemID) []string { return r.Items[id].Categories }

// ReadRecords reads the records of "FORMAT:PATH" (see Load).
func ReadRecords(ctx context.Context, spec string) (*Records, error) {
	format, path, ok := strings.Cut(spec, ":")
	if !ok || format == "" || path == "" {
		return nil, fmt.Errorf("dataset %q: expected FORMAT:PATH, such as movielens:../shared/data/ml-100k", spec)
	}
	if !slices.Contains(ingest.Formats(), format) {
		return nil, fmt.Errorf("dataset %q: unknown format %q: use one of %s", spec, format, strings.Join(ingest.Formats(), ", "))
	}
	r := &Records{Format: format, Path: path, Items: map[tailor.ItemID]tailor.Item{}}
	_, err := ingest.Read(ctx, []string{path}, ingest.Options{Format: format}, func(recs ingest.Records) error {
		for i := range recs.Items {
			r.Items[recs.Items[i].ID] = recs.Items[i]
		}
		r.Events = append(r.Events, recs.Events...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", spec, err)
	}
	if len(r.Events) == 0 {
		return nil, fmt.Errorf("dataset %s has no events", spec)
	}
	return r, nil
}

// RecordsFromStore reads every event (in time order) and item of a store.
func RecordsFromStore(ctx context.Context, s Source) (*Records, error) {
	r := &Records{Format: "store", Items: map[tailor.ItemID]tailor.Item{}}
	if err := store.AllItems(ctx, s, func(it *tailor.Item) error {
		r.Items[it.ID] = *it
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	if err := s.ScanEvents(ctx, store.EventQuery{}, func(e *tailor.Event) error {
		r.Events = append(r.Events, *e)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the events: %w", err)
	}
	if len(r.Events) == 0 {
		return nil, fmt.Errorf("the store has no events")
	}
	return r, nil
}

// Catalog returns the items in id order.
func (r *Records) Catalog() []tailor.Item {
	out := make([]tailor.Item, 0, len(r.Items))
	for _, it := range r.Items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b tailor.Item) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// Chunks calls fn with the dataset's events that keep accepts (nil: all),
// as tailor.Events, size at a time and in order, reusing one buffer: for
// code that works on tailor.Events (behaviour analysis, pricing) without a
// copy of every event at once. The events' ids are the dataset's strings,
// shared; the buffer is overwritten after fn returns. Events have no ID
// or recommendation id.
func (d *Dataset) Chunks(size int, keep func(*Event) bool, fn func([]tailor.Event) error) error {
	buf := make([]tailor.Event, 0, size)
	for k := range d.Events {
		e := &d.Events[k]
		if keep != nil && !keep(e) {
			continue
		}
		buf = append(buf, d.tailorEvent(e))
		if len(buf) == size {
			if err := fn(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return fn(buf)
	}
	return nil
}

// Count returns the number of events keep reports (every event for a nil
// keep).
func (d *Dataset) Count(keep func(*Event) bool) int {
	if keep == nil {
		return len(d.Events)
	}
	n := 0
	for k := range d.Events {
		if keep(&d.Events[k]) {
			n++
		}
	}
	return n
}

// tailorEvent converts an event; its value and price point into e.
func (d *Dataset) tailorEvent(e *Event) tailor.Event {
	x := tailor.Event{ItemID: tailor.ItemID(d.Items[e.Item]), Type: d.Types[e.Kind], Timestamp: e.At()}
	if e.User >= 0 {
		x.UserID = tailor.UserID(d.Users[e.User])
	}
	if e.Session >= 0 {
		x.SessionID = d.SessionIDs[e.Session]
	}
	if e.Order >= 0 {
		x.OrderID = d.OrderIDs[e.Order]
	}
	if e.HasValue() {
		x.Value = &e.Value
	}
	if e.Price == e.Price {
		x.UnitPrice = &e.Price
	}
	return x
}
