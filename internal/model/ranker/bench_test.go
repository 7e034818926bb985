package ranker_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/shareddata"
)

// BenchmarkAnswer asks the ranker fitted on Online Retail for the top 10
// of its shoppers, by their histories as serving does.
func BenchmarkAnswer(b *testing.B) {
	path := shareddata.Path(b, filepath.Join("online-retail", "online-retail.csv.gz"))
	d, err := dataset.Load(context.Background(), "online-retail:"+path)
	if err != nil {
		b.Fatal(err)
	}
	info, _ := all.Lookup("ranker")
	m, err := info.New(nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Fit(context.Background(), d); err != nil {
		b.Fatal(err)
	}
	mx, _ := d.Matrix()
	var queries []model.Query
	for u := 0; u < d.NumUsers() && len(queries) < 500; u += 7 {
		items, weights := mx.Row(int32(u))
		q := model.Query{Task: model.TaskPersonal, User: -1, N: 10}
		for k, it := range items {
			q.History = append(q.History, model.Interaction{Item: it, Type: "purchase", Weight: weights[k], Time: mx.Times[mx.RowPtr[u]+int64(k)]})
		}
		queries = append(queries, q)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := queries[i%len(queries)]
		if _, err := m.Answer(&q, nil); err != nil {
			b.Fatal(err)
		}
	}
}
