// Package ml100kfolds is the ml100k-folds protocol: the published
// MovieLens 100K folds u1..u5 (uN.base for training, uN.test for testing)
// from the dataset's folder.
package ml100kfolds

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/protocol"
)

// Protocol describes ml100k-folds.
func Protocol() eval.Protocol {
	return eval.Protocol{
		Name:        "ml100k-folds",
		Doc:         "the published MovieLens 100K folds u1..u5 (needs the movielens format of the ml-100k folder)",
		Task:        model.TaskPersonal,
		Ks:          []int{10, 20},
		Baselines:   []eval.Baseline{{Model: "popular"}, {Model: "itemknn"}},
		FullRanking: true,
		Split:       split,
	}
}

func split(_ context.Context, d *dataset.Dataset, _ eval.Options) ([]eval.Fold, error) {
	if d.Format != "movielens" {
		return nil, fmt.Errorf("needs the movielens format (the ml-100k folder), not %s", d.Format)
	}
	dir := d.Path
	d = d.Select(dataset.SelectOptions{Keep: protocol.WithUser})
	read := func(name string) ([]protocol.Pair, error) {
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("the ml-100k fold file: %w", err)
		}
		defer f.Close()
		var ps []protocol.Pair
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			fs := strings.Split(strings.TrimSpace(sc.Text()), "\t")
			if len(fs) != 4 {
				return nil, fmt.Errorf("%s:%d: expected 4 tab-separated fields", path, line)
			}
			ts, err := strconv.ParseInt(fs[3], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: timestamp %q: %v", path, line, fs[3], err)
			}
			u, ok1 := d.UserIndex(fs[0])
			i, ok2 := d.ItemIndex(fs[1])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%s:%d: rating (%s, %s) is not in u.data", path, line, fs[0], fs[1])
			}
			ps = append(ps, protocol.Pair{User: u, Item: i, Time: ts})
		}
		return ps, sc.Err()
	}
	var folds []eval.Fold
	for n := 1; n <= 5; n++ {
		base, err := read(fmt.Sprintf("u%d.base", n))
		if err != nil {
			return nil, err
		}
		test, err := read(fmt.Sprintf("u%d.test", n))
		if err != nil {
			return nil, err
		}
		fd, err := protocol.PairFold(d, base, nil, test)
		if err != nil {
			return nil, err
		}
		folds = append(folds, fd)
	}
	return folds, nil
}
