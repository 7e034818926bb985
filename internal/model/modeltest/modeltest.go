// Package modeltest holds training data that the models' tests share.
package modeltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tailorhq/tailor/internal/feature"
)

// Clusters returns 200 users who each take about 15 items (each with
// probability ½, seeded) from one of two disjoint 30-item halves of a
// 60-item catalog: even users the first half, odd users the second. A
// model that learns anything ranks a user's own half first.
func Clusters(t testing.TB) *feature.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 5))
	var xs []feature.Interaction
	users, items := make([]string, 200), make([]string, 60)
	for u := range users {
		users[u] = fmt.Sprint("u", u)
		half := int32(u % 2)
		for i := int32(0); i < 30; i++ {
			if r.Float64() < 0.5 {
				xs = append(xs, feature.Interaction{User: int32(u), Item: half*30 + i, Weight: 1})
			}
		}
	}
	for i := range items {
		items[i] = fmt.Sprint("i", i)
	}
	d, err := feature.Build(users, items, xs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// CheckGradients compares the analytic gradient g (one slice per
// parameter slice of params) of a loss with central finite differences of
// loss (steps of 1e-3, a tolerance of 3% or 0.03), reporting each entry
// that differs.
func CheckGradients(t testing.TB, params, g [][]float32, loss func() float64) {
	t.Helper()
	for pi, p := range params {
		for i := range p {
			old := p[i]
			p[i] = old + 1e-3
			up := loss()
			p[i] = old - 1e-3
			down := loss()
			p[i] = old
			num := (up - down) / 2e-3
			if math.Abs(num-float64(g[pi][i])) > 3e-2*math.Max(1, math.Abs(num)) {
				t.Errorf("param %d[%d]: analytic %v, numeric %v", pi, i, g[pi][i], num)
			}
		}
	}
}

// CheckPooledScores checks that a sequence model's answering scores
// (pooled) equal its training forward pass's (forward) to the bit, over a
// catalog of n items, for sequences of 1 to 15 items of item(0), item(5),
// … (shorter and longer than a max_len of 10), each length twice so that
// reused buffers are checked too.
func CheckPooledScores(t testing.TB, n int, item func(int) int32, forward, pooled func(seq []int32, out []float32)) {
	t.Helper()
	for _, l := range []int{1, 4, 10, 15, 4, 15} {
		seq := make([]int32, l)
		for k := range seq {
			seq[k] = item(k * 5)
		}
		want, got := make([]float32, n), make([]float32, n)
		forward(seq, want)
		pooled(seq, got)
		if !slices.Equal(got, want) {
			t.Errorf("%d items: answering's scores %v, training's %v", l, got[:3], want[:3])
		}
	}
}
