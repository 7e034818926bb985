package recommend

import (
	"context"
	"fmt"
	"log/slog"
)

// scenarios are the stored scenarios, parsed; a snapshot never changes
// once published.
type scenarios struct {
	rules map[string]Rules
}

// RefreshScenarios reads the stored scenarios and publishes them. A stored
// scenario that no longer parses (rules checked by an older version) is
// left out and logged.
func (e *Engine) RefreshScenarios(ctx context.Context) error {
	raw, err := e.src.Scenarios(ctx)
	if err != nil {
		return fmt.Errorf("read the scenarios: %w", err)
	}
	sc := &scenarios{rules: make(map[string]Rules, len(raw))}
	for name, r := range raw {
		rules, err := ParseRules(r)
		if err != nil {
			e.log.Error("a stored scenario is not valid; it is not served", slog.String("scenario", name), slog.Any("err", err))
			continue
		}
		sc.rules[name] = rules
	}
	e.scen.Store(sc)
	return nil
}

// ScenariosChanged reads the scenarios again after the API changed one.
func (e *Engine) ScenariosChanged(ctx context.Context) error { return e.RefreshScenarios(ctx) }

// scenario returns a stored scenario's rules.
func (e *Engine) scenario(name string) (Rules, bool) {
	r, ok := e.scen.Load().rules[name]
	return r, ok
}
