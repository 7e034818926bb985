package eval

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/fbt"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/shareddata"
)

// loadOnlineRetail reads the shared Online Retail dataset (skipping when
// it is missing).
func loadOnlineRetail(tb testing.TB) *Data {
	tb.Helper()
	path := shareddata.Path(tb, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := Load(context.Background(), "online-retail:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestBasketCompletionOnlineRetail runs the protocol on Online Retail
// (train before 2011-09-01): the mined rules must beat popularity.
func TestBasketCompletionOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	data := loadOnlineRetail(t)
	train, test := Baskets(data.Events, time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), data.NonProduct)
	scores, err := BasketCompletion(train, test, 1, fbt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		t.Logf("%-8s hit@10 %.4f mrr@10 %.4f over %d baskets", s.Model, s.HitRate, s.MRR, s.Baskets)
	}
	if !(scores[0].HitRate > scores[2].HitRate && scores[0].MRR > scores[2].MRR) {
		t.Errorf("fbt %+v is not ahead of popular %+v", scores[0], scores[2])
	}
}

// BenchmarkMineOnlineRetail times mining the rules of all Online Retail
// orders, read once beforehand.
func BenchmarkMineOnlineRetail(b *testing.B) {
	data := loadOnlineRetail(b)
	train, _ := Baskets(data.Events, time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC), data.NonProduct)
	var (
		m   *fbt.Model
		err error
	)
	for b.Loop() {
		if m, err = fbt.Mine(train, fbt.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(train)), "baskets")
	b.ReportMetric(float64(len(m.Rules)), "items-with-rules")
}

// TestSearchReplayOnlineRetail: personalization (EASE) must lift MRR@10.
func TestSearchReplayOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	data := loadOnlineRetail(t)
	info, err := all.Lookup("ease")
	if err != nil {
		t.Fatal(err)
	}
	scores, err := SearchReplay(context.Background(), data, time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), info, 0.3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		t.Logf("%-13s mrr@10 %.4f hit@10 %.4f over %d queries", s.Model, s.MRR, s.Hit, s.Queries)
	}
	if !(scores[1].MRR > scores[0].MRR) {
		t.Errorf("personalized MRR %.4f is not above the text-only %.4f", scores[1].MRR, scores[0].MRR)
	}
}

// TestColdItemsOnlineRetail: content must beat random and
// popularity-in-category on items without interactions.
func TestColdItemsOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 431,673 lines")
	}
	data := loadOnlineRetail(t)
	scores, err := ColdItems(data, time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		t.Logf("%-23s recall@20 %.4f over %d shoppers", s.Model, s.Recall, s.Users)
	}
	if !(scores[0].Recall > scores[1].Recall && scores[0].Recall > scores[2].Recall) {
		t.Errorf("content is not ahead: %+v", scores)
	}
}
