package eval

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/feature"
)

// Fold is one train/test split over one index space. Test (and Valid)
// map a user index to the items held out for that user.
type Fold struct {
	Train *feature.Dataset
	Valid map[int32][]int32
	// ValidTrain, when set, is the training part that goes with Valid
	// (temporal: the events before the validation window); otherwise
	// Valid's training part is Train.
	ValidTrain *feature.Dataset
	Test       map[int32][]int32
	// Repeats, when set, ranks a user's training items too (a shopper may
	// buy them again); otherwise they are left out of the ranking.
	Repeats bool
	// Sampled, when above 0, also ranks each test item among this many
	// sampled items the user did not have (the "sampled" metrics), beside
	// the full ranking.
	Sampled int
}

// Protocols lists the split protocols by name.
func Protocols() []string {
	return []string{"kfold", "ml100k-folds", "recbole", "loo", "loo-sampled", "temporal"}
}

// Options configure a split.
type Options struct {
	// Seed seeds every random choice.
	Seed uint64
	// Folds is the number of folds of kfold (default 5).
	Folds int
	// MinRating keeps, for recbole, ratings at or above it (default 3).
	MinRating float64
	// Core is the iterative k-core of recbole (default 10).
	Core int
	// Cutoff is the time that splits temporal: training data is before it
	// and test data at or after it. Zero means CutoffFraction.
	Cutoff time.Time
	// CutoffFraction places the temporal cutoff at this share of the
	// events in time order (default 0.8).
	CutoffFraction float64
	// Negatives is the number of sampled items of loo-sampled (default
	// 100).
	Negatives int
	// Repeats is temporal's treatment of items the user had before the
	// cutoff: "exclude" (default: they are neither test items nor ranked)
	// or "include" (they are test items when bought again, and ranked).
	Repeats string
	// ValidWindow is temporal's validation window: tuning fits on the
	// events before cutoff − ValidWindow and validates on the window's,
	// by the same rules as the test (default 30 days).
	ValidWindow time.Duration
}

