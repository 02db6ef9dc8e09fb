package app

import (
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
	var scratch, operation, readDataSubset, terminationLog string
	var soleWriter bool
	cmd := &cobra.Command{
		Use:   "repository-operation",
		Short: "Run one RepositoryOperation (unlock, check) on a restic repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if soleWriter {
				cfg.RetryLock = 0
			}
			setup, err := restic.NewSetup(cfg)
			if err != nil {
				return writeOutcome(terminationLog, "", err)
			}
			sc := scrub.New(setup.Secrets...)
			stderr := sc.Writer(cmd.ErrOrStderr())
			defer stderr.Flush()
			r := restic.New(setup, restic.Options{BaseEnv: os.Environ(), TempDir: scratch, Stderr: stderr, Scrubber: sc})
			var msg string
			switch operation {
			case "Unlock":
				msg, err = maintenance.Unlock(cmd.Context(), r, soleWriter)
			case "Check":
				msg, err = maintenance.Check(cmd.Context(), r, readDataSubset)
			default:
				err = fmt.Errorf("unknown operation %q: Unlock or Check", operation)
			}
			if err != nil {
				err = sc.Error(err)
			}
			if werr := writeOutcome(terminationLog, sc.String(msg), err); werr != nil {
				return werr
			}
			_, perr := fmt.Fprintln(cmd.OutOrStdout(), sc.String(msg))
			return perr
		},
	}
	f := cmd.Flags()
	f.StringVar(&operation, "operation", "", "Unlock or Check")
	f.StringVar(&readDataSubset, "read-data-subset", "", "Check: restic's --read-data-subset")
	f.StringVar(&cfg.Provider, "provider", "", "backend: local, s3, gcs, azure, swift, b2 or rest")
	f.StringVar(&cfg.Bucket, "bucket", "", "bucket or container; for local, the repository's mount path")
	f.StringVar(&cfg.Endpoint, "endpoint", "", "s3 endpoint or REST server URL")
	f.StringVar(&cfg.Region, "region", "", "s3 region")
	f.StringVar(&cfg.Prefix, "path", "", "prefix inside the bucket")
	f.IntVar(&cfg.MaxConnections, "max-connections", 0, "backend connections (0: restic's default)")
	f.StringVar(&cfg.SecretDir, "secret-dir", "/etc/repository/secret", "directory holding the storage Secret, one file per key")
	f.StringVar(&scratch, "scratch-dir", "/tmp", "directory for restic's temporary files")
	f.StringVar(&terminationLog, "termination-log", result.TerminationMessagePath, "where the outcome line is written for the operator")
	f.DurationVar(&cfg.RetryLock, "retry-lock", 2*time.Minute, "wait this long for another restic process's lock")
	f.BoolVar(&soleWriter, "sole-writer", false, "no other process uses the repository: every lock is stale")
	_ = cmd.MarkFlagRequired("provider")
	_ = cmd.MarkFlagRequired("operation")
	return cmd
}

// writeOutcome writes the outcome to the termination message: the message on success, the
// error (already scrubbed) on failure, which it then returns.
func writeOutcome(path, msg string, err error) error {
	line := msg
	if err != nil {
		line = err.Error()
	}
	if len(line) > result.MaxTerminationMessageBytes {
		line = line[:result.MaxTerminationMessageBytes]
	}
	if werr := os.WriteFile(path, []byte(line), 0o600); werr != nil && err == nil {
		return fmt.Errorf("failed to write the termination message: %w", werr)
	}
	return err
}
