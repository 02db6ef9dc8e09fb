package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/result"
)

// errStepFailed makes the command exit non-zero after it has reported a failed backup.
var errStepFailed = errors.New("the backup or restore step failed")

// newUpdateStatusCommand is the last step of every upstream-shaped Task. The database step
// already wrote its result; this step re-publishes it as its own termination message, where
// the operator reads it, and fails the pod when the database step failed. It needs no
// Kubernetes API access. Upstream's flags are accepted so existing Functions keep working.
func newUpdateStatusCommand() *cobra.Command {
	var outputDir, terminationLog string
	cmd := &cobra.Command{
		Use:   "update-status",
		Short: "Publish the result of a backup or restore step (the last step of a Task)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return updateStatus(cmd.OutOrStdout(), outputDir, terminationLog)
		},
	}
	f := cmd.Flags()
	f.StringVar(&outputDir, "output-dir", "", "directory where the previous step wrote "+result.FileName)
	f.StringVar(&terminationLog, "termination-log", result.TerminationMessagePath, "where the kubelet reads the termination message")
	// Upstream Stash's update-status flags: accepted and ignored, the operator derives all of
	// this from the session itself.
	for _, name := range []string{"namespace", "backupsession", "restoresession", "repository", "invoker-kind", "invoker-name",
		"target-kind", "target-name", "target-namespace", "provider", "bucket", "endpoint", "region", "path", "secret-dir",
		"scratch-dir", "max-connections", "metrics-pushgateway-url", "prometheus-job-name", "metrics-labels", "hostname", "enable-cache"} {
		f.String(name, "", "accepted for compatibility with upstream Functions; ignored")
	}
	f.Bool("metrics-enabled", false, "accepted for compatibility with upstream Functions; ignored")
	return cmd
}

func updateStatus(out io.Writer, outputDir, terminationLog string) error {
	if outputDir == "" {
		return errors.New("--output-dir is empty: the Task must pass the outputDir param to update-status")
	}
	res, err := result.ReadFile(outputDir)
	if err != nil {
		return fmt.Errorf("the previous step left no result in %s: %w", outputDir, err)
	}
	if err := result.WriteTerminationMessage(terminationLog, res); err != nil {
		return err
	}
	switch res.Phase {
	case result.PhaseSucceeded:
		snapshot := ""
		if len(res.Snapshots) > 0 {
			snapshot = ", snapshot " + res.Snapshots[0].Name
		}
		_, err := fmt.Fprintf(out, "%s of %s succeeded in %s%s\n", res.Kind, res.Hostname, res.Duration, snapshot)
		return err
	default:
		if _, err := fmt.Fprintf(out, "%s of %s failed: %s\n", res.Kind, res.Hostname, res.Error); err != nil {
			return err
		}
		return errStepFailed
	}
}
