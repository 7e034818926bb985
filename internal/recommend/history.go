package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/content"
	"github.com/tailorhq/tailor/internal/store"
)

// history is a shopper's recent behaviour, aggregated per item.
type history struct {
	read       time.Time   // zero: a marker that the shopper's events changed, no history
	items      []histItem  // strongest first
	refreshing atomic.Bool // a background read of a stale history is running

	// conv caches the history in the dense indices of one model version,
	// and profile its content profile for one build of the item vectors.
	conv    atomic.Pointer[converted]
	profile atomic.Pointer[contentProfile]
}

// contentProfile is a history's mean content vector under one model.
type contentProfile struct {
	model *content.Model
	vec   []float32 // nil when none of the items has words
}

// contentProfile returns the history's content profile under cm, computed
// once per build of the item vectors.
func (h *history) contentProfile(cm *content.Model) []float32 {
	if p := h.profile.Load(); p != nil && p.model == cm {
		return p.vec
	}
	mine := make([]tailor.ItemID, len(h.items))
	for i, it := range h.items {
		mine[i] = it.id
	}
	p := &contentProfile{model: cm, vec: cm.Profile(mine)}
	h.profile.Store(p)
	return p.vec
}

// converted is a history in a version's indices.
type converted struct {
	version  string
	idx      []int32   // the model's indices of the history's items
	weights  []float32 // their weights
	pos      []int     // their positions in history.items
	excluded []int32   // sorted indices of items not to recommend again
}

// in returns the history in s's indices, computing it once per version.
func (h *history) in(s *state) *converted {
	if c := h.conv.Load(); c != nil && c.version == s.version.ID {
		return c
	}
	c := &converted{version: s.version.ID}
	for k, it := range h.items {
		i, ok := s.index[it.id]
		if !ok {
			continue
		}
		if it.weight > 0 {
			c.idx, c.weights, c.pos = append(c.idx, i), append(c.weights, float32(it.weight)), append(c.pos, k)
		}
		if it.excluded {
			c.excluded = append(c.excluded, i)
		}
	}
	slices.Sort(c.excluded)
	h.conv.Store(c)
	return c
}

// histItem is one item of a history.
type histItem struct {
	id       tailor.ItemID
	weight   float64                        // the sum of the event weights
	excluded bool                           // bought (an Exclude type) or returned
	last     map[tailor.EventType]time.Time // the newest event of each type
	strong   tailor.EventType               // the type that weighs most
}

// history returns the shopper's history. A cached history younger than
// HistoryTTL is returned as it is; an older one is returned too, while it
// is read again in the background (at most two such reads at a time, so
// that the cache expiring for many shoppers at once neither stalls
// requests nor floods the store); with none cached, or after the
// shopper's events changed here, it is read now.
func (e *Engine) history(ctx context.Context, user tailor.UserID) (*history, error) {
	now := e.opts.Now()
	e.histMu.Lock()
	h := e.hist[user]
	e.histMu.Unlock()
	if h != nil && !h.read.IsZero() {
		if now.Sub(h.read) >= e.opts.HistoryTTL && h.refreshing.CompareAndSwap(false, true) {
			e.inBackground(ctx, &h.refreshing, func(ctx context.Context) error {
				_, err := e.readHistory(ctx, user, h)
				return err
			})
		}
		return h, nil
	}
	return e.readHistory(ctx, user, h)
}

// readHistory reads the shopper's history from the store and caches it,
// unless the cache entry changed since it was seen as was (the shopper's
// events changed meanwhile, or another read stored a newer one): then the
// history read may predate those events and is returned, not cached.
func (e *Engine) readHistory(ctx context.Context, user tailor.UserID, was *history) (*history, error) {
	now := e.opts.Now()
	page, err := e.src.Events(ctx, store.EventQuery{UserID: user}, store.PageRequest{Limit: min(e.opts.HistoryLimit, store.MaxPageSize)})
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", user, err)
	}
	h := e.aggregate(page.Data, now)
	e.histMu.Lock()
	defer e.histMu.Unlock()
	if e.hist[user] != was {
		return h, nil
	}
	if len(e.hist) > 100_000 { // a bound, not an LRU: histories are cheap to read again
		clear(e.hist)
	}
	e.hist[user] = h
	return h, nil
}

