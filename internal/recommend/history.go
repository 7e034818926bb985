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
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/store"
)

// history is a shopper's recent behaviour, aggregated per item.
type history struct {
	read       time.Time   // zero: a marker that the shopper's events changed, no history
	items      []histItem  // strongest first
	purchases  []stamp     // every purchase, oldest first
	refreshing atomic.Bool // a background read of a stale history is running

	// conv caches the history in the dense indices of one model version
	// or shop snapshot, and profile its content profile for one build of
	// the item vectors.
	conv    atomic.Pointer[converted]
	shop    atomic.Pointer[converted]
	profile atomic.Pointer[contentProfile]
}

// stamp is an item at a time (Unix nanoseconds).
type stamp struct {
	id tailor.ItemID
	t  int64
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

// converted is a history in one index space.
type converted struct {
	key      any                 // the state or shop snapshot it is for
	history  []model.Interaction // the items with a positive weight, strongest first
	pos      []int               // their positions in history.items
	excluded []int32             // sorted indices of items not to recommend again
	bought   []model.Interaction // the purchases, oldest first
}

// in returns the history in an index space (key names it), computing it
// once per key.
func (h *history) in(slot *atomic.Pointer[converted], key any, index func(tailor.ItemID) (int32, bool)) *converted {
	if c := slot.Load(); c != nil && c.key == key {
		return c
	}
	c := &converted{key: key}
	for k, it := range h.items {
		i, ok := index(it.id)
		if !ok {
			continue
		}
		if it.weight > 0 {
			c.history = append(c.history, model.Interaction{Item: i, Type: it.strong, Weight: float32(it.weight)})
			c.pos = append(c.pos, k)
		}
		if it.excluded {
			c.excluded = append(c.excluded, i)
		}
	}
	for _, p := range h.purchases {
		if i, ok := index(p.id); ok {
			c.bought = append(c.bought, model.Interaction{Item: i, Type: tailor.Purchase, Weight: 1, Time: p.t})
		}
	}
	slices.Sort(c.excluded)
	slot.Store(c)
	return c
}

// inState returns the history in a model version's indices.
func (h *history) inState(s *state) *converted {
	return h.in(&h.conv, s, func(id tailor.ItemID) (int32, bool) { i, ok := s.index[id]; return i, ok })
}

// histItem is one item of a history.
type histItem struct {
	id       tailor.ItemID
	weight   float64          // the sum of the event weights
	excluded bool             // bought or rated (an Exclude type) or returned
	last     []typeTime       // the newest event of each type
	strong   tailor.EventType // the type that weighs most
}

// typeTime is the newest event of a type.
type typeTime struct {
	typ tailor.EventType
	t   int64 // Unix nanoseconds
}

// history returns the shopper's history. A cached history younger than
// HistoryTTL is returned as it is; an older one is returned too, while it
// is read again in the background (at most two such reads at a time, so
// that the cache expiring for many shoppers at once neither stalls
// requests nor floods the store); with none cached, or after the
// shopper's events changed here, it is read now.
func (e *Engine) history(ctx context.Context, user tailor.UserID) (*history, error) {
	h, _ := e.hist.Get(user)
	if h != nil && !h.read.IsZero() {
		if e.opts.Now().Sub(h.read) >= e.opts.HistoryTTL {
			e.met.cache.WithLabelValues("histories", "stale").Inc()
			if h.refreshing.CompareAndSwap(false, true) {
				e.inBackground(ctx, &h.refreshing, func(ctx context.Context) error {
					_, err := e.readHistory(ctx, user, h)
					return err
				})
			}
		} else {
			e.met.cache.WithLabelValues("histories", "hit").Inc()
		}
		return h, nil
	}
	e.met.cache.WithLabelValues("histories", "miss").Inc()
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
	if cur, _ := e.hist.Peek(user); cur != was {
		return h, nil
	}
	e.hist.Add(user, h)
	return h, nil
}

// aggregate turns events (any order) into a history.
func (e *Engine) aggregate(events []tailor.Event, now time.Time) *history {
	at := make(map[tailor.ItemID]int, len(events))
	h := &history{read: now}
	strongest := make([]float64, 0, len(events))
	for i := range events {
		ev := &events[i]
		k, ok := at[ev.ItemID]
		if !ok {
			k = len(h.items)
			at[ev.ItemID] = k
			h.items = append(h.items, histItem{id: ev.ItemID})
			strongest = append(strongest, 0)
		}
		it := &h.items[k]
		w := e.opts.Weights[ev.Type]
		if ev.Type == tailor.Rating && ev.Value != nil {
			w *= *ev.Value
		}
		it.weight += w
		if w > strongest[k] {
			strongest[k], it.strong = w, ev.Type
		}
		if ev.Type == tailor.Return || slices.Contains(e.opts.Exclude, ev.Type) {
			it.excluded = true
		}
		t := ev.Timestamp.UnixNano()
		if j := slices.IndexFunc(it.last, func(x typeTime) bool { return x.typ == ev.Type }); j < 0 {
			it.last = append(it.last, typeTime{ev.Type, t})
		} else if t > it.last[j].t {
			it.last[j].t = t
		}
		if ev.Type == tailor.Purchase {
			h.purchases = append(h.purchases, stamp{ev.ItemID, t})
		}
	}
	slices.SortStableFunc(h.items, func(a, b histItem) int { return cmp.Compare(b.weight, a.weight) })
	slices.SortStableFunc(h.purchases, func(a, b stamp) int { return cmp.Compare(a.t, b.t) })
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

// excludedBy reports whether the item is not to be recommended again
// under a list of event types: returned, or had with one of the types.
func (h *histItem) excludedBy(types []tailor.EventType) bool {
	for _, x := range h.last {
		if x.typ == tailor.Return || slices.Contains(types, x.typ) {
			return true
		}
	}
	return false
}

// seen reports whether the shopper had an event of one of the types with
// the item since the time.
func (h *histItem) seen(types []tailor.EventType, since time.Time) bool {
	s := since.UnixNano()
	for _, x := range h.last {
		if x.t > s && slices.Contains(types, x.typ) {
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
	a, _ := e.attrs.Get(id)
	if a == nil || a.read.IsZero() { // none, or a marker that the shopper changed
		e.met.cache.WithLabelValues("attributes", "miss").Inc()
		return e.readAttributes(ctx, id, a)
	}
	if e.opts.Now().Sub(a.read) >= e.opts.HistoryTTL {
		e.met.cache.WithLabelValues("attributes", "stale").Inc()
		if a.refreshing.CompareAndSwap(false, true) {
			e.inBackground(ctx, &a.refreshing, func(ctx context.Context) error {
				_, err := e.readAttributes(ctx, id, a)
				return err
			})
		}
	} else {
		e.met.cache.WithLabelValues("attributes", "hit").Inc()
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
	if cur, _ := e.attrs.Peek(id); cur != was {
		return u.Attributes, nil
	}
	e.attrs.Add(id, &userAttrs{read: now, attrs: u.Attributes})
	return u.Attributes, nil
}

// inBackground runs read in a goroutine of its own, tracked by the engine
// (Run waits for it), when fewer than two such reads are running and the
// engine is not stopping, clearing busy when it ends; otherwise it clears
// busy at once, so that a later request tries again. Failures are logged:
// the cached value keeps serving.
func (e *Engine) inBackground(ctx context.Context, busy *atomic.Bool, read func(context.Context) error) {
	e.bgMu.Lock()
	defer e.bgMu.Unlock()
	if e.stopping {
		busy.Store(false)
		return
	}
	select {
	case e.refreshing <- struct{}{}:
	default:
		busy.Store(false)
		return
	}
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		defer func() { <-e.refreshing; busy.Store(false) }()
		if err := read(context.WithoutCancel(ctx)); err != nil {
			e.log.Warn("refresh a cached history or attributes; the cached value keeps serving", slog.Any("err", err))
		}
	}()
}
