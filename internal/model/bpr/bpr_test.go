package bpr

import (
	"context"
	"slices"
	"testing"

	"github.com/tailorhq/tailor/internal/model/modeltest"
)

func TestFitLearnsAndIsSeeded(t *testing.T) {
	d := modeltest.Clusters(t)
	for _, neg := range []string{"uniform", "popularity"} {
		t.Run(neg, func(t *testing.T) {
			fit := func(seed uint64) *Model {
				// Small data starts slowly from small vectors: patience 10.
				m, err := New(Config{Factors: 8, Negatives: neg, Epochs: 60, Patience: 10, LearningRate: 0.1}, seed)
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Fit(context.Background(), d); err != nil {
					t.Fatal(err)
				}
				return m
			}
			a, b := fit(3), fit(3)
			if !slices.Equal(a.ItemVectors(), b.ItemVectors()) {
				t.Error("the same seed gave different vectors")
			}
			// Every user's top 10 new items come from their own half.
			wrong := 0
			for u := int32(0); u < 200; u++ {
				for _, e := range a.Recommend(u, 10, func(i int32) bool { return d.Has(u, i) }, nil) {
					if e.Index/30 != u%2 {
						wrong++
					}
				}
			}
			t.Logf("epochs %d, best %d", a.Epochs, a.BestEpoch)
			if wrong > 20 { // of 2,000 recommendations
				t.Errorf("%d of 2,000 recommendations from the other half", wrong)
			}
		})
	}
}
