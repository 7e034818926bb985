package recommend

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/llm/explain"
	"github.com/tailorhq/tailor/internal/llm/rerank"
)

func TestParseRulesNamesTheField(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{"categories":[" "]}`, "categories[0]"},
		{`{"min_price":-1}`, "min_price"},
		{`{"min_price":5,"max_price":1}`, "min_price"},
		{`{"attributes":{"color":[]}}`, "attributes.color"},
		{`{"exclude_seen":{"types":[],"within":"24h"}}`, "exclude_seen.types"},
		{`{"exclude_seen":{"types":["View!"],"within":"24h"}}`, "exclude_seen.types[0]"},
		{`{"exclude_seen":{"types":["view"],"within":"0s"}}`, "exclude_seen.within"},
		{`{"exclude_seen":{"types":["view"],"within":"a week"}}`, "rules"},
		{`{"boosts":[{"categories":["a"],"factor":0}]}`, "boosts[0].factor"},
		{`{"boosts":[{"factor":2}]}`, "boosts[0]"},
		{`{"pins":[{"item":"","position":1}]}`, "pins[0].item"},
		{`{"pins":[{"item":"a","position":101}]}`, "pins[0].position"},
		{`{"pins":[{"item":"a","position":1},{"item":"b","position":1}]}`, "pins[1].position"},
		{`{"max_per_category":-1}`, "max_per_category"},
		{`{"mmr_lambda":1}`, "mmr_lambda"},
		{`{"fresh_days":3}`, "fresh_boost"},
		{`{"ab_test":{"a":"v1","b":"v1","share_b":0.5}}`, "ab_test.b"},
		{`{"ab_test":{"a":"v1","b":"v2","share_b":0}}`, "ab_test.share_b"},
		{`{"colour":"red"}`, "rules"},
		{`{"route":{"attribute":"","scenarios":{"a":"b"}}}`, "route.attribute"},
		{`{"route":{"attribute":"segment","scenarios":{}}}`, "route.scenarios"},
		{`{"route":{"attribute":"segment","scenarios":{"x":"Bad Name"}}}`, "route.scenarios.x"},
	} {
		_, err := ParseRules([]byte(tc.json))
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != tc.field {
			t.Errorf("%s: error %v, want one for field %s", tc.json, err, tc.field)
		}
	}
	r, err := ParseRules([]byte(`{"categories":["a"],"pins":[{"item":"x","position":2}],"exclude_seen":{"types":["view"],"within":"720h"},"mmr_lambda":0.5}`))
	if err != nil || time.Duration(r.ExcludeSeen.Within) != 720*time.Hour || r.Pins[0].Position != 2 {
		t.Errorf("good rules: %+v, %v", r, err)
	}
}

func TestKeepAndBoost(t *testing.T) {
	price, no := 5.0, false
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	it := tailor.Item{ID: "a", Categories: []string{"mugs", "kitchen"}, Brand: "acme", Price: &price,
		Attributes: map[string]any{"color": "red", "size": 42.0}, CreatedAt: now.AddDate(0, 0, -2)}
	m := metaOf(&it)
	lo, hi := 1.0, 4.0
	for _, tc := range []struct {
		rules Rules
		keep  bool
	}{
		{Rules{}, true},
		{Rules{Categories: []string{"kitchen"}}, true},
		{Rules{Categories: []string{"toys"}}, false},
		{Rules{ExcludeCategories: []string{"mugs"}}, false},
		{Rules{MinPrice: &lo}, true},
		{Rules{MaxPrice: &hi}, false},
		{Rules{Attributes: map[string][]any{"color": {"blue", "red"}}}, true},
		{Rules{Attributes: map[string][]any{"size": {"42"}}}, true},
		{Rules{Attributes: map[string][]any{"material": {"clay"}}}, false},
		{Rules{ExcludeItems: []tailor.ItemID{"a"}}, false},
	} {
		if got := tc.rules.keep(&m); got != tc.keep {
			t.Errorf("%+v: keep = %v, want %v", tc.rules, got, tc.keep)
		}
	}
	// Category rules take in the paths below them, and only those.
	baking := metaOf(&tailor.Item{ID: "c", Categories: []string{"Kitchen/Baking/Tins", "Gifts"}})
	for _, tc := range []struct {
		rules Rules
		keep  bool
	}{
		{Rules{Categories: []string{"Kitchen"}}, true},
		{Rules{Categories: []string{"Kitchen/Baking"}}, true},
		{Rules{Categories: []string{"Kitchen/Baking/Tins"}}, true},
		{Rules{Categories: []string{"Kitchen/Bak"}}, false},
		{Rules{Categories: []string{"Kitch"}}, false},
		{Rules{Categories: []string{"Kitchen/Baking/Tins/Round"}}, false},
		{Rules{ExcludeCategories: []string{"Kitchen"}}, false},
		{Rules{ExcludeCategories: []string{"Kitchenware"}}, true},
	} {
		if got := tc.rules.keep(&baking); got != tc.keep {
			t.Errorf("%+v on %v: keep = %v, want %v", tc.rules, baking.categories, got, tc.keep)
		}
	}
	for _, tc := range []struct {
		rules Rules
		keep  bool
	}{
		{Rules{}, true},
	} {
		if got := tc.rules.keep(&m); got != tc.keep {
			t.Errorf("%+v: keep = %v, want %v", tc.rules, got, tc.keep)
		}
	}
	out := tailor.Item{ID: "b", InStock: &no}
	mo := metaOf(&out)
	if (&Rules{InStockOnly: true}).keep(&mo) || !(&Rules{}).keep(&mo) {
		t.Error("in_stock_only does not drop an item out of stock (or the default does)")
	}
	hidden := metaOf(&tailor.Item{ID: "h", Hidden: true})
	if (&Rules{}).keep(&hidden) {
		t.Error("a hidden item passes")
	}
	r := Rules{Boosts: []Boost{{Categories: []string{"mugs"}, Factor: 2}, {Brand: "acme", Factor: 3}, {Items: []tailor.ItemID{"z"}, Factor: 5}},
		FreshDays: 7, FreshBoost: 1.5}
	if f := r.factor(&m, now); f != 2*3*1.5 {
		t.Errorf("factor = %v, want 9", f)
	}
	if f := (&Rules{Boosts: []Boost{{Categories: []string{"Kitchen"}, Factor: 2}}}).factor(&baking, now); f != 2 {
		t.Errorf("a boost of a parent category: factor %v, want 2", f)
	}
	if boosted(-1, 2) <= boosted(-1, 1) || boosted(1, 2) <= boosted(1, 1) {
		t.Error("a larger boost does not rank higher")
	}
}

func TestDiversify(t *testing.T) {
	e := &Engine{catalog: map[tailor.ItemID]*meta{}}
	var cands []cand
	for i, c := range []string{"a", "a", "a", "b", "a", "b", "c"} {
		id := tailor.ItemID(string(rune('p' + i)))
		e.catalog[id] = &meta{id: id, categories: []string{c}}
		cands = append(cands, cand{id: id, score: float64(10 - i)})
	}
	got := e.diversify(slices.Clone(cands), &Rules{MaxPerCategory: 2}, 5) // it works in place
	var cats []string
	for _, c := range got {
		cats = append(cats, e.catalog[c.id].categories[0])
	}
	if strings.Join(cats, "") != "aabbc" {
		t.Errorf("max 2 per category: %v", cats)
	}
	// The list is cut at what the request can show: want and its pins.
	for want := 1; want <= 6; want++ {
		for pins := range 2 {
			rules := &Rules{MaxPerCategory: 2, Pins: make([]Pin, pins)}
			got := e.diversify(slices.Clone(cands), rules, want)
			full := []tailor.ItemID{"p", "q", "s", "u", "v"} // aabbc: r and t are a third "a"
			if ids := itemsOf(got); !slices.Equal(ids, full[:min(want+pins, len(full))]) {
				t.Errorf("max 2 per category, %d wanted, %d pins: %v", want, pins, ids)
			}
		}
	}
	got = e.diversify(cands, &Rules{MMRLambda: 0.3}, 3)
	seen := map[string]bool{}
	for _, c := range got {
		seen[e.catalog[c.id].categories[0]] = true
	}
	if len(seen) != 3 {
		t.Errorf("MMR with λ 0.3 picked categories %v, want three different", seen)
	}
}

func TestRecommendationIDAndAB(t *testing.T) {
	for _, tc := range []struct{ version, scenario, segment string }{{"V1", "home", ""}, {"V1", "", ""}, {"V1", "", "lost"}, {"V1", "cart", "champions"}} {
		id := newID(tc.version, tc.scenario, tc.segment)
		if v, s, g, ok := ParseRecommendationID(id); !ok || v != tc.version || s != tc.scenario || g != tc.segment {
			t.Errorf("parse %s = %s %s %s %v", id, v, s, g, ok)
		}
	}
	if _, _, _, ok := ParseRecommendationID("someone-elses-id"); ok {
		t.Error("a foreign id parsed")
	}
	ab := ABTest{A: "A", B: "B", ShareB: 0.3}
	nb := 0
	for i := 0; i < 10000; i++ {
		u := tailor.UserID("u" + string(rune(i%26+'a')) + strings.Repeat("x", i%7) + string(rune(i)))
		arm := ab.arm("s", u)
		if arm != ab.arm("s", u) {
			t.Fatal("an arm is not stable")
		}
		if arm == "B" {
			nb++
		}
	}
	if nb < 2700 || nb > 3300 {
		t.Errorf("%d of 10,000 shoppers in B, want about 3,000", nb)
	}
	// 30/1000 against 50/1000: z = 2.29, two-sided p = 0.022.
	if p := twoProportionP(30, 1000, 50, 1000); math.Abs(p-0.022) > 0.001 {
		t.Errorf("p = %.4f, want 0.022", p)
	}
	if p := twoProportionP(1, 0, 1, 10); p != 1 {
		t.Errorf("no impressions: p = %v, want 1", p)
	}
}

func itemsOf(cands []cand) []tailor.ItemID {
	var ids []tailor.ItemID
	for _, c := range cands {
		ids = append(ids, c.id)
	}
	return ids
}

// reverse orders candidates last first, or fails.
type reverse struct {
	fail   bool
	recent []rerank.Product
}

func (r *reverse) Order(_ context.Context, recent, cands []rerank.Product) ([]tailor.ItemID, error) {
	r.recent = recent
	if r.fail {
		return nil, errors.New("timeout")
	}
	var out []tailor.ItemID
	for i := len(cands) - 1; i >= 0; i-- {
		out = append(out, cands[i].ID)
	}
	return out, nil
}

// TestLLMOrder: the chat model's order is taken around the pinned items,
// with the shopper's strongest items as context; on its error the order
// is kept and counted.
func TestLLMOrder(t *testing.T) {
	r := &reverse{}
	e := &Engine{catalog: map[tailor.ItemID]*meta{}, met: newMetrics(nil), log: slog.New(slog.DiscardHandler), opts: Options{LLMRanker: r}}
	for _, id := range []tailor.ItemID{"a", "b", "c", "d", "h"} {
		e.catalog[id] = &meta{id: id, title: "TITLE " + string(id)}
	}
	cands := []cand{{id: "a"}, {id: "b", reason: "pinned"}, {id: "c"}, {id: "d"}}
	hist := &history{items: []histItem{{id: "h"}}}
	if got := itemsOf(e.llmOrder(context.Background(), cands, hist)); !slices.Equal(got, []tailor.ItemID{"d", "b", "c", "a"}) {
		t.Errorf("ordered: %v", got)
	}
	if len(r.recent) != 1 || r.recent[0].Title != "TITLE h" {
		t.Errorf("the shopper's items sent: %+v", r.recent)
	}
	r.fail = true
	if got := itemsOf(e.llmOrder(context.Background(), cands, nil)); !slices.Equal(got, []tailor.ItemID{"a", "b", "c", "d"}) {
		t.Errorf("kept: %v", got)
	}
	if testutil.ToFloat64(e.met.llmRerank.WithLabelValues("kept")) != 1 || testutil.ToFloat64(e.met.llmRerank.WithLabelValues("ordered")) != 1 {
		t.Error("the outcomes were not counted")
	}
}

// sentencer writes "WHY: reason", or fails.
type sentencer struct{ fail bool }

func (s sentencer) Sentences(_ context.Context, items []explain.Evidence) (map[tailor.ItemID]string, error) {
	if s.fail {
		return nil, errors.New("timeout")
	}
	out := map[tailor.ItemID]string{}
	for _, it := range items[:len(items)-1] { // leaves the last one out
		out[it.ID] = "WHY: " + it.Title + " " + it.Reason
	}
	return out, nil
}

// TestSentences: the chat model's sentences are given beside the reasons
// (an item it left out has none); on its error the reasons stand alone.
func TestSentences(t *testing.T) {
	e := &Engine{catalog: map[tailor.ItemID]*meta{"a": {id: "a", title: "TEAPOT"}, "b": {id: "b", title: "MUG"}}, met: newMetrics(nil), log: slog.New(slog.DiscardHandler),
		opts: Options{Sentencer: sentencer{}}}
	resp := &Response{Items: []Item{{ItemID: "a", Reason: "trending"}, {ItemID: "b", Reason: "because you bought CUP"}}}
	e.sentences(context.Background(), resp)
	if resp.Items[0].Explanation != "WHY: TEAPOT trending" || resp.Items[1].Explanation != "" || resp.Items[0].Reason != "trending" {
		t.Errorf("written: %+v", resp.Items)
	}
	e.opts.Sentencer = sentencer{fail: true}
	resp = &Response{Items: []Item{{ItemID: "a", Reason: "trending"}}}
	e.sentences(context.Background(), resp)
	if resp.Items[0].Explanation != "" || testutil.ToFloat64(e.met.llmSentences.WithLabelValues("kept")) != 1 {
		t.Errorf("kept: %+v", resp.Items)
	}
}
