package eval

import (
	"context"
	"fmt"
	"time"
)

type progressKey struct{}

// WithProgress returns a context under which Run, Search and Halving tell
// report each step of a long evaluation as it starts or ends (a fold's
// fit, its answers, each parameter set's validation score), so that a
// run of many minutes says where it is.
func WithProgress(ctx context.Context, report func(step string)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// progress reports a step to the context's WithProgress function, if any.
func progress(ctx context.Context, format string, args ...any) {
	if report, ok := ctx.Value(progressKey{}).(func(string)); ok && report != nil {
		report(fmt.Sprintf(format, args...))
	}
}

// took rounds a step's duration for a progress line: to the millisecond
// under a second, else to the second.
func took(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