// Split splits the data by the named protocol.
func Split(protocol string, d *Data, opts Options) ([]Fold, error) {
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
	var (
		folds []Fold
		err   error
	)
	switch protocol {
	case "kfold":
		folds, err = kfold(d, opts)
	case "ml100k-folds":
		folds, err = ml100kFolds(d)
	case "recbole":
		folds, err = recbole(d, opts)
	case "loo":
		folds, err = leaveOneOut(d)
	case "loo-sampled":
		if opts.Negatives < 1 {
			return nil, fmt.Errorf("protocol loo-sampled: negatives %d must be at least 1", opts.Negatives)
		}
		if folds, err = leaveOneOut(d); err == nil {
			folds[0].Sampled = opts.Negatives
		}
	case "temporal":
		folds, err = temporal(d, opts)
	default:
		return nil, fmt.Errorf("unknown protocol %q: use one of %s", protocol, strings.Join(Protocols(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("protocol %s: %w", protocol, err)
	}
	for i, f := range folds {
		if len(f.Test) == 0 {
			return nil, fmt.Errorf("protocol %s: fold %d has no test users", protocol, i+1)
		}
	}
	return folds, nil
}

// pair is an interaction by dense indices, with its rating.
type pair struct {
	user, item int32
	value      float64
	time       int64
	// count is the number of events of the pair (purchases, ratings).
	count int
}

// pairs indexes the events' (user, item) pairs, keeping the latest event
// of each pair. Events without a user are skipped.
func pairs(events []tailor.Event, keep func(*tailor.Event) bool) (users, items *feature.Index, ps []pair) {
	users, items = feature.NewIndex(), feature.NewIndex()
	at := map[[2]int32]int{}
	for i := range events {
		e := &events[i]
		if e.UserID == "" || (keep != nil && !keep(e)) {
			continue
		}
		p := pair{user: users.Add(string(e.UserID)), item: items.Add(string(e.ItemID)), time: e.Timestamp.Unix(), value: 1, count: 1}
		if e.Value != nil {
			p.value = *e.Value
		}
		key := [2]int32{p.user, p.item}
		if j, ok := at[key]; ok {
			p.count += ps[j].count
			if p.time >= ps[j].time {
				ps[j] = p
			} else {
				ps[j].count = p.count
			}
			continue
		}
		at[key] = len(ps)
		ps = append(ps, p)
	}
	return users, items, ps
}

// fold makes a fold of train and test pairs over one index space; a pair
// weighs the number of its events (all kept ratings count as positive; a
// customer who bought an item on three invoices has weight 3).
func fold(users, items *feature.Index, train, valid, test []pair) (Fold, error) {
	xs := make([]feature.Interaction, len(train))
	for i, p := range train {
		xs[i] = feature.Interaction{User: p.user, Item: p.item, Weight: float32(max(p.count, 1)), Time: p.time}
	}
	d, err := feature.Build(users.IDs(), items.IDs(), xs)
	if err != nil {
		return Fold{}, err
	}
	group := func(ps []pair) map[int32][]int32 {
		if len(ps) == 0 {
			return nil
		}
		m := map[int32][]int32{}
		for _, p := range ps {
			m[p.user] = append(m[p.user], p.item)
		}
		return m
	}
	return Fold{Train: d, Valid: group(valid), Test: group(test)}, nil
}

// kfold shuffles all interactions with the seed and deals them into k
// folds; each fold is the test set once.
func kfold(d *Data, opts Options) ([]Fold, error) {
	if opts.Folds < 2 {
		return nil, fmt.Errorf("folds %d must be at least 2", opts.Folds)
	}
	users, items, ps := pairs(d.Events, nil)
	r := rand.New(rand.NewPCG(opts.Seed, 0x6b666f6c64))
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	var folds []Fold
	for f := 0; f < opts.Folds; f++ {
		var train, test []pair
		for i, p := range ps {
			if i%opts.Folds == f {
				test = append(test, p)
			} else {
				train = append(train, p)
			}
		}
		fd, err := fold(users, items, train, nil, test)
		if err != nil {
			return nil, err
		}
		folds = append(folds, fd)
	}
	return folds, nil
}

// ml100kFolds reads the published MovieLens 100K folds u1..u5 from the
// dataset's folder.
func ml100kFolds(d *Data) ([]Fold, error) {
	if d.Format != "movielens" {
		return nil, fmt.Errorf("needs the movielens format (the ml-100k folder), not %s", d.Format)
	}
	read := func(name string) ([]pair, error) {
		path := filepath.Join(d.Path, name)
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("the ml-100k fold file: %w", err)
		}
		defer f.Close()
		var ps []pair
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
			// Indices are assigned below; keep the ids in user/item for now.
			u, err1 := strconv.Atoi(fs[0])
			i, err2 := strconv.Atoi(fs[1])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s:%d: user and item must be numbers", path, line)
			}
			ps = append(ps, pair{user: int32(u), item: int32(i), value: 1, time: ts})
		}
		return ps, sc.Err()
	}
	users, items := feature.NewIndex(), feature.NewIndex()
	for _, e := range d.Events {
		users.Add(string(e.UserID))
		items.Add(string(e.ItemID))
	}
	remap := func(ps []pair) ([]pair, error) {
		for k := range ps {
			u, ok1 := users.Lookup(strconv.Itoa(int(ps[k].user)))
			i, ok2 := items.Lookup(strconv.Itoa(int(ps[k].item)))
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("fold rating (%d, %d) is not in u.data", ps[k].user, ps[k].item)
			}
			ps[k].user, ps[k].item = u, i
		}
		return ps, nil
	}
	var folds []Fold
	for n := 1; n <= 5; n++ {
		base, err := read(fmt.Sprintf("u%d.base", n))
		if err != nil {
			return nil, err
		}
		test, err := read(fmt.Sprintf("u%d.test", n))
		if err != nil {
			return nil, err
		}
		if base, err = remap(base); err != nil {
			return nil, err
		}
		if test, err = remap(test); err != nil {
			return nil, err
		}
		fd, err := fold(users, items, base, nil, test)
		if err != nil {
			return nil, err
		}
		folds = append(folds, fd)
	}
	return folds, nil
}

