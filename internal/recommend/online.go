package recommend

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// ABTest splits a scenario's traffic between two model versions by a
// stable hash of the shopper's id: a share ShareB of shoppers gets version
// B, the rest version A, always the same one for a given shopper.
type ABTest struct {
	A      string  `json:"a"`
	B      string  `json:"b"`
	ShareB float64 `json:"share_b"`
}

func (ab *ABTest) validate() error {
	switch {
	case ab.A == "":
		return &FieldError{Field: "ab_test.a", Reason: "names no model version"}
	case ab.B == "":
		return &FieldError{Field: "ab_test.b", Reason: "names no model version"}
	case ab.A == ab.B:
		return &FieldError{Field: "ab_test.b", Reason: "is the same version as ab_test.a"}
	case !(ab.ShareB > 0 && ab.ShareB < 1):
		return &FieldError{Field: "ab_test.share_b", Reason: fmt.Sprintf("%v must be between 0 and 1", ab.ShareB)}
	}
	return nil
}

// arm returns the version a shopper gets in the test.
func (ab *ABTest) arm(scenario string, user tailor.UserID) string {
	h := fnv.New64a()
	h.Write([]byte(scenario))
	h.Write([]byte{0})
	h.Write([]byte(user))
	if float64(h.Sum64()>>11)/float64(1<<53) < ab.ShareB {
		return ab.B
	}
	return ab.A
}

// stateFor returns the model state that serves a request: the slot's
// active version, or the shopper's arm of the scenario's A/B test. A
// version of a test that fails to load falls back to the active one.
func (e *Engine) stateFor(ctx context.Context, rules *Rules, scenario string, user tailor.UserID) *state {
	cur := e.cur.Load()
	if rules.ABTest == nil || user == "" {
		return cur
	}
	id := rules.ABTest.arm(scenario, user)
	if cur != nil && cur.version.ID == id {
		return cur
	}
	if s, ok := e.versions.Get(id); ok {
		return s
	}
	s, err := e.loadVersion(ctx, id)
	if err != nil {
		e.log.Error("an A/B test's version does not load; the active version answers", slog.String("version", id), slog.Any("err", err))
		return cur
	}
	e.catMu.Lock()
	e.attachMeta(s)
	e.versions.Add(id, s)
	e.catMu.Unlock()
	return s
}

type impKey struct {
	minute                     int64
	scenario, version, segment string
}

// count records a served response for the online metrics.
func (e *Engine) count(resp *Response) {
	k := impKey{minute: e.opts.Now().Truncate(time.Minute).Unix(), scenario: resp.Scenario, version: resp.rankedBy, segment: resp.segment}
	e.impMu.Lock()
	c := e.imp[k]
	c[0]++
	c[1] += int64(len(resp.Items))
	e.imp[k] = c
	e.impMu.Unlock()
}

// FlushImpressions writes the impression counts gathered so far to the
// store; on failure they are kept for the next flush.
func (e *Engine) FlushImpressions(ctx context.Context) error {
	e.impMu.Lock()
	pending := e.imp
	e.imp = map[impKey][2]int64{}
	e.impMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	counts := make([]store.Impressions, 0, len(pending))
	for k, c := range pending {
		counts = append(counts, store.Impressions{Minute: time.Unix(k.minute, 0).UTC(), Scenario: k.scenario, Version: k.version, Segment: k.segment,
			Responses: c[0], Items: c[1]})
	}
	if err := e.src.AddImpressions(ctx, counts); err != nil {
		e.impMu.Lock()
		for k, c := range pending {
			old := e.imp[k]
			e.imp[k] = [2]int64{old[0] + c[0], old[1] + c[1]}
		}
		e.impMu.Unlock()
		return fmt.Errorf("flush impressions: %w", err)
	}
	return nil
}

// OnlineGroup is the online metrics of one scenario and model version
// (and, in a breakdown, one shopper segment).
type OnlineGroup struct {
	Scenario     string `json:"scenario"`
	ModelVersion string `json:"model_version"`
	Segment      string `json:"segment,omitempty"`
	// Impressions is the number of lists served, ItemsShown the items in
	// them.
	Impressions int64 `json:"impressions"`
	ItemsShown  int64 `json:"items_shown"`
	// Clicks, AddToCarts and Purchases count the attributed events;
	// Revenue sums the purchases' quantity (value, default 1) × unit price.
	Clicks     int64   `json:"clicks"`
	AddToCarts int64   `json:"add_to_carts"`
	Purchases  int64   `json:"purchases"`
	Revenue    float64 `json:"revenue"`
	// CTR is clicks per impression and Conversion purchases per
	// impression.
	CTR        float64 `json:"ctr"`
	Conversion float64 `json:"conversion"`
}

// ABResult compares the two arms of a scenario's A/B test.
type ABResult struct {
	Scenario string `json:"scenario"`
	// Segment is set in a per-segment breakdown.
	Segment string `json:"segment,omitempty"`
	A       string `json:"a"`
	B       string `json:"b"`
	// CTRPValue and ConversionPValue are two-sided p-values of a
	// two-proportion z-test of B against A (1 when an arm has no
	// impressions).
	CTRPValue        float64 `json:"ctr_p_value"`
	ConversionPValue float64 `json:"conversion_p_value"`
	// Lift is B's conversion over A's, minus 1 (0 when A has none).
	ConversionLift float64 `json:"conversion_lift"`
	// BySegment compares the arms within each shopper segment.
	BySegment []ABResult `json:"by_segment,omitempty"`
}

