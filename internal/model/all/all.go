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
	"github.com/tailorhq/tailor/internal/model/ease"
	"github.com/tailorhq/tailor/internal/model/ials"
	"github.com/tailorhq/tailor/internal/model/itemknn"
	"github.com/tailorhq/tailor/internal/model/popular"
	"github.com/tailorhq/tailor/internal/model/rp3beta"
	"github.com/tailorhq/tailor/internal/model/slim"
	"github.com/tailorhq/tailor/internal/model/userknn"
)

// Models returns every model of this build, by name.
func Models() []model.Info {
	return []model.Info{
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
	}
}

// Lookup returns the model with the name.
func Lookup(name string) (model.Info, error) {
	ms := Models()
	if i := slices.IndexFunc(ms, func(m model.Info) bool { return m.Name == name }); i >= 0 {
		return ms[i], nil
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return model.Info{}, fmt.Errorf("unknown model %q: use one of %s", name, strings.Join(names, ", "))
}
