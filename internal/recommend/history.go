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
//
// A cache holds many histories, so a history is made of few objects with
// few pointers: one slice of items (whose ids are the catalog's strings),
// one of their event times, one of purchases.
type history struct {
	read       time.Time   // zero: a marker that the shopper's events changed, no history
	items      []histItem  // strongest first
	times      []typeTime  // the newest event of each type of each item (see histItem)
	purchases  []stamp     // every purchase, oldest first
	refreshing atomic.Bool // a background read of a stale history is running

	// profile is the history's content profile for one build of the item
	// vectors, and nearest the new items closest to it.
	profile atomic.Pointer[contentProfile]
	nearest atomic.Pointer[nearestNew]
	// ranking is the history's best-scored items under one model version,
	// and rebuy its past purchases ranked by one build of the shop models.
	ranking atomic.Pointer[ranking]
	rebuy   atomic.Pointer[ranking]
	// filtered is the last answer under rules of a model whose answers
	// the history determines but which does not rank fixed.
	filtered atomic.Pointer[filtered]
}

// nearestNew are the new items (a model version's fresh items) closest to
// a history's content profile, best first, for one build of the item
// vectors and one state of the fresh items.
type nearestNew struct {
	texts, state uint64 // their builds (Engine.builds)
	gen          uint64 // the state's freshGen
	items        []content.Scored
}

// stamp is an item of the history (its position in history.items) at a
// time (Unix nanoseconds).
type stamp struct {
	k int32
	t int64
}

// contentProfile is a history's mean content vector under one model.
type contentProfile struct {
	texts uint64    // the build of the texts whose vectors made it
	vec   []float32 // nil when none of the items has words
}

// contentProfile returns the history's content profile under cm, the
// item vectors of the texts' build, computed once per build.
func (h *history) contentProfile(cm *content.Model, build uint64) []float32 {
	if p := h.profile.Load(); p != nil && p.texts == build {
		return p.vec
	}
	mine := make([]tailor.ItemID, len(h.items))
	for i, it := range h.items {
		mine[i] = it.id
	}
	p := &contentProfile{texts: build, vec: cm.Profile(mine)}
	h.profile.Store(p)
	return p.vec
}

// converted is a history in one index space, for one request.
type converted struct {
	history  []model.Interaction // the items with a positive weight, strongest first
	pos      []int               // their positions in history.items
	excluded []int32             // sorted indices of items not to recommend again
	bought   []model.Interaction // the purchases, oldest first (purchasesIn)
	index    []int32             // purchasesIn's scratch: each item's index, looked up once
}

// convert puts the history in an index space into c (reusing its
// memory). It returns the number of items the index space does not have
// (skipped). Each item carries the time of its newest event of its
// strongest type, for the models that read the order (model.Sequential).
func (h *history) convert(c *converted, index func(tailor.ItemID) (int32, bool)) (unknown int) {
	c.history, c.pos, c.excluded = c.history[:0], c.pos[:0], c.excluded[:0]
	for k := range h.items {
		it := &h.items[k]
		i, ok := index(it.id)
		if !ok {
			unknown++
			continue
		}
		if it.weight > 0 {
			c.history = append(c.history, model.Interaction{Item: i, Type: it.strong, Weight: it.weight, Time: h.lastOf(it, it.strong)})
			c.pos = append(c.pos, k)
		}
		if it.excluded {
			c.excluded = append(c.excluded, i)
		}
	}
	slices.Sort(c.excluded)
	return unknown
}

// purchasesIn puts the history's purchases in an index space into
// c.bought (reusing its memory), looking each item up once.
func (h *history) purchasesIn(c *converted, index func(tailor.ItemID) (int32, bool)) {
	const unseen, unknown = -2, -1
	c.bought = c.bought[:0]
	c.index = slices.Grow(c.index[:0], len(h.items))[:len(h.items)]
	for k := range c.index {
		c.index[k] = unseen
	}
	for _, p := range h.purchases {
		i := c.index[p.k]
		if i == unseen {
			i = unknown
			if j, ok := index(h.items[p.k].id); ok {
				i = j
			}
			c.index[p.k] = i
		}
		if i != unknown {
			c.bought = append(c.bought, model.Interaction{Item: i, Type: tailor.Purchase, Weight: 1, Time: p.t})
		}
	}
}

// histItem is one item of a history. It holds few pointers (the id is the
// catalog's string, the strongest type a shared one), so that a cache of
// many histories costs the garbage collector little.
type histItem struct {
	id       tailor.ItemID
	strong   tailor.EventType // the type that weighs most
	weight   float32          // the sum of the event weights
	at       int32            // its times are history.times[at : at+nt]
	nt       uint8
	excluded bool // bought or rated (an Exclude type) or returned
}

