// Package app holds the command line of hoard-mysql-addon.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoard-operator/hoard/internal/addon"
	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/result"
)

// errFailed makes the process exit 1 after the result has been written.
var errFailed = errors.New("failed")

// Execute runs the command line and returns the exit code.
func Execute(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := NewRootCommand(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		if !errors.Is(err, errFailed) {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
		return 1
	}
	return 0
}

// exitCode lets dump-exec pass mysqldump's exit code through.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit code %d", int(c)) }

// NewRootCommand builds the command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "hoard-mysql-addon",
		Short:         "Back up MySQL/MariaDB into restic repositories and restore from them",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newBackupCommand(stdout, stderr), newRestoreCommand(stdout, stderr), newDumpExecCommand(stderr))
	return root
}

// output is where a result goes.
type output struct {
	dir            string
	terminationLog string
}

func (o *output) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dir, "output-dir", "", "directory to write "+result.FileName+" into (created if missing)")
	fs.StringVar(&o.terminationLog, "termination-log", result.TerminationMessagePath, "file the kubelet reads the termination message from; skipped when it does not exist")
}

// write hands the result over; a result that cannot be handed over fails the run.
func (o *output) write(res *result.Result, stderr io.Writer) error {
	var errs []error
	if o.dir != "" {
		if err := os.MkdirAll(o.dir, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("failed to create output directory: %w", err))
		} else if err := result.WriteFile(o.dir, res); err != nil {
			errs = append(errs, err)
		}
	}
	if err := result.WriteTerminationMessage(o.terminationLog, res); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return errFailed
	}
	if res.Phase != result.PhaseSucceeded {
		return errFailed
	}
	return nil
}

// addCommonFlags registers the flags upstream's backup and restore Functions share.
func addCommonFlags(fs *pflag.FlagSet, c *addon.Common) {
	fs.StringVar(&c.Provider, "provider", "", "repository backend: local, s3, gcs, azure, swift, b2 or rest")
	fs.StringVar(&c.Bucket, "bucket", "", "bucket (s3, gcs, b2), container (azure, swift) or mount path of the repository (local)")
	fs.StringVar(&c.Endpoint, "endpoint", "", "s3 endpoint or REST server URL")
	fs.StringVar(&c.Region, "region", "", "s3 region")
	fs.StringVar(&c.Prefix, "path", "", "prefix of the repository inside the bucket")
	fs.StringVar(&c.SecretDir, "secret-dir", result.SecretDir, "directory of the storage Secret, one file per key")
	fs.StringVar(&c.ScratchDir, "scratch-dir", result.ScratchDir, "directory for temporary files and restic's cache")
	fs.BoolVar(&c.EnableCache, "enable-cache", true, "use a restic cache in the scratch directory")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "concurrent connections to the backend (0: restic's default)")
	fs.StringVar(&c.Hostname, "hostname", "", "host name of the snapshots (default \""+result.DefaultHostname+"\")")
	secondsVar(fs, &c.WaitTimeout, "wait-timeout", 300*time.Second, "how long to wait for the database (seconds, or a duration)")
	fs.StringVar(&c.Namespace, "namespace", "default", "namespace of the session")
	fs.StringVar(&c.TargetDir, "target-dir", result.TargetDir, "directory with the database's host, port, username, password and optional ca.crt")
	secondsVar(fs, &c.StorageTimeout, "storage-timeout", 5*time.Minute, "how long to wait for the repository to respond at first")
	secondsVar(fs, &c.RetryLock, "retry-lock", 2*time.Minute, "how long restic waits for a repository lock held by a live process")
	fs.BoolVar(&c.SoleWriter, "sole-writer", false, "the operator runs no other Job on this repository meanwhile (REPOSITORY_SOLE_WRITER): "+
		"do not wait for locks, and remove all of them when one stops a restic command, then run it once more")
	fs.StringVar(&c.ResticBinary, "restic", "restic", "restic executable")
	fs.StringVar(&c.MySQLBinary, "mysql", "mysql", "mysql client executable")
	fs.StringVar(&c.MySQLDumpBinary, "mysqldump", "mysqldump", "mysqldump executable")
	fs.StringVar(&c.MySQLBinlogBinary, "mysqlbinlog", mysql.DefaultBinlogTool, "binary log client executable (point-in-time recovery)")
	for _, n := range []string{"restic", "mysql", "mysqldump"} {
		_ = fs.MarkHidden(n)
	}
	fs.String("appbinding", "", "AppBinding of the target (informational: the operator resolves it into --target-dir)")
}

// addIgnoredFlags accepts flags that upstream Functions pass but this addon has no use for:
// metrics are computed by the operator from the result, and no Kubernetes API is used.
func addIgnoredFlags(fs *pflag.FlagSet) {
	fs.Bool("metrics-enabled", false, "ignored")
	fs.String("metrics-pushgateway-url", "", "ignored")
	fs.StringSlice("metrics-labels", nil, "ignored")
	fs.String("metrics-dir", "", "ignored")
	fs.String("kubeconfig", "", "ignored")
	fs.String("master", "", "ignored")
	fs.String("license-apiservice", "", "ignored")
	fs.String("interim-data-dir", "", "ignored")
	for _, n := range []string{"metrics-enabled", "metrics-pushgateway-url", "metrics-labels", "metrics-dir", "kubeconfig", "master", "license-apiservice", "interim-data-dir"} {
		_ = fs.MarkHidden(n)
	}
}

// seconds is a duration flag that also takes plain seconds, as upstream's --wait-timeout=300.
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}

func (s seconds) Set(v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		*s.d = time.Duration(n) * time.Second
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is neither seconds nor a duration", v)
	}
	*s.d = d
	return nil
}

func (s seconds) Type() string { return "seconds" }

func secondsVar(fs *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(seconds{p}, name, usage)
}
