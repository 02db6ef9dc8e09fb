package app

import (
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
)

// repositoryFlags are what the commands of a repository's Jobs (wipe-repository, snapshots,
// repository-operation) share: the repository, with the flag names of the upstream backup
// Functions (the operator renders them with repository.BackendFlags), where the storage
// Secret and the scratch space are, and the lock policy. Credentials come only from the
// Secret mounted at --secret-dir.
type repositoryFlags struct {
	cfg        restic.Config
	scratch    string
	soleWriter bool
}

func (r *repositoryFlags) add(f *pflag.FlagSet, soleWriterHelp string) {
	f.StringVar(&r.cfg.Provider, "provider", "", "backend: local, s3, gcs, azure, swift, b2 or rest")
	f.StringVar(&r.cfg.Bucket, "bucket", "", "bucket or container; for local, the repository's mount path")
	f.StringVar(&r.cfg.Endpoint, "endpoint", "", "s3 endpoint or REST server URL")
	f.StringVar(&r.cfg.Region, "region", "", "s3 region")
	f.StringVar(&r.cfg.Prefix, "path", "", "prefix inside the bucket")
	f.IntVar(&r.cfg.MaxConnections, "max-connections", 0, "backend connections (0: restic's default)")
	f.StringVar(&r.cfg.SecretDir, "secret-dir", result.SecretDir, "directory holding the storage Secret, one file per key")
	f.StringVar(&r.scratch, "scratch-dir", result.ScratchDir, "directory for restic's temporary files")
	f.DurationVar(&r.cfg.RetryLock, "retry-lock", 2*time.Minute, "wait this long for another restic process's lock")
	f.BoolVar(&r.soleWriter, "sole-writer", false, soleWriterHelp)
}

// open prepares restic for the repository. Everything the Job prints goes through the one
// scrubber it returns, which knows the storage Secret's values and more: restic's stderr (the
// returned writer, which the caller flushes), logs and errors, which quote restic's last words.
// A sole writer waits for no lock (design record 0002).
func (r *repositoryFlags) open(stderr io.Writer, more ...string) (*restic.Restic, *scrub.Scrubber, *scrub.ScrubWriter, error) {
	cfg := r.cfg
	if r.soleWriter {
		cfg.RetryLock = 0
	}
	setup, err := restic.NewSetup(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	sc := scrub.New(setup.Secrets...)
	if len(more) > 0 {
		sc = sc.With(more...)
	}
	w := sc.Writer(stderr)
	return restic.New(setup, restic.Options{BaseEnv: os.Environ(), TempDir: r.scratch, Stderr: w, Scrubber: sc}), sc, w, nil
}
