package app

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/wipe"
)

// newWipeRepositoryCommand is what the Repository controller's wipe Job runs when a
// Repository with wipeOut is deleted. The flags are those of the upstream backup Functions;
// credentials come only from the Secret mounted at --secret-dir.
func newWipeRepositoryCommand() *cobra.Command {
	var cfg restic.Config
	var scratch string
	cmd := &cobra.Command{
		Use:   "wipe-repository",
		Short: "Delete a restic repository's data (local: the directory's contents; others: forget every snapshot and prune)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if cfg.Provider == restic.ProviderLocal {
				dir := filepath.Join(cfg.Bucket, cfg.Prefix)
				n, err := wipe.LocalDir(dir)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "deleted %d entries from local repository %s\n", n, dir)
				return err
			}
			setup, err := restic.NewSetup(cfg)
			if err != nil {
				return err
			}
			opts := restic.Options{BaseEnv: os.Environ(), TempDir: scratch, Stderr: cmd.ErrOrStderr()}
			n, err := wipe.Remote(cmd.Context(), restic.New(setup, opts), setup, opts)
			if err != nil {
				return err
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
	f.StringVar(&cfg.SecretDir, "secret-dir", "/etc/repository/secret", "directory holding the storage Secret, one file per key")
	f.StringVar(&scratch, "scratch-dir", "/tmp", "directory for restic's temporary files")
	f.DurationVar(&cfg.RetryLock, "retry-lock", 2*time.Minute, "wait this long for another restic process's lock")
	_ = cmd.MarkFlagRequired("provider")
	return cmd
}