// recbole keeps ratings ≥ MinRating, applies the iterative Core-core to
// users and items, and splits each user's interactions at random 80/10/10
// into train, valid and test, as RecBole does (valid and test get
// ⌊0.1·n⌋ each).
func recbole(d *Data, opts Options) ([]Fold, error) {
	keep := func(e *tailor.Event) bool { return e.Value == nil || *e.Value >= opts.MinRating }
	_, _, ps := pairs(d.Events, keep)
	ps = kcore(ps, opts.Core)
	if len(ps) == 0 {
		return nil, fmt.Errorf("nothing is left after the %d-core", opts.Core)
	}
	// Re-index what is left, in order of appearance.
	users, items := feature.NewIndex(), feature.NewIndex()
	uid := map[int32]int32{}
	iid := map[int32]int32{}
	for k, p := range ps {
		if _, ok := uid[p.user]; !ok {
			uid[p.user] = users.Add(strconv.Itoa(int(p.user)))
		}
		if _, ok := iid[p.item]; !ok {
			iid[p.item] = items.Add(strconv.Itoa(int(p.item)))
		}
		ps[k].user, ps[k].item = uid[p.user], iid[p.item]
	}
	byUser := map[int32][]pair{}
	var order []int32
	for _, p := range ps {
		if _, ok := byUser[p.user]; !ok {
			order = append(order, p.user)
		}
		byUser[p.user] = append(byUser[p.user], p)
	}
	r := rand.New(rand.NewPCG(opts.Seed, 0x7265636f6c65))
	var train, valid, test []pair
	for _, u := range order {
		up := byUser[u]
		r.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
		n := len(up)
		nv, nt := n/10, n/10
		train = append(train, up[:n-nv-nt]...)
		valid = append(valid, up[n-nv-nt:n-nt]...)
		test = append(test, up[n-nt:]...)
	}
	f, err := fold(users, items, train, valid, test)
	if err != nil {
		return nil, err
	}
	return []Fold{f}, nil
}

// kcore drops users and items with fewer than k interactions until none is
// left.
func kcore(ps []pair, k int) []pair {
	for {
		nu, ni := map[int32]int{}, map[int32]int{}
		for _, p := range ps {
			nu[p.user]++
			ni[p.item]++
		}
		kept := slices.DeleteFunc(slices.Clone(ps), func(p pair) bool { return nu[p.user] < k || ni[p.item] < k })
		if len(kept) == len(ps) {
			return kept
		}
		ps = kept
	}
}

// leaveOneOut holds out each user's last interaction (by time; ties keep
// the order read) as test and the one before it as valid; users with fewer
// than three interactions keep all of them for training.
func leaveOneOut(d *Data) ([]Fold, error) {
	users, items, ps := pairs(d.Events, nil)
	order := make([]int, len(ps)) // reading order of the pairs
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		pa, pb := ps[a], ps[b]
		if pa.user != pb.user {
			return int(pa.user - pb.user)
		}
		switch {
		case pa.time < pb.time:
			return -1
		case pa.time > pb.time:
			return 1
		}
		return a - b
	})
	var train, valid, test []pair
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && ps[order[j]].user == ps[order[i]].user {
			j++
		}
		n := j - i
		for k := i; k < j; k++ {
			p := ps[order[k]]
			switch {
			case n >= 3 && k == j-1:
				test = append(test, p)
			case n >= 3 && k == j-2:
				valid = append(valid, p)
			default:
				train = append(train, p)
			}
		}
		i = j
	}
	f, err := fold(users, items, train, valid, test)
	if err != nil {
		return nil, err
	}
	return []Fold{f}, nil
}

