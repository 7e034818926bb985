// Package train turns a store's events into a served model version: it
// measures the model on a time holdout, fits it on all the data, and saves
// the artifact with its metrics in the store's model registry.
package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/feature"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol/temporal"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/store"
)

// Source is the slice of the store training uses.
type Source interface {
	store.EventReader
	store.ItemReader
	store.ModelRegistry
}

// Options say what to train.
type Options struct {
	// Model is the model kind; empty picks DefaultModel for the data.
	Model string
	// Params are the model's parameters (empty: its defaults).
	Params json.RawMessage
	// Slot is the registry slot (default "default").
	Slot string
	// Weights is what each event type counts for in the training matrix
	// (the configuration's events.weights; nil: recommend.DefaultWeights).
	Weights map[tailor.EventType]float64
	// Activate makes the new version the slot's active one.
	Activate bool
	// SkipHoldout fits without measuring first (Metrics stay empty).
	SkipHoldout bool
	// Seed seeds the model and the holdout.
	Seed uint64
	// Lookup finds model kinds by name (package all's Lookup).
	Lookup func(name string) (model.Info, error)
	// Progress, when set, is told each step as it starts.
	Progress func(step string)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// HoldoutProtocol names how Train measures a version.
const HoldoutProtocol = "temporal: train on the first 90% of positive events by time, test on returning shoppers' new items after; @10"

// DefaultModel is the model trained when none is named: EASE while the
// catalog is small enough for its items×items matrix, else iALS.
func DefaultModel(items int) string {
	if items <= 20000 {
		return "ease"
	}
	return "ials"
}

// Train builds a version from everything in the store.
func Train(ctx context.Context, src Source, opts Options) (store.ModelVersion, error) {
	if opts.Lookup == nil {
		return store.ModelVersion{}, errors.New("train: Options.Lookup is required")
	}
	if opts.Slot == "" {
		opts.Slot = "default"
	}
	if opts.Weights == nil {
		opts.Weights = recommend.DefaultWeights()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	step := func(s string) {
		if opts.Progress != nil {
			opts.Progress(s)
		}
	}
	// Shoppers deleted before this moment are not in what is read next;
	// Scrub clears the version of those deleted after it. The store's
	// clock, not opts.Now: tombstones carry the store's time.
	readFrom := time.Now()
	step("reading events")
	data, err := dataset.RecordsFromStore(ctx, src)
	if err != nil {
		return store.ModelVersion{}, fmt.Errorf("train: %w", err)
	}
	if len(data.Events) == 0 {
		return store.ModelVersion{}, errors.New("train: the store has no events; import some first (tailor import)")
	}
	step("building the training matrix")
	d, _, err := feature.Prepare(data.Events, feature.PrepareOptions{
		Weights:    opts.Weights,
		UseRating:  true,
		NetReturns: true,
		SkipItem: func(id tailor.ItemID) bool {
			it, ok := data.Items[id]
			return ok && (it.NonProduct || it.Hidden)
		},
	})
	if err != nil {
		return store.ModelVersion{}, fmt.Errorf("train: %w", err)
	}
	if d.NNZ() == 0 {
		return store.ModelVersion{}, errors.New("train: no event has a positive weight (see events.weights in the configuration)")
	}
	name := opts.Model
	if name == "" {
		name = DefaultModel(d.NumItems())
	}
	info, err := opts.Lookup(name)
	if err != nil {
		return store.ModelVersion{}, fmt.Errorf("train: %w", err)
	}
	m, err := info.New(opts.Params, opts.Seed)
	if err != nil {
		return store.ModelVersion{}, fmt.Errorf("train: %w", err)
	}
	if !model.Answers(m, model.TaskPersonal) || !model.AnswersHistories(m) {
		return store.ModelVersion{}, fmt.Errorf("train: %s cannot answer personal recommendations from live histories, so the server could not use it; train %s", name, strings.Join(servable(opts.Lookup), ", "))
	}
	if !model.IsPersistent(m) {
		return store.ModelVersion{}, fmt.Errorf("train: %s cannot be saved", name)
	}
	v := store.ModelVersion{ID: ulid.Make().String(), Slot: opts.Slot, Model: name, Params: opts.Params, CreatedAt: opts.Now(), ScrubbedAt: readFrom}
	for i := range data.Events {
		if t := data.Events[i].Timestamp; t.After(v.DataUntil) {
			v.DataUntil = t
		}
	}
	if !opts.SkipHoldout {
		step("measuring on the holdout")
		metrics, err := holdout(ctx, data, info, opts)
		if err != nil {
			return store.ModelVersion{}, err
		}
		v.Metrics, v.Protocol = metrics, HoldoutProtocol
	}
	step(fmt.Sprintf("fitting %s on %d shoppers × %d items", name, d.NumUsers(), d.NumItems()))
	if err := m.Fit(ctx, dataset.FromMatrix(d, data.Events, data.Catalog())); err != nil {
		return store.ModelVersion{}, fmt.Errorf("train %s: %w", name, err)
	}
	step("saving")
	var art bytes.Buffer
	if _, err := model.Save(&art, name, opts.Params, m); err != nil {
		return store.ModelVersion{}, fmt.Errorf("train: %w", err)
	}
	bundle, err := recommend.EncodeBundle(d.Items, art.Bytes())
	if err != nil {
		return store.ModelVersion{}, fmt.Errorf("train: %w", err)
	}
	if err := src.SaveModel(ctx, v, bundle); err != nil {
		return store.ModelVersion{}, fmt.Errorf("train: %w", err)
	}
	v.Bytes = int64(len(bundle))
	if opts.Activate {
		if err := src.ActivateModel(ctx, v.ID); err != nil {
			return store.ModelVersion{}, fmt.Errorf("train: activate %s: %w", v.ID, err)
		}
		v.Active = true
	}
	return v, nil
}

// holdout measures the model under HoldoutProtocol; too little data for a
// holdout is not an error (the metrics say so by their absence).
func holdout(ctx context.Context, data *dataset.Records, info model.Info, opts Options) (map[string]float64, error) {
	f, err := temporal.Split(dataset.FromEvents(data.Events, data.Catalog()), eval.Options{Seed: opts.Seed, CutoffFraction: 0.9, Repeats: "exclude"}.Defaults())
	if err != nil || len(f.Cases) == 0 {
		return nil, nil
	}
	res, err := eval.Run(ctx, []eval.Fold{f}, []eval.Candidate{{Info: info, Params: opts.Params}}, eval.RunOptions{Ks: []int{10}, Seed: opts.Seed, FullRanking: true})
	if err != nil {
		return nil, fmt.Errorf("train: holdout: %w", err)
	}
	out := map[string]float64{"test_users": float64(res[0].TestUsers)}
	for _, k := range []string{"ndcg@10", "recall@10", "precision@10", "hit@10", "coverage@10"} {
		if v, ok := res[0].Metrics[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// servable lists the models that can serve: they answer personal
// queries from histories and can be saved.
func servable(lookup func(string) (model.Info, error)) []string {
	var out []string
	for _, name := range []string{"ease", "ials", "itemknn", "rp3beta", "slim", "popular", "blend", "buyagain", "content"} {
		if info, err := lookup(name); err == nil {
			if m, err := info.New(nil, 0); err == nil && model.Answers(m, model.TaskPersonal) && model.AnswersHistories(m) && model.IsPersistent(m) {
				out = append(out, name)
			}
		}
	}
	return out
}
