// Package app holds the hoard command's cobra commands.
package app

import (
	"fmt"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/internal/scheme"
)

// NewRootCommand returns the hoard command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "hoard",
		Short:         "Hoard backs up MySQL and MariaDB into restic repositories (Stash v1beta1 API)",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newRunCommand(), newVersionCommand(), newTriggerCommand(), newUpdateStatusCommand(), newRunHookCommand(), newWipeRepositoryCommand(), newSnapshotsCommand(), newDeleteAddonCommand(), newRepositoryOperationCommand())
	return root
}

// newClient returns an API client from the in-cluster configuration or KUBECONFIG, for the
// commands that run in the operator's CronJobs and hooks.
func newClient() (client.Client, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("failed to create client: %w", err)
	}
	return c, nil
}
