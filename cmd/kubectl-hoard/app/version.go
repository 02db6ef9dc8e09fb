package app

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/version"
)

func newVersionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(e.out, "kubectl-"+version.String())
			return err
		},
	}
}
