package analytics

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/shareddata"
)

// BenchmarkOnlineRetail times the analyses on all of Online Retail, the
// data read once beforehand.
func BenchmarkOnlineRetail(b *testing.B) {
	path := shareddata.Path(b, filepath.Join("online-retail", "online-retail.csv.gz"))
	data, err := dataset.ReadRecords(context.Background(), "online-retail:"+path)
	if err != nil {
		b.Fatal(err)
	}
	skip := func(id tailor.ItemID) bool { it, ok := data.Items[id]; return ok && it.NonProduct }
	ps := Purchases(data.Events, skip)
	end := ps[0].Time
	for _, p := range ps {
		if p.Time.After(end) {
			end = p.Time
		}
	}
	b.Run("rfm+cohorts+funnel", func(b *testing.B) {
		for b.Loop() {
			ps := Purchases(data.Events, skip)
			if _, err := ComputeRFM(ps, end.AddDate(0, 0, 1)); err != nil {
				b.Fatal(err)
			}
			if _, err := Cohorts(ps, "month"); err != nil {
				b.Fatal(err)
			}
			if _, err := ComputeFunnel(data.Events, FunnelOptions{Steps: []tailor.EventType{"purchase", "return"}, Window: 90 * 24 * time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bgnbd+gamma-gamma", func(b *testing.B) {
		for b.Loop() {
			if _, err := ComputeCLV(ps, end, 52); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("propensity", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := EvaluatePropensity(ps, 30*24*time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}
