package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/maintenance"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
)

// newRepositoryOperationCommand is what a RepositoryOperation's Job runs. Its outcome, one
// scrubbed line, goes to stdout and to the termination message, where the operator reads it.
func newRepositoryOperationCommand() *cobra.Command {
	var cfg restic.Config
	var scratch, operation, readDataSubset, newPasswordFile, keyID, terminationLog string
	var soleWriter bool
	cmd := &cobra.Command{
		Use:   "repository-operation",
		Short: "Run one RepositoryOperation (Unlock, Check, KeyList, KeyAdd, KeyRemove) on a restic repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if soleWriter {
				cfg.RetryLock = 0
			}
			setup, err := restic.NewSetup(cfg)
			if err != nil {
				return writeOutcome(terminationLog, maintenance.Outcome{}, err)
			}
			sc := scrub.New(setup.Secrets...)
			if newPasswordFile != "" {
				// The new password is a secret too, wherever restic might echo it.
				if pw, err := os.ReadFile(newPasswordFile); err == nil && len(pw) > 0 {
					sc = sc.With(string(pw))
				}
			}
			stderr := sc.Writer(cmd.ErrOrStderr())
			defer stderr.Flush()
			r := restic.New(setup, restic.Options{BaseEnv: os.Environ(), TempDir: scratch, Stderr: stderr, Scrubber: sc})
			ctx := cmd.Context()
			var out maintenance.Outcome
			switch operation {
			case "Unlock":
				out.Message, err = maintenance.Unlock(ctx, r, soleWriter)
			case "Check":
				out.Message, err = maintenance.Check(ctx, r, readDataSubset)
			case "KeyList":
				out, err = maintenance.KeyList(ctx, r)
			case "KeyAdd":
				out, err = maintenance.KeyAdd(ctx, r, newPasswordFile)
			case "KeyRemove":
				out, err = maintenance.KeyRemove(ctx, r, keyID)
			case "Migrate":
				out.Message, err = maintenance.Migrate(ctx, r, soleWriter, func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) })
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
	f.StringVar(&cfg.Provider, "provider", "", "backend: local, s3, gcs, azure, swift, b2 or rest")
	f.StringVar(&cfg.Bucket, "bucket", "", "bucket or container; for local, the repository's mount path")
	f.StringVar(&cfg.Endpoint, "endpoint", "", "s3 endpoint or REST server URL")
	f.StringVar(&cfg.Region, "region", "", "s3 region")
	f.StringVar(&cfg.Prefix, "path", "", "prefix inside the bucket")
	f.IntVar(&cfg.MaxConnections, "max-connections", 0, "backend connections (0: restic's default)")
	f.StringVar(&cfg.SecretDir, "secret-dir", "/etc/repository/secret", "directory holding the storage Secret, one file per key")
	f.StringVar(&scratch, "scratch-dir", "/tmp", "directory for restic's temporary files")
	f.StringVar(&terminationLog, "termination-log", result.TerminationMessagePath, "where the outcome (JSON) is written for the operator")
	f.DurationVar(&cfg.RetryLock, "retry-lock", 2*time.Minute, "wait this long for another restic process's lock")
	f.BoolVar(&soleWriter, "sole-writer", false, "no other process uses the repository: every lock is stale")
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
