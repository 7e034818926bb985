// Command tailor is the Tailor personalization engine: one binary that
// imports a shop's data, serves the API and runs the demo. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // Online Retail times are UK local time; do not depend on the host's zoneinfo

	"github.com/tailorhq/tailor/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
