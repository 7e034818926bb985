package eval

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
)

// Case is one question of a fold's test (or validation) part and its
// answer: the items a good model ranks high.
type Case struct {
	// Query is the question; the harness sets its N.
	Query model.Query
	// Relevant are the held-out items (not empty).
	Relevant []int32
}

// Fold is one split of a dataset: the training part every model fits on,
// and the cases they are measured on.
type Fold struct {
	Train *dataset.Dataset
	Cases []Case
	// Sampled, when above 0, also ranks each relevant item among this many
	// sampled items the case's shopper did not have (the "sampled"
	// metrics), beside the full ranking.
	Sampled int
	// Repeats is set when the fold ranks a shopper's training items too
	// (a shopper may buy them again); a validation part carved from the
	// training part (see Validation) then ranks them too.
	Repeats bool
	// Validation returns the fold parameter searches use: a training part
	// and cases taken from this fold's training part alone (never its
	// test cases). Nil when the protocol has none of its own: a search
	// then carves a seeded tenth of each training shopper's items off the
	// training matrix (personal folds whose matrix rows are shoppers).
	Validation func(ctx context.Context) (*Fold, error)
}

// Options configure a split. Each protocol honours some of them (see
// Protocol.Flags); the zero value of each field is its default.
type Options struct {
	// Seed seeds every random choice.
	Seed uint64
	// Folds is the number of folds of kfold (default 5).
	Folds int
	// MinRating keeps, for recbole, ratings at or above it (default 3).
	MinRating float64
	// Core is the iterative k-core of recbole (default 10).
	Core int
	// Cutoff is the time that splits the time-based protocols: training
	// data is before it and test data at or after it. For temporal, zero
	// means CutoffFraction.
	Cutoff time.Time
	// CutoffFraction places temporal's cutoff at this share of the events
	// in time order (default 0.8).
	CutoffFraction float64
	// Negatives is the number of sampled items of loo-sampled (default
	// 100).
	Negatives int
	// Repeats is temporal's treatment of items the user had before the
	// cutoff: "exclude" (default: they are neither test items nor ranked)
	// or "include" (they are test items when bought again, and ranked).
	Repeats string
	// ValidWindow is the validation window of the time-based protocols:
	// parameter searches fit on the events before cutoff − ValidWindow and
	// validate on the window's, by the same rules as the test (default 30
	// days).
	ValidWindow time.Duration
}

// Protocol is a named evaluation protocol: how a dataset is split into
// folds of cases for one task. Each lives in a package of its own;
// package protocol/all lists them.
type Protocol struct {
	Name string
	// Doc says in a sentence or two what the protocol does, for help.
	Doc string
	// Task is the task of every case; only models that answer it fit.
	Task model.Task
	// Ks are the default cut-offs.
	Ks []int
	// Baselines are the models measured when none are named.
	Baselines []Baseline
	// Flags names the Options fields the protocol honours, as flags
	// ("cutoff", "folds", "min-rating", "cutoff-fraction", "negatives",
	// "repeats", "valid-window"); a flag given for a protocol that does
	// not honour it is an error.
	Flags []string
	// FullRanking ranks every candidate item for each case, so that AUC
	// is measured (the protocols over all of a shopper's items); other
	// protocols rank the top max(K).
	FullRanking bool
	// WholeCatalog says the cases may be answered with items that have no
	// training data (new items, search over the catalog): coverage is
	// then over every item of the training part's index, not over the
	// items with training data.
	WholeCatalog bool
	// Split makes the folds.
	Split func(ctx context.Context, d *dataset.Dataset, opts Options) ([]Fold, error)
}

// Baseline is a model a protocol measures by default.
type Baseline struct {
	Model  string
	Params json.RawMessage
	// Label names the result (default Model).
	Label string
}

// Defaults fills the zero fields of opts with their defaults.
func (opts Options) Defaults() Options {
	if opts.Folds == 0 {
		opts.Folds = 5
	}
	if opts.MinRating == 0 {
		opts.MinRating = 3
	}
	if opts.Core == 0 {
		opts.Core = 10
	}
	if opts.CutoffFraction == 0 {
		opts.CutoffFraction = 0.8
	}
	if opts.Repeats == "" {
		opts.Repeats = "exclude"
	}
	if opts.Negatives == 0 {
		opts.Negatives = 100
	}
	if opts.ValidWindow == 0 {
		opts.ValidWindow = 30 * 24 * time.Hour
	}
	return opts
}
