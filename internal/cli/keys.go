package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/config"
)

func newKeysCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Make API keys and the configuration lines that admit them",
	}
	var role, name string
	gen := &cobra.Command{
		Use:   "generate --role read|write|admin [--name NAME]",
		Short: "Generate a random API key and print it with its config entry",
		Args:  args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			if !slices.Contains(config.Roles, role) {
				return usageError{fmt.Errorf("--role %q: use one of %s", role, strings.Join(config.Roles, ", "))}
			}
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			key := "tk_" + base64.RawURLEncoding.EncodeToString(b)
			if name == "" {
				name = role
			}
			fmt.Fprintf(stdout, "API key (shown once; store it in your shop's secrets):\n  %s\n\n", key)
			fmt.Fprintf(stdout, "Add to the config file (only the hash is kept):\n")
			fmt.Fprintf(stdout, "[[auth.keys]]\nname = %q\nrole = %q\nsha256 = %q\n\n", name, role, config.HashKey(key))
			fmt.Fprintf(stdout, "or set in the environment: TAILOR_API_KEYS=%s:%s\n", role, key)
			return nil
		},
	}
	gen.Flags().StringVar(&role, "role", "", "read, write or admin")
	gen.Flags().StringVar(&name, "name", "", "a name for the key, shown in logs")
	hash := &cobra.Command{
		Use:   "hash KEY",
		Short: "Print the SHA-256 of a key, as the config file stores it",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			fmt.Fprintln(stdout, config.HashKey(args[0]))
			return nil
		},
	}
	cmd.AddCommand(gen, hash)
	return cmd
}
