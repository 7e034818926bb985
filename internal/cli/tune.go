package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model/all"
	protocols "github.com/tailorhq/tailor/internal/protocol/all"
)

// tuned is the file 'tailor tune' writes and 'tailor eval --config' reads.
type tuned struct {
	Model     string          `json:"model"`
	Params    json.RawMessage `json:"params"`
	ValidNDCG float64         `json:"valid_ndcg"`
	K         int             `json:"k"`
	Dataset   string          `json:"dataset"`
	Protocol  string          `json:"protocol"`
	Seed      uint64          `json:"seed"`
	Search    string          `json:"search,omitempty"`
	Carves    int             `json:"carves,omitempty"`
	Trials    []eval.Trial    `json:"trials"`
}

func newTuneCmd(stdout io.Writer) *cobra.Command {
	var (
		dataset, protocol, modelName, out string
		k                                 int
		seed                              uint64
		budget                            time.Duration
		search                            string
		eta, carves                       int
		opts                              eval.Options
	)
	cmd := &cobra.Command{
		Use:   "tune --dataset FORMAT:PATH --protocol NAME --model NAME [--budget 30m] [--out FILE]",
		Short: "Search a model's parameters on validation data and write the best",
		Long: `Tune splits the dataset by the protocol, takes its first fold, and searches the
model's parameter grid (its documented space), fitting on the validation part's
training data and scoring NDCG@K on its cases only, never the test cases: the
protocol's own validation part (the time-based protocols: the same split one
--valid-window before the cutoff, on the training events alone; recbole and loo:
their validation items), or a seeded tenth of each user's training items (kfold,
ml100k-folds), until the grid or the --budget is spent. It works for every protocol
and every model with a grid that answers the protocol's task.

--search random tries the grid in a seeded random order. --search halving is
successive halving: every parameter set is tried on a seeded random share of the
users (1/eta², at least 200 users a round), the best 1/eta go on to eta times more
users, and the last round fits the survivors on all of them (protocols whose cases are
shoppers': not basket-completion or session-next).

--carves N (random search, protocols without a validation part of their own) scores
every parameter set by its mean over N seeded validation tenths instead of one: inner
cross-validation, N times the work, a less noisy choice. --budget then bounds the
search on the first tenth.

It writes the best parameters as JSON to --out (or prints them); 'tailor eval
--config FILE' uses them.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataset == "" || protocol == "" || modelName == "" {
				return usageError{fmt.Errorf("--dataset, --protocol and --model are required")}
			}
			if k < 0 || (k == 0 && cmd.Flags().Changed("k")) {
				return usageError{fmt.Errorf("--k %d: must be a positive integer", k)}
			}
			if search != "random" && search != "halving" {
				return usageError{fmt.Errorf("--search %q: use random or halving", search)}
			}
			if eta < 2 {
				return usageError{fmt.Errorf("--eta %d: must be at least 2", eta)}
			}
			if budget < 0 {
				return usageError{fmt.Errorf("--budget %s: must not be negative", budget)}
			}
			if carves < 1 {
				return usageError{fmt.Errorf("--carves %d: must be at least 1", carves)}
			}
			if carves > 1 && search != "random" {
				return usageError{fmt.Errorf("--carves %d: only the random search averages over carves", carves)}
			}
			p, err := protocols.Lookup(protocol)
			if err != nil {
				return usageError{fmt.Errorf("--protocol: %w", err)}
			}
			if err := checkSplitFlags(cmd.Flags(), p); err != nil {
				return err
			}
			if err := needCutoff(p, opts); err != nil {
				return err
			}
			info, err := all.Lookup(modelName)
			if err != nil {
				return usageError{fmt.Errorf("--model: %w", err)}
			}
			if err := fitting("--model", info, p); err != nil {
				return err
			}
			if len(info.Grid) == 0 {
				return usageError{fmt.Errorf("--model: %s has no parameters to search", info.Name)}
			}
			if k == 0 {
				k = p.Ks[0]
			}
			ctx := withProgress(cmd.Context(), cmd.ErrOrStderr())
			opts.Seed = seed
			_, folds, err := splitData(ctx, dataset, p, opts)
			if err != nil {
				return err
			}
			var best eval.Trial
			var trials []eval.Trial
			switch search {
			case "random":
				best, trials, err = eval.Search(ctx, info, folds[0], k, seed, budget, carves)
			case "halving":
				best, trials, err = eval.Halving(ctx, info, folds[0], k, seed, budget, eta)
			}
			if err != nil {
				return err
			}
			res := tuned{Model: info.Name, Params: best.Params, ValidNDCG: best.ValidNDCG, K: k, Dataset: dataset,
				Protocol: protocol, Seed: seed, Search: search, Carves: carves, Trials: trials}
			b, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return err
			}
			if out == "" {
				_, err = stdout.Write(append(b, '\n'))
				return err
			}
			if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
				return fmt.Errorf("write --out: %w", err)
			}
			fmt.Fprintf(stdout, "%s: tried %d of %d parameter sets (%s search); best %s with validation ndcg@%d %.4f; written to %s\n",
				info.Name, len(trials), len(info.Grid), search, best.Params, k, best.ValidNDCG, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "", "FORMAT:PATH (an import format) or store:DATA-DIR")
	f.StringVar(&protocol, "protocol", "", "protocol: "+strings.Join(protocols.Names(), ", "))
	f.StringVar(&modelName, "model", "", "model to tune: "+strings.Join(all.Names(), ", "))
	f.IntVar(&k, "k", 0, "the cut-off of the validation NDCG (default: the protocol's first)")
	f.Uint64Var(&seed, "seed", 1, "seed of every random choice")
	f.DurationVar(&budget, "budget", 30*time.Minute, "stop trying new parameter sets after this long (0: try the whole grid)")
	f.StringVar(&out, "out", "", "write the result to this file (default: print it)")
	f.StringVar(&search, "search", "random", "search method: random (the grid in a seeded random order) or halving (successive halving over shares of the users)")
	f.IntVar(&carves, "carves", 1, "random search: average every parameter set's validation NDCG over this many seeded validation tenths")
	f.IntVar(&eta, "eta", 3, "halving: the factor by which each round cuts the candidates and grows the users")
	addSplitFlags(f, &opts)
	return cmd
}

// readTuned reads a file written by 'tailor tune'.
func readTuned(path string) (tuned, error) {
	var t tuned
	b, err := os.ReadFile(path)
	if err != nil {
		return t, fmt.Errorf("--config: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("--config %s: %w", path, err)
	}
	if t.Model == "" || len(t.Params) == 0 {
		return t, fmt.Errorf("--config %s: not a file written by 'tailor tune' (no model or params)", path)
	}
	return t, nil
}
