package rebuy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
)

var d0 = time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)

func TestRanksAndDueDates(t *testing.T) {
	var events []tailor.Event
	add := func(user, item string, days ...int) {
		for _, d := range days {
			events = append(events, tailor.Event{ID: fmt.Sprint(user, item, d), UserID: tailor.UserID(user), ItemID: tailor.ItemID(item),
				Type: tailor.Purchase, Timestamp: d0.AddDate(0, 0, d)})
		}
	}
	add("u", "coffee", 0, 14, 28, 42)     // every two weeks, last on day 42: due on day 56
	add("u", "tea", 0, 7, 14, 21, 28, 35) // weekly, stopped on day 35
	add("u", "mug", 10)                   // once
	add("u", "filters", 0)                // once, then again after the cutoff
	add("v", "mug", 3, 33)                // another shopper: the mug's usual gap is 30 days
	d := dataset.FromEvents(events, nil)
	at := d0.AddDate(0, 0, 56)
	u, _ := d.UserIndex("u")
	var history []model.Interaction
	for _, e := range d.Events {
		if e.User == u {
			history = append(history, model.Interaction{Item: e.Item, Type: d.Type(&e), Time: e.Time})
		}
	}
	name := func(i int32) string { return d.Items[i] }
	for _, c := range []struct {
		model string
		first string
	}{{"rebuy", "tea"}, {"frequent", "tea"}, {"recent", "coffee"}} {
		info := map[string]model.Info{"rebuy": Info(), "frequent": FrequentInfo(), "recent": RecentInfo()}[c.model]
		m, err := info.New(nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Fit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		q := model.Query{Task: model.TaskRepurchase, User: -1, History: history, Time: at.UnixNano(), N: 10}
		got, err := m.Answer(&q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || name(got[0].Index) != c.first {
			t.Errorf("%s: ranking %v, want %s first of 4", c.model, got, c.first)
		}
		if c.model != "rebuy" {
			continue
		}
		coffee, _ := d.ItemIndex("coffee")
		due, ok := m.(model.DueDater).Due(&q, coffee)
		if !ok || due.Next != day(at.UnixNano()) || due.IntervalDays != 14 || due.Times != 4 {
			t.Errorf("coffee = %+v, want due on day 56 every 14 days, 4 times", due)
		}
		tea, _ := d.ItemIndex("tea")
		if due, _ := m.(model.DueDater).Due(&q, tea); due.Ratio < 2.9 || due.Ratio > 3.1 {
			t.Errorf("tea, three weeks since a weekly purchase: ratio %v", due.Ratio)
		}
		mug, _ := d.ItemIndex("mug")
		if due, _ := m.(model.DueDater).Due(&q, mug); due.IntervalDays != 30 {
			t.Errorf("u bought the mug once: its usual gap, 30 days, is theirs; got %v", due.IntervalDays)
		}
		// A shopper with no purchases has nothing to buy again.
		if got, _ := m.Answer(&model.Query{Task: model.TaskRepurchase, User: -1, N: 5}, nil); len(got) != 0 {
			t.Errorf("no purchases: %v", got)
		}
	}
	for _, bad := range []string{`{"half_life_days":-1}`, `{"repeat_power":-2}`} {
		if _, err := Info().New([]byte(bad), 1); err == nil {
			t.Errorf("rebuy accepted %s", bad)
		}
	}
}
