package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/maintenance"
	"github.com/hoard-operator/hoard/internal/result"
)

// newRepositoryOperationCommand is what a RepositoryOperation's Job runs. Its outcome, one
// scrubbed line, goes to stdout and to the termination message, where the operator reads it.
func newRepositoryOperationCommand() *cobra.Command {
	var repo repositoryFlags
	var operation, readDataSubset, newPasswordFile, keyID, terminationLog string
	cmd := &cobra.Command{
		Use:   "repository-operation",
		Short: "Run one RepositoryOperation (Unlock, Check, KeyList, KeyAdd, KeyRemove) on a restic repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var more []string
			if newPasswordFile != "" {
				// The new password is a secret too, wherever restic might echo it.
				if pw, err := os.ReadFile(newPasswordFile); err == nil && len(pw) > 0 {
					more = append(more, string(pw))
				}
			}
			r, sc, stderr, err := repo.open(cmd.ErrOrStderr(), more...)
			if err != nil {
				return writeOutcome(terminationLog, maintenance.Outcome{}, err)
			}
			defer stderr.Flush()
			ctx := cmd.Context()
			var out maintenance.Outcome
			switch operation {
			case "Unlock":
				out.Message, err = maintenance.Unlock(ctx, r, repo.soleWriter)
			case "Check":
				out.Message, err = maintenance.Check(ctx, r, readDataSubset)
			case "KeyList":
				out, err = maintenance.KeyList(ctx, r)
			case "KeyAdd":
				out, err = maintenance.KeyAdd(ctx, r, newPasswordFile)
			case "KeyRemove":
				out, err = maintenance.KeyRemove(ctx, r, keyID)
			case "Migrate":
				out.Message, err = maintenance.Migrate(ctx, r, repo.soleWriter, func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) })
			default:
				err = fmt.Errorf("unknown operation %q: Unlock, Check, KeyList, KeyAdd, KeyRemove or Migrate", operation)
			}
			if err != nil {
				err = sc.Error(err)
			}
			out.Message = sc.String(out.Message)
			if werr := writeOutcome(terminationLog, out, err); werr != nil {
				return werr
			}
			_, perr := fmt.Fprintln(cmd.OutOrStdout(), out.Message)
			return perr
		},
	}
	f := cmd.Flags()
	f.StringVar(&operation, "operation", "", "Unlock, Check, KeyList, KeyAdd, KeyRemove or Migrate")
	f.StringVar(&readDataSubset, "read-data-subset", "", "Check: restic's --read-data-subset")
	f.StringVar(&newPasswordFile, "new-password-file", "", "KeyAdd: file holding the new key's password")
	f.StringVar(&keyID, "key-id", "", "KeyRemove: id (or unique prefix) of the key to remove")
	f.StringVar(&terminationLog, "termination-log", result.TerminationMessagePath, "where the outcome (JSON) is written for the operator")
	repo.add(f, "no other process uses the repository: every lock is stale")
	_ = cmd.MarkFlagRequired("provider")
	_ = cmd.MarkFlagRequired("operation")
	return cmd
}

// writeOutcome writes the outcome, as JSON, to the termination message, with err (already
// scrubbed) as its error, and returns err. Keys that would not fit are left out.
func writeOutcome(path string, out maintenance.Outcome, err error) error {
	if err != nil {
		out.Error = err.Error()
	}
	b, jerr := json.Marshal(out)
	if jerr == nil && len(b) > result.MaxTerminationMessageBytes {
		out.Keys = nil
		b, jerr = json.Marshal(out)
	}
	if jerr != nil {
		return errors.Join(err, fmt.Errorf("failed to encode the outcome: %w", jerr))
	}
	if len(b) > result.MaxTerminationMessageBytes {
		b = b[:result.MaxTerminationMessageBytes]
	}
	if werr := os.WriteFile(path, b, 0o600); werr != nil {
		return errors.Join(err, fmt.Errorf("failed to write the termination message: %w", werr))
	}
	return err
}
