package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/fbt"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/orders"
	"github.com/tailorhq/tailor/internal/rebuy"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/sknn"
)

// The runners below carry out the 'tailor eval' protocols that do not fit
// the ranking harness: each loads the dataset, runs its protocol and
// prints a table.

func runBasketCompletion(ctx context.Context, w io.Writer, dataset string, cutoff time.Time, seed uint64, jsonPath string) error {
	if cutoff.IsZero() {
		return usageError{fmt.Errorf("--cutoff is required for basket-completion (such as 2011-09-01)")}
	}
	data, err := loadData(ctx, dataset)
	if err != nil {
		return err
	}
	train, test := eval.Baskets(data.Events, cutoff, data.NonProduct)
	scores, err := eval.BasketCompletion(train, test, seed, fbt.Options{})
	if err != nil {
		return err
	}
	rep := eval.Report{Dataset: dataset, Protocol: "basket-completion", Seed: seed, Folds: 1, Ks: []int{10}}
	fmt.Fprintf(w, "%s, protocol basket-completion, test from %s, seed %d: %d training baskets\n", dataset, cutoff.Format(time.DateOnly), seed, len(train))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model	hit@10	mrr@10	baskets")
	for _, s := range scores {
		rep.Results = append(rep.Results, eval.Result{Model: s.Model, Params: json.RawMessage("{}"),
			Metrics: map[string]float64{"hit@10": s.HitRate, "mrr@10": s.MRR}, TestUsers: s.Baskets})
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\n", s.Model, s.HitRate, s.MRR, s.Baskets)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeJSONFile(jsonPath, rep)
}

func runColdItems(ctx context.Context, w io.Writer, dataset string, cutoff time.Time, seed uint64) error {
	data, err := loadData(ctx, dataset)
	if err != nil {
		return err
	}
	scores, err := eval.ColdItems(data, cutoff, 0.1, seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s, protocol cold-items (10%% of the items), cutoff %s, seed %d\n", dataset, cutoff.Format(time.DateOnly), seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\trecall@20\tshoppers")
	for _, s := range scores {
		fmt.Fprintf(tw, "%s\t%.4f\t%d\n", s.Model, s.Recall, s.Users)
	}
	return tw.Flush()
}

func runSearchReplay(ctx context.Context, w io.Writer, dataset string, cutoff time.Time, seed uint64) error {
	data, err := loadData(ctx, dataset)
	if err != nil {
		return err
	}
	info, err := all.Lookup("ease")
	if err != nil {
		return err
	}
	scores, err := eval.SearchReplay(ctx, data, cutoff, info, recommend.Personalization, seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s, protocol search-replay, cutoff %s, seed %d\n", dataset, cutoff.Format(time.DateOnly), seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ranking\tmrr@10\thit@10\tqueries")
	for _, s := range scores {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\n", s.Model, s.MRR, s.Hit, s.Queries)
	}
	return tw.Flush()
}

func runSessionNext(ctx context.Context, w io.Writer, dataset string, cutoff time.Time) error {
	data, err := loadData(ctx, dataset)
	if err != nil {
		return err
	}
	train, test := orders.Split(data.Events, cutoff, data.NonProduct)
	scores := sknn.Evaluate(train, test, 10)
	fmt.Fprintf(w, "%s, protocol session-next, cutoff %s: %d training sessions, %d test sessions\n", dataset, cutoff.Format(time.DateOnly), len(train), len(test))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\thit@20\tmrr@20\tpredictions")
	for _, s := range scores {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\n", s.Model, s.HitRate, s.MRR, s.Predictions)
	}
	return tw.Flush()
}

func runRebuy(ctx context.Context, w io.Writer, dataset string, cutoff time.Time) error {
	data, err := loadData(ctx, dataset)
	if err != nil {
		return err
	}
	scores := rebuy.Evaluate(rebuy.FromEvents(data.Events, data.NonProduct), cutoff)
	fmt.Fprintf(w, "%s, protocol rebuy (temporal, returning shoppers, repeats included), cutoff %s\n", dataset, cutoff.Format(time.DateOnly))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\trecall@10\tndcg@10\tshoppers")
	for _, s := range scores {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\n", s.Model, s.Recall, s.NDCG, s.Users)
	}
	return tw.Flush()
}

// writeJSONFile writes v, indented, to path ("" writes nothing).
func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}