// aggregate turns events (any order) into a history.
func (e *Engine) aggregate(events []tailor.Event, now time.Time) *history {
	at := map[tailor.ItemID]int{}
	h := &history{read: now}
	strongest := map[tailor.ItemID]float64{}
	for i := range events {
		ev := &events[i]
		k, ok := at[ev.ItemID]
		if !ok {
			k = len(h.items)
			at[ev.ItemID] = k
			h.items = append(h.items, histItem{id: ev.ItemID, last: map[tailor.EventType]time.Time{}})
		}
		it := &h.items[k]
		w := e.opts.Weights[ev.Type]
		if ev.Type == tailor.Rating && ev.Value != nil {
			w *= *ev.Value
		}
		it.weight += w
		if w > strongest[ev.ItemID] {
			strongest[ev.ItemID], it.strong = w, ev.Type
		}
		if ev.Type == tailor.Return || slices.Contains(e.opts.Exclude, ev.Type) {
			it.excluded = true
		}
		if ev.Timestamp.After(it.last[ev.Type]) {
			it.last[ev.Type] = ev.Timestamp
		}
	}
	slices.SortStableFunc(h.items, func(a, b histItem) int { return cmp.Compare(b.weight, a.weight) })
	return h
}

// sessionHistory makes a history of an anonymous session's items, each a
// view.
func (e *Engine) sessionHistory(items []tailor.ItemID) *history {
	events := make([]tailor.Event, len(items))
	now := e.opts.Now()
	for i, id := range items {
		events[i] = tailor.Event{ItemID: id, Type: tailor.View, Timestamp: now}
	}
	return e.aggregate(events, now)
}

// seen reports whether the shopper had an event of one of the types with
// the item since the time.
func (h *histItem) seen(types []tailor.EventType, since time.Time) bool {
	for _, t := range types {
		if h.last[t].After(since) {
			return true
		}
	}
	return false
}

// verb says what the shopper did, for reasons.
func verb(t tailor.EventType) string {
	switch t {
	case tailor.Purchase:
		return "bought"
	case tailor.AddToCart:
		return "added to your cart"
	case tailor.Rating:
		return "rated"
	case tailor.Click:
		return "clicked"
	default:
		return "viewed"
	}
}

type userAttrs struct {
	read       time.Time
	attrs      map[string]any
	refreshing atomic.Bool
}

// userAttributes returns a shopper's attributes (nil for an unknown
// shopper), cached like histories: a stale entry is answered while it is
// read again in the background.
func (e *Engine) userAttributes(ctx context.Context, id tailor.UserID) (map[string]any, error) {
	now := e.opts.Now()
	e.histMu.Lock()
	a := e.attrs[id]
	e.histMu.Unlock()
	if a == nil || a.read.IsZero() { // none, or a marker that the shopper changed
		return e.readAttributes(ctx, id, a)
	}
	if now.Sub(a.read) >= e.opts.HistoryTTL && a.refreshing.CompareAndSwap(false, true) {
		e.inBackground(ctx, &a.refreshing, func(ctx context.Context) error {
			_, err := e.readAttributes(ctx, id, a)
			return err
		})
	}
	return a.attrs, nil
}

// readAttributes reads a shopper's attributes and caches them unless the
// entry changed since it was seen as was.
func (e *Engine) readAttributes(ctx context.Context, id tailor.UserID, was *userAttrs) (map[string]any, error) {
	now := e.opts.Now()
	u, err := e.src.User(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	e.histMu.Lock()
	defer e.histMu.Unlock()
	if e.attrs[id] != was {
		return u.Attributes, nil
	}
	if len(e.attrs) > 100_000 {
		clear(e.attrs)
	}
	e.attrs[id] = &userAttrs{read: now, attrs: u.Attributes}
	return u.Attributes, nil
}

// inBackground runs read in a goroutine of its own when fewer than two
// such reads are running, clearing busy when it ends; otherwise it clears
// busy at once, so that a later request tries again. Failures are logged:
// the cached value keeps serving.
func (e *Engine) inBackground(ctx context.Context, busy *atomic.Bool, read func(context.Context) error) {
	select {
	case e.refreshing <- struct{}{}:
	default:
		busy.Store(false)
		return
	}
	go func() {
		defer func() { <-e.refreshing; busy.Store(false) }()
		if err := read(context.WithoutCancel(ctx)); err != nil {
			e.log.Warn("refresh a cached history or attributes; the cached value keeps serving", slog.Any("err", err))
		}
	}()
}
