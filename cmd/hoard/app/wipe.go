package app

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/scrub"
	"github.com/hoard-operator/hoard/internal/wipe"
)

// newWipeRepositoryCommand is what the Repository controller's wipe Job runs when a
// Repository with wipeOut is deleted. The flags are those of the upstream backup Functions;
// credentials come only from the Secret mounted at --secret-dir.
func newWipeRepositoryCommand() *cobra.Command {
	var repo repositoryFlags
	cmd := &cobra.Command{
		Use:   "wipe-repository",
		Short: "Delete a restic repository's data (local: restic's files in the directory; others: forget every snapshot and prune)",
		Long: `Delete a restic repository's data.

local: the directory must be a restic repository (a config file and a keys directory with a
key); only restic's entries (config, keys, data, index, snapshots, locks) are deleted, anything
else is reported and left in place. A directory that is not a repository is refused.

other backends: every snapshot is forgotten by id and the repository pruned; restic keeps its
config and keys files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Everything this Job prints goes through one scrubber (repositoryFlags.open); a
			// local wipe runs no restic and prints only names.
			var sc *scrub.Scrubber
			stderr := cmd.ErrOrStderr()
			open := func() (*restic.Restic, error) {
				r, s, w, err := repo.open(cmd.ErrOrStderr())
				if err != nil {
					return nil, err
				}
				sc, stderr = s, w
				return r, nil
			}
			defer func() {
				if w, ok := stderr.(*scrub.ScrubWriter); ok {
					w.Flush()
				}
			}()
			rep, err := wipe.Repository(cmd.Context(), repo.cfg, open, wipe.RemoteOptions{SoleWriter: repo.soleWriter, Log: func(format string, args ...any) {
				fmt.Fprintf(stderr, format+"\n", args...)
			}})
			if err != nil {
				if sc != nil {
					return sc.Error(err)
				}
				return err
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), rep.Done()); err != nil {
				return err
			}
			if kept := rep.Kept(); kept != "" {
				_, err = fmt.Fprintln(cmd.ErrOrStderr(), kept)
			}
			return err
		},
	}
	f := cmd.Flags()
	repo.add(f, "no other process uses the repository: do not wait for locks, remove them (restic unlock --remove-all) when one stops the wipe")
	_ = cmd.MarkFlagRequired("provider")
	return cmd
}
