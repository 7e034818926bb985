package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/store"
)

// ScrubSource is the slice of the store Scrub uses.
type ScrubSource interface {
	store.ModelRegistry
	store.ModelScrubber
}

// ScrubReport says what Scrub did.
type ScrubReport struct {
	// Versions is how many versions had deletions to clear; Rewritten
	// how many of their artifacts held any of those shoppers and were
	// rewritten without them; Shoppers how many shoppers were removed, over
	// all versions.
	Versions, Rewritten, Shoppers int
}

// Scrub clears every stored model version of the shoppers deleted since it
// was last cleared (its ScrubbedAt): each artifact is loaded, the models
// that keep shoppers' data (model.Forgetter) drop their ids, rows and
// vectors, and the artifact is stored again in their place (the store
// overwrites the old bytes). A version that holds none of them only has
// its ScrubbedAt moved. Deletions are known by the store's tombstones, so a
// shopper who is created again after their deletion is not removed from
// versions trained after it. lookup finds model kinds by name.
func Scrub(ctx context.Context, src ScrubSource, lookup func(name string) (model.Info, error)) (ScrubReport, error) {
	var rep ScrubReport
	versions, err := src.ModelVersions(ctx, "")
	if err != nil || len(versions) == 0 {
		return rep, err
	}
	oldest := versions[0].ScrubbedAt
	for _, v := range versions {
		if v.ScrubbedAt.Before(oldest) {
			oldest = v.ScrubbedAt
		}
	}
	tombs, err := src.DeletedUsers(ctx, oldest)
	if err != nil || len(tombs) == 0 {
		return rep, err
	}
	for _, v := range versions {
		gone := map[[sha256.Size]byte]bool{}
		through := v.ScrubbedAt
		for _, t := range tombs {
			if t.DeletedAt.After(v.ScrubbedAt) {
				gone[t.IDHash] = true
				through = t.DeletedAt
			}
		}
		if len(gone) == 0 {
			continue
		}
		rep.Versions++
		art, n, err := scrubArtifact(ctx, src, v, gone, lookup)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return rep, err
		}
		if err := src.ScrubModel(ctx, v.ID, art, through); err != nil && !errors.Is(err, store.ErrNotFound) {
			return rep, err
		}
		if art != nil {
			rep.Rewritten++
			rep.Shoppers += n
		}
	}
	return rep, nil
}

// scrubArtifact returns version v's artifact without the shoppers whose id
// hashes are in gone, and how many it removed; a nil artifact when it held
// none of them.
func scrubArtifact(ctx context.Context, src ScrubSource, v store.ModelVersion, gone map[[sha256.Size]byte]bool, lookup func(string) (model.Info, error)) ([]byte, int, error) {
	b, err := src.ModelArtifact(ctx, v.ID)
	if err != nil {
		return nil, 0, err
	}
	items, payload, err := recommend.DecodeBundle(b)
	if err != nil {
		return nil, 0, fmt.Errorf("scrub model %s: %w", v.ID, err)
	}
	m, name, params, err := model.LoadBytes(payload, lookup)
	if err != nil {
		return nil, 0, fmt.Errorf("scrub model %s: %w", v.ID, err)
	}
	n := model.ForgetUsers(m, func(id string) bool { return gone[sha256.Sum256([]byte(id))] })
	if n == 0 {
		return nil, 0, nil
	}
	var art bytes.Buffer
	if _, err := model.Save(&art, name, params, m); err != nil {
		return nil, 0, fmt.Errorf("scrub model %s: %w", v.ID, err)
	}
	bundle, err := recommend.EncodeBundle(items, art.Bytes())
	if err != nil {
		return nil, 0, fmt.Errorf("scrub model %s: %w", v.ID, err)
	}
	return bundle, n, nil
}
