package app

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// newPauseCommand is `pause` (paused true) or `resume` (false): it sets the configuration's
// spec.paused, as Stash's CLI did; the operator suspends or resumes the CronJob.
func newPauseCommand(e *env, paused bool) *cobra.Command {
	use, short := "pause", "Stop scheduled backups: set spec.paused on the BackupConfiguration (its CronJob is suspended)"
	if !paused {
		use, short = "resume", "Resume scheduled backups: clear spec.paused on the BackupConfiguration"
	}
	return &cobra.Command{
		Use:               use + " <backupconfiguration>",
		Short:             short,
		Example:           "  kubectl hoard " + use + " sample-mysql-backup -n demo",
		Args:              exactlyOne("backupconfiguration"),
		ValidArgsFunction: e.completeNames(&stashv1beta1.BackupConfigurationList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.setPaused(cmd.Context(), args[0], paused)
		},
	}
}

func (e *env) setPaused(ctx context.Context, name string, paused bool) error {
	namespace, err := e.namespace()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	bc := &stashv1beta1.BackupConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, bc); err != nil {
		return explain(err, "BackupConfiguration", "backupconfigurations", namespace, name, "get")
	}
	word := map[bool]string{true: "paused", false: "resumed"}[paused]
	if bc.Spec.Paused == paused {
		_, err := fmt.Fprintf(e.out, "BackupConfiguration %s/%s is already %s\n", namespace, name, word)
		return err
	}
	// A merge patch of the one field: nothing else the user or the operator wrote is touched.
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"paused":%t}}`, paused))
	if err := c.Patch(ctx, bc, patch); err != nil {
		return explain(err, "BackupConfiguration", "backupconfigurations", namespace, name, "patch")
	}
	_, err = fmt.Fprintf(e.out, "BackupConfiguration %s/%s %s\n", namespace, name, word)
	return err
}
