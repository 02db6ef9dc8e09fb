package app

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/trigger"
)

func newTriggerCommand() *cobra.Command {
	var namespace, name string
	cmd := &cobra.Command{
		Use:   "trigger",
		Short: "Create a BackupSession for a BackupConfiguration (what its CronJob runs)",
		Long: "Create a BackupSession named <backupconfiguration>-<unix seconds> for the BackupConfiguration.\n" +
			"Uses the in-cluster configuration, or KUBECONFIG. Refuses while the configuration is paused.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			s, err := trigger.Trigger(cmd.Context(), c, namespace, name, time.Now)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "BackupSession %s/%s created\n", s.Namespace, s.Name)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&namespace, "namespace", "", "namespace of the BackupConfiguration")
	f.StringVar(&name, "backupconfiguration", "", "name of the BackupConfiguration")
	_ = cmd.MarkFlagRequired("namespace")
	_ = cmd.MarkFlagRequired("backupconfiguration")
	return cmd
}
