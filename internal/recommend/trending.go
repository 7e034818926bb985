package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// trending is the catalog ranked by time-decayed interest.
type trending struct {
	items []scored // best first
	asOf  time.Time
	sig   store.Signature // what the store held
}

type scored struct {
	id    tailor.ItemID
	score float64
}

// RefreshTrending recomputes trending: each event counts its type's weight
// times 2^(−age/half-life), age measured back from the newest event (so
// that a historical data set trends as it did at its end), over the last
// eight half-lives.
func (e *Engine) RefreshTrending(ctx context.Context) error {
	if err := e.buildTrending(ctx); !errors.Is(err, errUnchanged) {
		return err
	}
	return nil
}

// buildTrending is RefreshTrending for the builder: errUnchanged when the
// store did not change since the last build.
func (e *Engine) buildTrending(ctx context.Context) error {
	sig, err := store.SignatureOf(ctx, e.src)
	if err != nil {
		return fmt.Errorf("trending: %w", err)
	}
	if old := e.trend.Load(); old != nil && old.sig == sig {
		return errUnchanged
	}
	newest, err := e.src.Events(ctx, store.EventQuery{}, store.PageRequest{Limit: 1})
	if err != nil {
		return fmt.Errorf("trending: %w", err)
	}
	if len(newest.Data) == 0 {
		e.trend.Store(&trending{sig: sig})
		return nil
	}
	asOf := newest.Data[0].Timestamp
	hl := e.opts.TrendingHalfLife
	scores := map[tailor.ItemID]float64{}
	err = e.src.ScanEvents(ctx, store.EventQuery{Since: asOf.Add(-8 * hl)}, func(ev *tailor.Event) error {
		w := e.opts.Weights[ev.Type]
		if w <= 0 {
			return nil
		}
		scores[ev.ItemID] += w * math.Exp2(-asOf.Sub(ev.Timestamp).Hours()/hl.Hours())
		return nil
	})
	if err != nil {
		return fmt.Errorf("trending: %w", err)
	}
	t := &trending{asOf: asOf, sig: sig, items: make([]scored, 0, len(scores))}
	for id, s := range scores {
		t.items = append(t.items, scored{id, s})
	}
	slices.SortFunc(t.items, func(a, b scored) int { return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.id, b.id)) })
	e.trend.Store(t)
	return nil
}
