package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	protocols "github.com/tailorhq/tailor/internal/protocol/all"
)

// selection is what 'tailor select --json' writes.
type selection struct {
	Dataset   string          `json:"dataset"`
	Protocol  string          `json:"protocol"`
	Metric    string          `json:"metric"`
	Budget    string          `json:"budget"`
	Standings []eval.Standing `json:"standings"`
	Chosen    string          `json:"chosen,omitempty"`
	Results   []eval.Result   `json:"results"`
}

func newSelectCmd(stdout io.Writer) *cobra.Command {
	var (
		datasetSpec, protocol, models, budget, out, jsonPath, reportPath string
		k                                                                int
		seed                                                             uint64
		opts                                                             eval.Options
	)
	cmd := &cobra.Command{
		Use:   "select --dataset FORMAT:PATH --protocol NAME [--models M1,M2] [--budget p99=5ms,memory=2GiB,train=10m] [--out FILE]",
		Short: "Choose a model by accuracy, speed, memory and training time on validation data",
		Long: `Select splits the dataset by the protocol, takes its first fold's validation part (never
its test cases: the protocol's own validation window, or a seeded tenth of each shopper's
training items), fits every candidate model there (--models, or every model that answers
the protocol's task, with its default parameters), and measures NDCG@K, the p99 time to
answer one case, the largest Go heap while fitting and answering, and the training time.
It prints the table with the Pareto front (no other model at least as good on all four
and better on one) and writes the most accurate model within --budget to --out, for
'tailor train --config FILE'. When no model is within the budget, it lists what each
misses and exits with an error.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if datasetSpec == "" || protocol == "" {
				return usageError{fmt.Errorf("--dataset and --protocol are required")}
			}
			b, err := eval.ParseBudget(budget)
			if err != nil {
				return usageError{fmt.Errorf("--budget: %w", err)}
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
			if k == 0 {
				k = p.Ks[0]
			}
			if k < 1 {
				return usageError{fmt.Errorf("--k %d: must be a positive integer", k)}
			}
			sc, err := runSelect(cmd.Context(), stdout, selectSpec{dataset: datasetSpec, protocol: p, opts: opts, models: models, budget: b, budgetText: budget, k: k, seed: seed})
			if err != nil {
				return err
			}
			results, st, best, metric := sc.results, sc.standings, sc.best, sc.metric
			sel := selection{Dataset: datasetSpec, Protocol: protocol, Metric: metric, Budget: budget, Standings: st, Results: results}
			if best >= 0 {
				sel.Chosen = st[best].Label
			}
			if err := writeJSONFile(jsonPath, sel); err != nil {
				return err
			}
			if reportPath != "" {
				rep := eval.Report{Dataset: datasetSpec, Protocol: protocol + " (validation part, for select)", Seed: seed, Folds: 1, Ks: []int{k}, Results: results}
				for _, s := range st {
					if s.Front {
						rep.Front = append(rep.Front, s.Label)
					}
				}
				if err := writeReports(rep, "", reportPath); err != nil {
					return err
				}
			}
			if best < 0 {
				return fmt.Errorf("no model is within the budget %s; the table says what each misses", budgetText(budget))
			}
			chosen := results[best]
			params := chosen.Params
			if len(params) == 0 {
				params = json.RawMessage("{}")
			}
			t := tuned{Model: chosen.Model, Params: params, ValidNDCG: st[best].Accuracy, K: k, Dataset: datasetSpec, Protocol: protocol, Seed: seed}
			data, err := json.MarshalIndent(t, "", "  ")
			if err != nil {
				return err
			}
			if out == "" {
				fmt.Fprintf(stdout, "Chosen: %s (%s %.4f).\n", chosen.Model, metric, st[best].Accuracy)
				return nil
			}
			if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
				return fmt.Errorf("write --out: %w", err)
			}
			fmt.Fprintf(stdout, "Chosen: %s (%s %.4f), written to %s for 'tailor train --config %s'.\n", chosen.Model, metric, st[best].Accuracy, out, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&datasetSpec, "dataset", "", "FORMAT:PATH (an import format) or store:DATA-DIR")
	f.StringVar(&protocol, "protocol", "", "protocol: "+strings.Join(protocols.Names(), ", "))
	f.StringVar(&models, "models", "", "comma-separated candidates (default: every model that answers the protocol's task but random)")
	f.StringVar(&budget, "budget", "", "bounds the chosen model must meet: p99=DURATION, memory=SIZE (MiB, GiB), train=DURATION, comma-separated")
	f.IntVar(&k, "k", 0, "the cut-off of NDCG (default: the protocol's first)")
	f.Uint64Var(&seed, "seed", 1, "seed of every random choice")
	f.StringVar(&out, "out", "", "write the chosen model and parameters here, for 'tailor train --config'")
	f.StringVar(&jsonPath, "json", "", "also write every standing and result as JSON to this file")
	f.StringVar(&reportPath, "report", "", "also write the HTML report of the candidates to this file")
	addSplitFlags(f, &opts)
	return cmd
}

func budgetText(b string) string {
	if b == "" {
		return "none"
	}
	return b
}

// selectSpec is what runSelect selects on.
type selectSpec struct {
	dataset    string
	protocol   eval.Protocol
	opts       eval.Options
	models     string // comma-separated; "" every model of the task but random
	servable   bool   // only models 'tailor serve' can use (saved, answering histories)
	budget     eval.Budget
	budgetText string
	k          int
	seed       uint64
}

// selected is what runSelect found.
type selected struct {
	results   []eval.Result
	standings []eval.Standing
	best      int
	metric    string
}

// defaultCandidates are the models select tries when not told which: every
// model that answers the task but random, and with servable only those
// serve can use (saved, answering from a history).
func defaultCandidates(task model.Task, servable bool, seed uint64) []string {
	var names []string
	for _, info := range all.Models() {
		tasks, err := info.TasksOf()
		if err != nil || !slices.Contains(tasks, task) || info.Name == "random" {
			continue
		}
		if servable {
			m, err := info.New(nil, seed)
			if err != nil || !model.IsPersistent(m) || !model.AnswersHistories(m) {
				continue
			}
		}
		names = append(names, info.Name)
	}
	return names
}

// runSelect fits the candidates on the first fold's validation part,
// prints their standings and returns them.
func runSelect(ctx context.Context, stdout io.Writer, sp selectSpec) (selected, error) {
	p, models, k, seed := sp.protocol, sp.models, sp.k, sp.seed
	var cands []eval.Candidate
	names := strings.Split(models, ",")
	if models == "" {
		names = defaultCandidates(p.Task, sp.servable, seed)
	}
	for _, name := range names {
		info, err := all.Lookup(strings.TrimSpace(name))
		if err != nil {
			return selected{}, usageError{fmt.Errorf("--models: %w", err)}
		}
		if err := fitting("--models", info, p); err != nil {
			return selected{}, err
		}
		cands = append(cands, eval.Candidate{Info: info})
	}
	opts := sp.opts
	opts.Seed = seed
	_, folds, err := splitData(ctx, sp.dataset, p, opts)
	if err != nil {
		return selected{}, err
	}
	v, err := eval.Validation(ctx, "select", folds[0], seed)
	if err != nil {
		return selected{}, err
	}
	results, err := eval.Run(ctx, []eval.Fold{*v}, cands, eval.RunOptions{Ks: []int{k}, Seed: seed, FullRanking: p.FullRanking, WholeCatalog: p.WholeCatalog})
	if err != nil {
		return selected{}, err
	}
	metric := fmt.Sprintf("ndcg@%d", k)
	st, best := eval.Select(results, metric, sp.budget)
	order := make([]int, len(st))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, c int) int { return cmp.Compare(st[c].Accuracy, st[a].Accuracy) })
	fmt.Fprintf(stdout, "%s, protocol %s, validation part of fold 1, %d cases; budget %s\n", sp.dataset, p.Name, len(v.Cases), budgetText(sp.budgetText))
	fmt.Fprintf(stdout, "%-22s %10s %9s %11s %9s  %-5s %s\n", "model", metric, "p99 ms", "heap MiB", "train s", "front", "budget")
	for _, i := range order {
		s := st[i]
		front, within := "", "within"
		if s.Front {
			front = "yes"
		}
		if len(s.Misses) > 0 {
			within = "misses " + strings.Join(s.Misses, ", ")
		}
		if i == best {
			within += " (chosen)"
		}
		fmt.Fprintf(stdout, "%-22s %10.4f %9.2f %11.1f %9.2f  %-5s %s\n", s.Label, s.Accuracy, s.P99Ms, float64(s.MemoryBytes)/(1<<20), s.TrainSeconds, front, within)
	}
	return selected{results: results, standings: st, best: best, metric: metric}, nil
}