// OnlineReport is the body of GET /v1/metrics/online.
type OnlineReport struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Groups are per scenario and version; BySegment splits them by the
	// shoppers' segment attribute ("" for none).
	Groups    []OnlineGroup `json:"groups"`
	BySegment []OnlineGroup `json:"by_segment"`
	ABTests   []ABResult    `json:"ab_tests"`
}

// OnlineMetrics attributes the events of [from, to) that carry a
// recommendation id made by the engine to its scenario and model version,
// beside the impressions served in that time.
func (e *Engine) OnlineMetrics(ctx context.Context, from, to time.Time) (*OnlineReport, error) {
	if !to.After(from) {
		return nil, &FieldError{Field: "to", Reason: "must be after from"}
	}
	if err := e.FlushImpressions(ctx); err != nil {
		return nil, err
	}
	// Counts per scenario, version and segment; totals add the segments.
	groups := map[[3]string]*OnlineGroup{}
	group := func(scenario, version, segment string) *OnlineGroup {
		k := [3]string{scenario, version, segment}
		if g, ok := groups[k]; ok {
			return g
		}
		g := &OnlineGroup{Scenario: scenario, ModelVersion: version, Segment: segment}
		groups[k] = g
		return g
	}
	imps, err := e.src.ImpressionCounts(ctx, from.Truncate(time.Minute), to)
	if err != nil {
		return nil, err
	}
	for _, c := range imps {
		g := group(c.Scenario, c.Version, c.Segment)
		g.Impressions += c.Responses
		g.ItemsShown += c.Items
	}
	err = e.src.ScanEvents(ctx, store.EventQuery{Since: from, Until: to, Attributed: true}, func(ev *tailor.Event) error {
		version, scenario, segment, ok := ParseRecommendationID(ev.RecommendationID)
		if !ok {
			return nil
		}
		g := group(scenario, version, segment)
		switch ev.Type {
		case tailor.Click:
			g.Clicks++
		case tailor.AddToCart:
			g.AddToCarts++
		case tailor.Purchase:
			g.Purchases++
			q := 1.0
			if ev.Value != nil {
				q = *ev.Value
			}
			if ev.UnitPrice != nil {
				g.Revenue += q * *ev.UnitPrice
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	totals := map[[3]string]*OnlineGroup{}
	for k, g := range groups {
		tk := [3]string{k[0], k[1], ""}
		t, ok := totals[tk]
		if !ok {
			t = &OnlineGroup{Scenario: k[0], ModelVersion: k[1]}
			totals[tk] = t
		}
		t.add(g)
	}
	rep := &OnlineReport{From: from, To: to, Groups: sortedGroups(totals), BySegment: sortedGroups(groups), ABTests: []ABResult{}}
	scenarios, err := e.src.Scenarios(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	compare := func(name, segment string, a, b *OnlineGroup, ab *ABTest) ABResult {
		res := ABResult{Scenario: name, Segment: segment, A: ab.A, B: ab.B,
			CTRPValue:        twoProportionP(a.Clicks, a.Impressions, b.Clicks, b.Impressions),
			ConversionPValue: twoProportionP(a.Purchases, a.Impressions, b.Purchases, b.Impressions)}
		if a.Impressions > 0 && b.Impressions > 0 && a.Purchases > 0 {
			res.ConversionLift = (float64(b.Purchases)/float64(b.Impressions))/(float64(a.Purchases)/float64(a.Impressions)) - 1
		}
		return res
	}
	empty := &OnlineGroup{}
	get := func(m map[[3]string]*OnlineGroup, k [3]string) *OnlineGroup {
		if g, ok := m[k]; ok {
			return g
		}
		return empty
	}
	for _, name := range names {
		r, err := ParseRules(scenarios[name])
		if err != nil || r.ABTest == nil {
			continue
		}
		ab := r.ABTest
		res := compare(name, "", get(totals, [3]string{name, ab.A, ""}), get(totals, [3]string{name, ab.B, ""}), ab)
		segs := map[string]bool{}
		for k := range groups {
			if k[0] == name && (k[1] == ab.A || k[1] == ab.B) && k[2] != "" {
				segs[k[2]] = true
			}
		}
		for _, sg := range slices.Sorted(maps.Keys(segs)) {
			res.BySegment = append(res.BySegment, compare(name, sg, get(groups, [3]string{name, ab.A, sg}), get(groups, [3]string{name, ab.B, sg}), ab))
		}
		rep.ABTests = append(rep.ABTests, res)
	}
	return rep, nil
}

func (g *OnlineGroup) add(o *OnlineGroup) {
	g.Impressions += o.Impressions
	g.ItemsShown += o.ItemsShown
	g.Clicks += o.Clicks
	g.AddToCarts += o.AddToCarts
	g.Purchases += o.Purchases
	g.Revenue += o.Revenue
}

// sortedGroups computes the rates and sorts by scenario, version, segment.
func sortedGroups(m map[[3]string]*OnlineGroup) []OnlineGroup {
	out := make([]OnlineGroup, 0, len(m))
	for _, g := range m {
		if g.Impressions > 0 {
			g.CTR = float64(g.Clicks) / float64(g.Impressions)
			g.Conversion = float64(g.Purchases) / float64(g.Impressions)
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b OnlineGroup) int {
		if c := cmp.Compare(a.Scenario, b.Scenario); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ModelVersion, b.ModelVersion); c != 0 {
			return c
		}
		return cmp.Compare(a.Segment, b.Segment)
	})
	return out
}

// twoProportionP is the two-sided p-value of the pooled two-proportion
// z-test of x1/n1 against x2/n2 (1 when it is undefined).
func twoProportionP(x1, n1, x2, n2 int64) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	p := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(p * (1 - p) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return 1
	}
	z := (p2 - p1) / se
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}
