package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
	"github.com/hoard-operator/hoard/internal/wipe"
)

// newWipeRepositoryCommand is what the Repository controller's wipe Job runs when a
// Repository with wipeOut is deleted. The flags are those of the upstream backup Functions;
// credentials come only from the Secret mounted at --secret-dir.
func newWipeRepositoryCommand() *cobra.Command {
	var cfg restic.Config
	var scratch string
	var soleWriter bool
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
			out := cmd.OutOrStdout()
			if cfg.Provider == restic.ProviderLocal {
				dir := filepath.Join(cfg.Bucket, cfg.Prefix)
				rep, err := wipe.LocalRepository(dir)
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintf(out, "deleted restic's entries %s from local repository %s\n", strings.Join(rep.Removed, ", "), dir); err != nil {
					return err
				}
				if len(rep.Left) > 0 {
					_, err = fmt.Fprintf(cmd.ErrOrStderr(), "left in place, not restic's: %s\n", strings.Join(rep.Left, ", "))
				}
				return err
			}
			if soleWriter {
				cfg.RetryLock = 0
			}
			setup, err := restic.NewSetup(cfg)
			if err != nil {
				return err
			}
			// Everything this Job prints goes through one scrubber: restic's stderr, the lock
			// log and the error, which quotes restic's last words (and ends up in the log).
			sc := scrub.New(setup.Secrets...)
			stderr := sc.Writer(cmd.ErrOrStderr())
			defer stderr.Flush()
			r := restic.New(setup, restic.Options{BaseEnv: os.Environ(), TempDir: scratch, Stderr: stderr, Scrubber: sc})
			n, err := wipe.Remote(cmd.Context(), r, wipe.RemoteOptions{SoleWriter: soleWriter, Log: func(format string, args ...any) {
				fmt.Fprintf(stderr, format+"\n", args...)
			}})
			if err != nil {
				return sc.Error(err)
			}
			// The repository string is not printed: for rest it carries credentials.
			_, err = fmt.Fprintf(out, "forgot %d snapshot(s) and pruned the %s repository; restic keeps its config and keys files\n", n, cfg.Provider)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Provider, "provider", "", "backend: local, s3, gcs, azure, swift, b2 or rest")
	f.StringVar(&cfg.Bucket, "bucket", "", "bucket or container; for local, the repository's mount path")
	f.StringVar(&cfg.Endpoint, "endpoint", "", "s3 endpoint or REST server URL")
	f.StringVar(&cfg.Region, "region", "", "s3 region")
	f.StringVar(&cfg.Prefix, "path", "", "prefix inside the bucket")
	f.IntVar(&cfg.MaxConnections, "max-connections", 0, "backend connections (0: restic's default)")
	f.StringVar(&cfg.SecretDir, "secret-dir", result.SecretDir, "directory holding the storage Secret, one file per key")
	f.StringVar(&scratch, "scratch-dir", result.ScratchDir, "directory for restic's temporary files")
	f.DurationVar(&cfg.RetryLock, "retry-lock", 2*time.Minute, "wait this long for another restic process's lock")
	f.BoolVar(&soleWriter, "sole-writer", false, "no other process uses the repository: do not wait for locks, remove them (restic unlock --remove-all) when one stops the wipe")
	_ = cmd.MarkFlagRequired("provider")
	return cmd
}
