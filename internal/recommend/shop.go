package recommend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/store"
)

// The shop models the engine fits on the store's purchases, by name, with
// their parameters: bought together (fbt, significant rules only: no
// filling with popular items), sessions (V-SKNN, ahead of STAN and sknn on
// a validation split of Online Retail; see package sknn) and buy it again
// (rebuy).
const (
	basketModel     = "fbt"
	sessionModel    = "vsknn"
	repurchaseModel = "rebuy"
)

var basketParams = json.RawMessage(`{"no_fill":true}`)

// shop is the shop models fitted on the store's purchases, over one index
// space; it never changes once published.
type shop struct {
	build uint64 // see Engine.builds
	built time.Time
	sig   store.Signature // what the store held
	items []tailor.ItemID
	index map[tailor.ItemID]int32
	// meta is each index's catalog entry (nil: none), kept current
	// under Engine.catMu like state.meta.
	meta []*meta
	// baskets, sessions and repurchase are nil when the data has no
	// orders (baskets, sessions) or no purchases by known shoppers.
	baskets, sessions, repurchase model.Model
}

// indexOf returns an item's index in the shop models.
func (s *shop) indexOf(id tailor.ItemID) (int32, bool) {
	i, ok := s.index[id]
	return i, ok
}

// rebuildShop reads every purchase and publishes new shop models. Items
// the catalog knows as hidden or not products are left out.
func (e *Engine) rebuildShop(ctx context.Context) error {
	if err := e.buildShop(ctx); !errors.Is(err, errUnchanged) {
		return err
	}
	return nil
}

// buildShop is rebuildShop for the builder: errUnchanged when the store
// did not change since the last build.
func (e *Engine) buildShop(ctx context.Context) error {
	sig, err := store.SignatureOf(ctx, e.src)
	if err != nil {
		return fmt.Errorf("shop models: %w", err)
	}
	if old := e.shop.Load(); old != nil && old.sig == sig {
		return errUnchanged
	}
	sh := &shop{build: e.builds.Add(1), built: e.opts.Now(), sig: sig, index: map[tailor.ItemID]int32{}}
	if sig.Events == 0 {
		e.shop.Store(sh)
		return nil
	}
	all, err := dataset.FromStoreQuery(ctx, e.src, store.EventQuery{Types: []tailor.EventType{tailor.Purchase}})
	if errors.Is(err, dataset.ErrNoEvents) {
		e.shop.Store(sh) // no purchases
		return nil
	}
	if err != nil {
		return fmt.Errorf("shop models: %w", err)
	}
	e.catMu.RLock()
	skip := make([]bool, all.NumItems())
	for i, id := range all.Items {
		if c := e.catalog[tailor.ItemID(id)]; c != nil && !c.available {
			skip[i] = true
		}
	}
	e.catMu.RUnlock()
	d := all.Select(dataset.SelectOptions{Keep: func(ev *dataset.Event) bool { return !skip[ev.Item] }, Order: dataset.ByID, Rows: dataset.ByOrder})
	sh.items = make([]tailor.ItemID, d.NumItems())
	for i, id := range d.Items {
		sh.items[i] = tailor.ItemID(id)
		sh.index[tailor.ItemID(id)] = int32(i)
	}
	fit := func(name string, params json.RawMessage) (model.Model, error) {
		info, err := e.opts.Lookup(name)
		if err != nil {
			return nil, err
		}
		m, err := info.New(params, 1)
		if err != nil {
			return nil, err
		}
		if err := m.Fit(ctx, d); err != nil {
			return nil, err
		}
		return m, nil
	}
	if d.Orders().Len() > 0 {
		if sh.baskets, err = fit(basketModel, basketParams); err != nil {
			return fmt.Errorf("shop models: %w", err)
		}
		if sh.sessions, err = fit(sessionModel, nil); err != nil {
			return fmt.Errorf("shop models: %w", err)
		}
	}
	if len(d.Purchases().Item) > 0 {
		if sh.repurchase, err = fit(repurchaseModel, nil); err != nil {
			return fmt.Errorf("shop models: %w", err)
		}
	}
	e.catMu.Lock() // published with its catalog entries, which setMeta then follows
	e.attachShopMeta(sh)
	e.shop.Store(sh)
	e.catMu.Unlock()
	return nil
}

// attachShopMeta points each of sh's indices at its catalog entry; the
// caller holds catMu.
func (e *Engine) attachShopMeta(sh *shop) {
	sh.meta = make([]*meta, len(sh.items))
	for i, id := range sh.items {
		sh.meta[i] = e.catalog[id]
	}
}
