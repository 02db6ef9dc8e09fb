package app

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snapshotjob"
)

// newSnapshotsCommand is what a repository's snapshots Job runs: it forgets the snapshots
// whose objects were deleted and reports how restic's list differs from the operator's. The
// result goes to the termination message (the Job has no API access); credentials come only
// from the Secret mounted at --secret-dir.
func newSnapshotsCommand() *cobra.Command {
	var repo repositoryFlags
	var forget, known, knownFile, terminationLog string
	var prune bool
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "Forget the given snapshots, then report the repository's snapshots the operator does not know and the known ones that are gone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, sc, stderr, err := repo.open(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer stderr.Flush()
			var res *result.Result
			if knownIDs, err := readKnown(known, knownFile); err != nil {
				res = &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseFailed, Error: err.Error()}
			} else {
				res = snapshotjob.Run(cmd.Context(), r, snapshotjob.Options{
					Known: knownIDs, Forget: splitIDs(forget), Prune: prune, SoleWriter: repo.soleWriter,
					Log: func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) },
				})
			}
			res.Scrub(sc)
			if err := result.WriteTerminationMessage(terminationLog, res); err != nil {
				return err
			}
			b, err := json.Marshal(res)
			if err != nil {
				return fmt.Errorf("failed to encode result: %w", err)
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), string(b)); err != nil {
				return err
			}
			if res.Phase == result.PhaseFailed {
				return fmt.Errorf("%s", res.Error)
			}
			return nil
		},
	}
	f := cmd.Flags()
	repo.add(f, "no other process uses the repository: do not wait for locks, remove them when one stops a command")
	f.StringVar(&forget, "forget", "", "comma-separated ids of the snapshots to forget")
	f.BoolVar(&prune, "prune", false, "prune after forgetting")
	f.StringVar(&known, "known", "", "comma-separated short ids of the snapshots the operator keeps objects for")
	f.StringVar(&knownFile, "known-file", "", "file with more such ids, as the operator writes them (gzip, one a line)")
	f.StringVar(&terminationLog, "termination-log", result.TerminationMessagePath, "where to write the result for the operator")
	_ = cmd.MarkFlagRequired("provider")
	return cmd
}

// readKnown is the short ids of --known and of --known-file.
func readKnown(known, file string) ([]string, error) {
	ids := splitIDs(known)
	if file == "" {
		return ids, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read the known snapshot ids: %w", err)
	}
	defer f.Close()
	more, err := snapshotjob.DecodeKnown(f)
	if err != nil {
		return nil, err
	}
	return append(ids, more...), nil
}

func splitIDs(s string) []string {
	var ids []string
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
