package recommend

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/orders"
	"github.com/tailorhq/tailor/internal/sknn"
	"github.com/tailorhq/tailor/internal/store"
)

// sessionCands ranks items for an anonymous session by V-SKNN over the
// past orders (nil when no past session shares an item with it); V-SKNN
// was ahead of STAN and of sknn on a validation split (see package sknn).
func (e *Engine) sessionCands(ctx context.Context, session []tailor.ItemID, rules *Rules, want int, now time.Time) ([]cand, error) {
	m, err := e.sessionModel(ctx)
	if err != nil || m == nil {
		return nil, err
	}
	pool := want*4 + 20
	scored := m.Recommend(session, pool, sknn.Options{Sequential: true})
	e.catMu.RLock()
	defer e.catMu.RUnlock()
	cands := make([]cand, 0, len(scored))
	for _, sc := range scored {
		if sc.Score <= 0 {
			break // the popular items filling the list: not from sessions like this
		}
		c := e.catalog[sc.Item]
		if c == nil || !rules.keep(c) {
			continue
		}
		cands = append(cands, cand{id: sc.Item, score: float64(boosted(float32(sc.Score), rules.factor(c, now))), reason: "bought in sessions like this"})
	}
	if len(cands) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
	return cands, nil
}

// sessions is the session model over the store's orders and when it was
// built.
type sessions struct {
	model *sknn.Model // nil when the store has no orders
	built time.Time
}

// sessionModel returns the session kNN over the store's orders. The first
// call builds it (concurrent callers wait for that build); later, a model
// older than ten minutes is rebuilt in the background while requests go
// on with the one they have, so that no request waits for a rebuild and
// none takes a lock.
func (e *Engine) sessionModel(ctx context.Context) (*sknn.Model, error) {
	if s := e.sess.Load(); s != nil {
		if e.opts.Now().Sub(s.built) > 10*time.Minute && e.sessBuilding.CompareAndSwap(false, true) {
			go func() {
				defer e.sessBuilding.Store(false)
				e.sessMu.Lock()
				defer e.sessMu.Unlock()
				if err := e.buildSessions(context.WithoutCancel(ctx)); err != nil {
					e.log.Error("rebuild the session model; the previous one keeps serving", slog.Any("err", err))
				}
			}()
		}
		return s.model, nil
	}
	e.sessMu.Lock()
	defer e.sessMu.Unlock()
	if s := e.sess.Load(); s == nil {
		if err := e.buildSessions(ctx); err != nil {
			return nil, err
		}
	}
	return e.sess.Load().model, nil
}

// buildSessions reads every purchase and publishes a new session model;
// the caller holds sessMu.
func (e *Engine) buildSessions(ctx context.Context) error {
	var events []tailor.Event
	err := e.src.ScanEvents(ctx, store.EventQuery{Types: []tailor.EventType{tailor.Purchase}}, func(ev *tailor.Event) error {
		events = append(events, *ev)
		return nil
	})
	if err != nil {
		return fmt.Errorf("session model: %w", err)
	}
	e.catMu.RLock()
	past, _ := orders.Split(events, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), func(id tailor.ItemID) bool {
		c := e.catalog[id]
		return c != nil && !c.available
	})
	e.catMu.RUnlock()
	s := &sessions{built: e.opts.Now()}
	if len(past) > 0 {
		s.model = sknn.Fit(past)
	}
	e.sess.Store(s)
	return nil
}
