// Package all lists the evaluation protocols of this build. Adding a
// protocol is one package and one line here.
package all

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tailorhq/tailor/internal/eval"
	"github.com/tailorhq/tailor/internal/protocol/basket"
	"github.com/tailorhq/tailor/internal/protocol/coldstart"
	"github.com/tailorhq/tailor/internal/protocol/kfold"
	"github.com/tailorhq/tailor/internal/protocol/loo"
	"github.com/tailorhq/tailor/internal/protocol/ml100kfolds"
	"github.com/tailorhq/tailor/internal/protocol/rebuy"
	"github.com/tailorhq/tailor/internal/protocol/recbole"
	"github.com/tailorhq/tailor/internal/protocol/searchreplay"
	"github.com/tailorhq/tailor/internal/protocol/sessionnext"
	"github.com/tailorhq/tailor/internal/protocol/temporal"
)

// Protocols returns every protocol of this build.
func Protocols() []eval.Protocol {
	return []eval.Protocol{
		kfold.Protocol(),
		ml100kfolds.Protocol(),
		recbole.Protocol(),
		loo.Protocol(),
		loo.SampledProtocol(),
		temporal.Protocol(),
		basket.Protocol(),
		sessionnext.Protocol(),
		rebuy.Protocol(),
		coldstart.Protocol(),
		searchreplay.Protocol(),
	}
}

// Names returns the protocols' names.
func Names() []string {
	ps := Protocols()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// Lookup returns the protocol with the name.
func Lookup(name string) (eval.Protocol, error) {
	ps := Protocols()
	if i := slices.IndexFunc(ps, func(p eval.Protocol) bool { return p.Name == name }); i >= 0 {
		return ps[i], nil
	}
	return eval.Protocol{}, fmt.Errorf("unknown protocol %q: use one of %s, or price-backtest", name, strings.Join(Names(), ", "))
}
