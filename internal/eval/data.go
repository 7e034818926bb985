package eval

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/store"
)

// Data is a dataset read for evaluation: its events and items, cleaned by
// the same importers as 'tailor import'.
type Data struct {
	// Format and Path are the parts of the spec "FORMAT:PATH".
	Format, Path string
	Events       []tailor.Event
	Items        map[tailor.ItemID]tailor.Item
}

// Source is a store that events and items can be read from.
type Source interface {
	store.EventReader
	store.ItemReader
}

// FromStore reads every event and item of a store.
func FromStore(ctx context.Context, s Source) (*Data, error) {
	d := &Data{Format: "store", Items: map[tailor.ItemID]tailor.Item{}}
	err := s.ScanEvents(ctx, store.EventQuery{}, func(e *tailor.Event) error {
		d.Events = append(d.Events, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p := store.PageRequest{Limit: store.MaxPageSize}
	for {
		page, err := s.Items(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Data {
			d.Items[it.ID] = it
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if len(d.Events) == 0 {
		return nil, fmt.Errorf("the store has no events")
	}
	return d, nil
}

// Load reads a dataset given as "FORMAT:PATH", where FORMAT is an import
// format (see ingest.Formats), without a store.
func Load(ctx context.Context, spec string) (*Data, error) {
	format, path, ok := strings.Cut(spec, ":")
	if !ok || format == "" || path == "" {
		return nil, fmt.Errorf("dataset %q: expected FORMAT:PATH, such as movielens:../shared/data/ml-100k", spec)
	}
	if !slices.Contains(ingest.Formats(), format) {
		return nil, fmt.Errorf("dataset %q: unknown format %q: use one of %s", spec, format, strings.Join(ingest.Formats(), ", "))
	}
	m := &memory{}
	if _, err := ingest.Import(ctx, m, []string{path}, ingest.Options{Format: format}); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", spec, err)
	}
	d := &Data{Format: format, Path: path, Items: m.items}
	// The importer has checked and deduplicated the events; keep one copy
	// of each id, in the order read.
	seen := map[string]bool{}
	for _, e := range m.events {
		if !seen[e.ID] {
			seen[e.ID] = true
			d.Events = append(d.Events, e)
		}
	}
	if len(d.Events) == 0 {
		return nil, fmt.Errorf("dataset %s has no events", spec)
	}
	return d, nil
}

// Categories returns the categories of the item with the id (nil when the
// data has none), for intra-list diversity.
func (d *Data) Categories(id string) []string {
	return d.Items[tailor.ItemID(id)].Categories
}

// NonProduct reports whether the item with the id is a fee, postage or
// another line that is not a product (false for unknown items).
func (d *Data) NonProduct(id tailor.ItemID) bool {
	return d.Items[id].NonProduct
}

// memory is an in-memory import target that keeps what it is given.
type memory struct {
	events []tailor.Event
	items  map[tailor.ItemID]tailor.Item
	users  int
}

func (m *memory) Update(_ context.Context, fn func(store.Writer) error) error {
	// Import runs fn once; start afresh anyway, as the contract allows a
	// second call.
	m.events, m.items, m.users = nil, map[tailor.ItemID]tailor.Item{}, 0
	return fn(m)
}

func (m *memory) Counts(context.Context) (store.Counts, error) {
	return store.Counts{Items: len(m.items), Users: m.users, Events: len(m.events)}, nil
}

func (m *memory) UpsertItems(_ context.Context, items []tailor.Item) error {
	for _, it := range items {
		m.items[it.ID] = it
	}
	return nil
}

func (m *memory) UpsertUsers(_ context.Context, users []tailor.User) error {
	m.users += len(users)
	return nil
}

func (m *memory) InsertEvents(_ context.Context, events []tailor.Event) (store.InsertResult, error) {
	m.events = append(m.events, events...)
	return store.InsertResult{Inserted: len(events)}, nil
}
