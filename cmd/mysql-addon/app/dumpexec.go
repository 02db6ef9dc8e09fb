package app

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/addon"
)

// newDumpExecCommand is run by restic (backup --stdin-from-command) around mysqldump; see
// addon.RunDumpExec.
func newDumpExecCommand(stderr io.Writer) *cobra.Command {
	var statusFile string
	cmd := &cobra.Command{
		Use:    "dump-exec --status-file FILE -- COMMAND [ARG...]",
		Short:  "Run a dump command for restic and record how it ended",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if code := addon.RunDumpExec(statusFile, args, stderr); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&statusFile, "status-file", "", "where to record the command's exit status and last stderr lines")
	_ = cmd.MarkFlagRequired("status-file")
	// Everything after "--" belongs to mysqldump.
	cmd.Flags().SetInterspersed(false)
	return cmd
}
