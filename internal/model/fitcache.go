package model

import (
	"context"
	"sync"

	"github.com/tailorhq/tailor/internal/feature"
)

// FitCache shares fitted matrix models between the fits of one parameter
// search. A blend's grid holds the same members under many weights; with a
// cache in the search's context each member is fitted once per training
// set instead of once per grid point. It keeps the models of one training
// set at a time, so its memory is one set of members.
type FitCache struct {
	mu     sync.Mutex
	data   *feature.Dataset
	fitted map[string]Matrix
}

type fitCacheKey struct{}

// WithFitCache returns a context that carries a new, empty FitCache.
func WithFitCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, fitCacheKey{}, &FitCache{})
}

// FitCacheFrom returns the context's FitCache, or nil when it has none.
func FitCacheFrom(ctx context.Context) *FitCache {
	c, _ := ctx.Value(fitCacheKey{}).(*FitCache)
	return c
}

// Fit returns the model fitted on d under key (which must name the model
// kind, its parameters and seed), fitting m on first use; a later call
// with the same key and data returns that model instead of m. Models
// fitted on other data are dropped. A failed fit is not kept.
func (c *FitCache) Fit(ctx context.Context, d *feature.Dataset, key string, m Matrix) (Matrix, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data != d {
		c.data, c.fitted = d, map[string]Matrix{}
	}
	if got, ok := c.fitted[key]; ok {
		return got, nil
	}
	if err := m.Fit(ctx, d); err != nil {
		return nil, err
	}
	c.fitted[key] = m
	return m, nil
}
