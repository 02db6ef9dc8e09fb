package app

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/controller/mysqladdon"
)

// newDeleteAddonCommand is run by the install chart's pre-delete hook, while the operator is
// still there to uninstall the addon's Tasks and Functions.
func newDeleteAddonCommand() *cobra.Command {
	var name string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete-mysqladdon",
		Short: "Delete a MySQLAddon and wait until the operator has uninstalled it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := mysqladdon.DeleteAndWait(cmd.Context(), c, name, timeout); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "MySQLAddon %s uninstalled\n", name)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the MySQLAddon")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Minute, "how long to wait for the operator to uninstall it")
	return cmd
}
