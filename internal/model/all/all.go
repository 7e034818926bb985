// Package all lists the models in this build. Adding a model is one
// package and one line here.
package all

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tailorhq/tailor/internal/model"
	"github.com/tailorhq/tailor/internal/model/blend"
	"github.com/tailorhq/tailor/internal/model/bpr"
	"github.com/tailorhq/tailor/internal/model/buyagain"
	"github.com/tailorhq/tailor/internal/model/content"
	"github.com/tailorhq/tailor/internal/model/ease"
	"github.com/tailorhq/tailor/internal/model/fbt"
	"github.com/tailorhq/tailor/internal/model/gru4rec"
	"github.com/tailorhq/tailor/internal/model/ials"
	"github.com/tailorhq/tailor/internal/model/itemknn"
	"github.com/tailorhq/tailor/internal/model/popcat"
	"github.com/tailorhq/tailor/internal/model/popular"
	"github.com/tailorhq/tailor/internal/model/random"
	"github.com/tailorhq/tailor/internal/model/ranker"
	"github.com/tailorhq/tailor/internal/model/rebuy"
	"github.com/tailorhq/tailor/internal/model/repeatexplore"
	"github.com/tailorhq/tailor/internal/model/rp3beta"
	"github.com/tailorhq/tailor/internal/model/sasrec"
	"github.com/tailorhq/tailor/internal/model/semantic"
	"github.com/tailorhq/tailor/internal/model/sknn"
	"github.com/tailorhq/tailor/internal/model/slim"
	"github.com/tailorhq/tailor/internal/model/textsearch"
	"github.com/tailorhq/tailor/internal/model/tifuknn"
	"github.com/tailorhq/tailor/internal/model/userknn"
)

// Models returns every model of this build, by name.
func Models() []model.Info {
	return []model.Info{
		// Collaborative models over the training matrix.
		popular.Info(),
		itemknn.Info(),
		userknn.Info(),
		buyagain.Info(),
		ease.Info(),
		rp3beta.Info(),
		ials.Info(),
		bpr.Info(),
		slim.Info(),
		blend.Info(Lookup),
		// Baskets, sessions and repurchases.
		fbt.Info(),
		fbt.CooccurInfo(),
		sknn.Info(),
		sknn.VSKNNInfo(),
		sknn.STANInfo(),
		sknn.LastItemInfo(),
		rebuy.Info(),
		tifuknn.Info(),
		repeatexplore.Info(Lookup),
		ranker.Info(Lookup),
		sasrec.Info(),
		gru4rec.Info(),
		rebuy.FrequentInfo(),
		rebuy.RecentInfo(),
		// Content, search and baselines.
		content.Info(),
		popcat.Info(),
		random.Info(),
		textsearch.Info(Lookup),
		semantic.Info(),
		semantic.HybridInfo(),
	}
}

// Names returns the names of every model of this build.
func Names() []string {
	ms := Models()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return names
}

// Lookup returns the model with the name.
func Lookup(name string) (model.Info, error) {
	ms := Models()
	if i := slices.IndexFunc(ms, func(m model.Info) bool { return m.Name == name }); i >= 0 {
		return ms[i], nil
	}
	return model.Info{}, fmt.Errorf("unknown model %q: use one of %s", name, strings.Join(Names(), ", "))
}

// For returns the names of the models that answer the task, in the order
// of Models.
func For(t model.Task) []string {
	var out []string
	for _, info := range Models() {
		if ts, err := info.TasksOf(); err == nil && slices.Contains(ts, t) {
			out = append(out, info.Name)
		}
	}
	return out
}