// temporal trains on the positive events before a time cutoff and tests on
// the positive events at or after it of users who also had events before.
// Positive events are purchases when the data has any (then counted only
// with a unit price above 0, of a product), and every event otherwise.
// With Repeats "exclude" a user's test items are only those they did not
// have before the cutoff; with "include", all of them, and Fold.Repeats
// tells the runner not to exclude training items from the ranking.
func temporal(d *Data, opts Options) ([]Fold, error) {
	if opts.Repeats != "exclude" && opts.Repeats != "include" {
		return nil, fmt.Errorf("repeats %q is not exclude or include", opts.Repeats)
	}
	purchases := slices.ContainsFunc(d.Events, func(e tailor.Event) bool { return e.Type == tailor.Purchase })
	keep := func(e *tailor.Event) bool {
		if !purchases {
			return true
		}
		if e.Type != tailor.Purchase || e.UnitPrice == nil || *e.UnitPrice <= 0 {
			return false
		}
		it, ok := d.Items[e.ItemID]
		return !ok || !it.NonProduct
	}
	var kept []tailor.Event
	for i := range d.Events {
		if d.Events[i].UserID != "" && keep(&d.Events[i]) {
			kept = append(kept, d.Events[i])
		}
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("no positive events")
	}
	cutoff := opts.Cutoff
	if cutoff.IsZero() {
		if opts.CutoffFraction <= 0 || opts.CutoffFraction >= 1 {
			return nil, fmt.Errorf("cutoff fraction %v is not between 0 and 1", opts.CutoffFraction)
		}
		times := make([]int64, len(kept))
		for i, e := range kept {
			times[i] = e.Timestamp.UnixNano()
		}
		slices.Sort(times)
		cutoff = time.Unix(0, times[int(opts.CutoffFraction*float64(len(times)-1))])
	}
	users, items := feature.NewIndex(), feature.NewIndex()
	var before, after []pair
	for _, e := range kept {
		p := pair{user: users.Add(string(e.UserID)), item: items.Add(string(e.ItemID)), value: 1, time: e.Timestamp.Unix(), count: 1}
		if e.Timestamp.Before(cutoff) {
			before = append(before, p)
		} else {
			after = append(after, p)
		}
	}
	f, err := fold(users, items, before, nil, nil)
	if err != nil {
		return nil, err
	}
	// test returns the held-out items of the returning users of train
	// among later.
	test := func(train *feature.Dataset, later []pair) map[int32][]int32 {
		out := map[int32][]int32{}
		seen := map[[2]int32]bool{}
		for _, p := range later {
			items, _ := train.Row(p.user)
			if len(items) == 0 || seen[[2]int32{p.user, p.item}] {
				continue // not a returning user, or counted already
			}
			if opts.Repeats == "exclude" && train.Has(p.user, p.item) {
				continue
			}
			seen[[2]int32{p.user, p.item}] = true
			out[p.user] = append(out[p.user], p.item)
		}
		return out
	}
	f.Test = test(f.Train, after)
	f.Repeats = opts.Repeats == "include"
	// The validation split mirrors the test split one window earlier.
	window := opts.ValidWindow
	if window == 0 {
		window = 30 * 24 * time.Hour
	}
	if window < 0 {
		return nil, fmt.Errorf("validation window %s is negative", window)
	}
	vcut := cutoff.Add(-window)
	var early, late []pair
	for _, p := range before {
		if p.time < vcut.Unix() {
			early = append(early, p)
		} else {
			late = append(late, p)
		}
	}
	vf, err := fold(users, items, early, nil, nil)
	if err != nil {
		return nil, err
	}
	f.ValidTrain = vf.Train
	f.Valid = test(vf.Train, late)
	return []Fold{f}, nil
}