// lastOf returns the time of the item's newest event of a type (0: none).
func (h *history) lastOf(it *histItem, t tailor.EventType) int64 {
	for _, x := range h.times[it.at : it.at+int32(it.nt)] {
		if x.typ == t {
			return x.t
		}
	}
	return 0
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
			e.met.histStale.Inc()
			if h.refreshing.CompareAndSwap(false, true) {
				e.inBackground(ctx, &h.refreshing, func(ctx context.Context) error {
					_, err := e.readHistory(ctx, user, h)
					return err
				})
			}
		} else {
			e.met.histHit.Inc()
		}
		return h, nil
	}
	e.met.histMiss.Inc()
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
	type item struct {
		k         int32 // the order of first appearance
		id        tailor.ItemID
		weight    float64
		strongest float64
		strong    tailor.EventType
		excluded  bool
		times     []typeTime
	}
	at := make(map[tailor.ItemID]int, len(events))
	var items []item
	bought := 0
	h := &history{read: now}
	e.catMu.RLock()
	for i := range events {
		ev := &events[i]
		k, ok := at[ev.ItemID]
		if !ok {
			k = len(items)
			at[ev.ItemID] = k
			id := ev.ItemID
			if m := e.catalog[id]; m != nil {
				id = m.id // the catalog's copy: the event's own string goes with the page
			}
			items = append(items, item{k: int32(k), id: id})
		}
		it := &items[k]
		w := e.opts.Weights[ev.Type]
		if ev.Type == tailor.Rating && ev.Value != nil {
			w *= *ev.Value
		}
		it.weight += w
		typ := ev.Type
		for _, b := range e.builtin {
			if b == typ {
				typ = b // a shared string
				break
			}
		}
		if w > it.strongest {
			it.strongest, it.strong = w, typ
		}
		if typ == tailor.Return || slices.Contains(e.opts.Exclude, typ) {
			it.excluded = true
		}
		t := ev.Timestamp.UnixNano()
		if j := slices.IndexFunc(it.times, func(x typeTime) bool { return x.typ == typ }); j < 0 {
			it.times = append(it.times, typeTime{typ, t})
		} else if t > it.times[j].t {
			it.times[j].t = t
		}
		if typ == tailor.Purchase {
			bought++
		}
	}
	e.catMu.RUnlock()
	slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(b.weight, a.weight) })
	// The purchases, by position in the sorted items, in a slice of
	// their exact length (a cache holds thousands of histories).
	if bought > 0 {
		pos := make([]int32, len(items)) // first appearance → sorted position
		for k := range items {
			pos[items[k].k] = int32(k)
		}
		h.purchases = make([]stamp, 0, bought)
		for i := range events {
			if ev := &events[i]; ev.Type == tailor.Purchase {
				h.purchases = append(h.purchases, stamp{pos[at[ev.ItemID]], ev.Timestamp.UnixNano()})
			}
		}
	}
	h.items = make([]histItem, len(items))
	n := 0
	for k := range items {
		n += min(len(items[k].times), 255)
	}
	h.times = make([]typeTime, 0, n)
	for k := range items {
		it := &items[k]
		ts := it.times[:min(len(it.times), 255)]
		h.items[k] = histItem{id: it.id, strong: it.strong, weight: float32(it.weight), at: int32(len(h.times)), nt: uint8(len(ts)), excluded: it.excluded}
		h.times = append(h.times, ts...)
	}
	slices.SortStableFunc(h.purchases, func(a, b stamp) int { return cmp.Compare(a.t, b.t) })
	return h
}

// sessionHistory makes a history of an anonymous session's items, each a
// view.
func (e *Engine) sessionHistory(items []tailor.ItemID) *history {
	events := make([]tailor.Event, len(items))
	now := e.opts.Now()
	for i, id := range items {
		// A nanosecond apart, in the session's order, so that an item
		// seen twice takes its later place in a sequence model's input.
		events[i] = tailor.Event{ItemID: id, Type: tailor.View, Timestamp: now.Add(time.Duration(i - len(items)))}
	}
	return e.aggregate(events, now)
}

// excludedBy reports whether item k is not to be recommended again under
// a list of event types: returned, or had with one of the types.
func (h *history) excludedBy(k int, types []tailor.EventType) bool {
	it := &h.items[k]
	if h.lastOf(it, tailor.Return) != 0 {
		return true
	}
	for _, t := range types {
		if h.lastOf(it, t) != 0 {
			return true
		}
	}
	return false
}

// seen reports whether the shopper had an event of one of the types with
// item k since the time.
func (h *history) seen(k int, types []tailor.EventType, since time.Time) bool {
	s := since.UnixNano()
	for _, t := range types {
		if h.lastOf(&h.items[k], t) > s {
			return true
		}
	}
	return false
}

// becauseYou are the beginnings of the reasons that name an item of the
// shopper's history, by verbOf's code of what they did to it.
var becauseYou = [...]string{"because you bought ", "because you added to your cart ", "because you rated ", "because you clicked ", "because you viewed "}

// verbOf returns the code of what t says the shopper did (an index of
// becauseYou): anything not a purchase, cart, rating or click was a view.
func verbOf(t tailor.EventType) int {
	switch t {
	case tailor.Purchase:
		return 0
	case tailor.AddToCart:
		return 1
	case tailor.Rating:
		return 2
	case tailor.Click:
		return 3
	default:
		return 4
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
		e.met.attrMiss.Inc()
		return e.readAttributes(ctx, id, a)
	}
	if e.opts.Now().Sub(a.read) >= e.opts.HistoryTTL {
		e.met.attrStale.Inc()
		if a.refreshing.CompareAndSwap(false, true) {
			e.inBackground(ctx, &a.refreshing, func(ctx context.Context) error {
				_, err := e.readAttributes(ctx, id, a)
				return err
			})
		}
	} else {
		e.met.attrHit.Inc()
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
