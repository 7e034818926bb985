package rebuy

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/shareddata"
)

var d0 = time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)

func TestRanksAndDueDates(t *testing.T) {
	var ps []Purchase
	add := func(item string, days ...int) {
		for _, d := range days {
			ps = append(ps, Purchase{User: "u", Item: item, Time: d0.AddDate(0, 0, d)})
		}
	}
	add("coffee", 0, 14, 28, 42)     // every two weeks, last on day 42: due on day 56
	add("tea", 0, 7, 14, 21, 28, 35) // weekly, stopped on day 35
	add("mug", 10)                   // once
	add("filters", 0, 60)            // the second after the cutoff
	at := d0.AddDate(0, 0, 56)
	m := Fit(ps, at)
	got := m.Recommend("u", at, 10)
	if len(got) != 4 || got[0].Item != "tea" || got[1].Item != "coffee" {
		t.Fatalf("ranking = %+v", got)
	}
	coffee, tea := got[1], got[0]
	if !coffee.ExpectedNext.Equal(day(at)) || coffee.IntervalDays != 14 || coffee.Times != 4 {
		t.Errorf("coffee = %+v, want due on day 56", coffee)
	}
	if tea.Ratio < 2.9 || tea.Ratio > 3.1 {
		t.Errorf("tea, three weeks since a weekly purchase: ratio %v", tea.Ratio)
	}
	for _, d := range got {
		if d.Item == "filters" && d.Times != 1 {
			t.Errorf("filters counts a purchase after the cutoff: %+v", d)
		}
	}
	if f := m.Frequent("u", 1); f[0] != "tea" {
		t.Errorf("most frequent = %v", f)
	}
	if r := m.Recent("u", 1); r[0] != "coffee" {
		t.Errorf("most recent = %v", r)
	}
	if len(m.Recommend("nobody", at, 5)) != 0 {
		t.Error("an unknown shopper has purchases")
	}
}

// TestOnlineRetail: train before 2011-09-01, returning customers; rebuy
// must beat both baselines.
func TestOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	path := shareddata.Path(t, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := eval.Load(context.Background(), "online-retail:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ps := FromEvents(data.Events, func(id tailor.ItemID) bool { return data.Items[id].NonProduct })
	scores := Evaluate(ps, time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC))
	for _, s := range scores {
		t.Logf("%-9s recall@10 %.4f ndcg@10 %.4f (%d shoppers)", s.Model, s.Recall, s.NDCG, s.Users)
	}
	if !(scores[0].Recall > scores[1].Recall && scores[0].Recall > scores[2].Recall && scores[0].NDCG > scores[1].NDCG && scores[0].NDCG > scores[2].NDCG) {
		t.Errorf("rebuy is not ahead of both baselines: %+v", scores)
	}
}
