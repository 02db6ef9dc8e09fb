package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/trigger"
)

// waitFlags are --wait and --timeout of the commands that start a session.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (w *waitFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "follow the "+what+": print its progress and result, exit non-zero when it fails")
	cmd.Flags().DurationVar(&w.timeout, "timeout", 30*time.Minute, "how long --wait follows before giving up (the "+what+" goes on)")
}

func newTriggerCommand(e *env) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:               "trigger <backupconfiguration>",
		Short:             "Back up now: create a BackupSession for the BackupConfiguration",
		Example:           "  kubectl hoard trigger sample-mysql-backup -n demo --wait",
		Args:              exactlyOne("backupconfiguration"),
		ValidArgsFunction: e.completeNames(&stashv1beta1.BackupConfigurationList{}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.trigger(cmd.Context(), args[0], w)
		},
	}
	w.add(cmd, "BackupSession")
	return cmd
}

func (e *env) trigger(ctx context.Context, name string, w waitFlags) error {
	namespace, err := e.namespace()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	// Read first, so that a wrong name or a missing right gets its own explanation.
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &stashv1beta1.BackupConfiguration{}); err != nil {
		return explain(err, "BackupConfiguration", "backupconfigurations", namespace, name, "get")
	}
	s, err := trigger.Trigger(ctx, c, namespace, name, time.Now)
	switch {
	case errors.Is(err, trigger.ErrPaused):
		return fmt.Errorf("BackupConfiguration %s/%s is paused: `kubectl hoard resume %s -n %s` resumes it", namespace, name, name, namespace)
	case err != nil:
		return err
	}
	if _, err := fmt.Fprintf(e.out, "BackupSession %s/%s created\n", s.Namespace, s.Name); err != nil {
		return err
	}
	if !w.wait {
		return nil
	}
	return follow(ctx, e.out, "backupsession/"+s.Name, e.poll, w.timeout, func(ctx context.Context) (report, error) {
		bs := &stashv1beta1.BackupSession{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s), bs); err != nil {
			return report{}, explain(err, "BackupSession", "backupsessions", s.Namespace, s.Name, "get")
		}
		return backupReport(bs), nil
	})
}

// exactlyOne requires one positional argument, named in the error.
func exactlyOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s needs one %s name, got %d arguments: %s", cmd.CommandPath(), what, len(args), cmd.UseLine())
		}
		return nil
	}
}
