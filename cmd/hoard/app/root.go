// Package app holds the hoard command's cobra commands.
package app

import (
	"github.com/spf13/cobra"
)

// NewRootCommand returns the hoard command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "hoard",
		Short:         "Hoard backs up MySQL and MariaDB into restic repositories (Stash v1beta1 API)",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newRunCommand(), newVersionCommand(), newTriggerCommand(), newUpdateStatusCommand(), newWipeRepositoryCommand(), newDeleteAddonCommand())
	return root
}
