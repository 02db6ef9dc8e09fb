package app

import (
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/test/tasksfile"
)

// The Functions whose args the tests parse: the chart's, as tasks/ ships them.
const (
	backupFunction  = "mysql-backup-8.0.21"
	restoreFunction = "mysql-restore-8.0.21"
)

// render is the args of the shipped Function fn as the operator renders them: placeholders
// filled from vars, else their defaults (jobspec.Substitute). Each Function arg is one argv
// element, so values with spaces stay in one element.
func render(t *testing.T, fn string, vars map[string]string) []string {
	return tasksfile.MustArgs(t, fn, vars, jobspec.Substitute)
}

func parse(t *testing.T, argv []string) *cobra.Command {
	t.Helper()
	root := NewRootCommand(io.Discard, io.Discard)
	cmd, rest, err := root.Find(argv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("upstream args rejected: %v\nargv: %q", err, argv)
	}
	if len(cmd.Flags().Args()) != 0 {
		t.Fatalf("stray arguments %q", cmd.Flags().Args())
	}
	return cmd
}

func TestBackupFunctionArgsWithDefaults(t *testing.T) {
	cmd := parse(t, render(t, backupFunction, nil))
	f := cmd.Flags()
	for name, want := range map[string]string{
		"mysql-args": "--all-databases", "namespace": "default", "enable-cache": "true", "max-connections": "0",
		"wait-timeout": "5m0s", "retention-prune": "false", "hostname": "", "secret-dir": "/etc/repository/secret",
		"target-dir": "/etc/hoard/target", "termination-log": "/dev/termination-log",
	} {
		if got := f.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	if got := f.Lookup("retention-keep-tags").Value.String(); got != "[]" {
		t.Errorf("--retention-keep-tags = %s", got)
	}
}

func TestBackupFunctionArgsWithValues(t *testing.T) {
	argv := render(t, backupFunction, map[string]string{
		"REPOSITORY_PROVIDER": "s3", "REPOSITORY_BUCKET": "b", "REPOSITORY_ENDPOINT": "https://minio:9000", "REPOSITORY_PREFIX": "/demo",
		"ENABLE_CACHE": "false", "MAX_CONNECTIONS": "4", "args": "--databases shop crm", "waitTimeout": "30",
		"RETENTION_KEEP_LAST": "5", "RETENTION_KEEP_TAGS": "a,b", "RETENTION_PRUNE": "true", "outputDir": "/tmp/output",
	})
	// Upstream flags this addon ignores are still accepted.
	argv = append(argv, "--metrics-enabled=true", "--metrics-pushgateway-url=http://stash-operator.kube-system.svc:56789",
		"--metrics-labels=a=b,c=d", "--check-read-data-subset=5%")
	f := parse(t, argv).Flags()
	for name, want := range map[string]string{
		"provider": "s3", "path": "/demo", "enable-cache": "false", "max-connections": "4", "mysql-args": "--databases shop crm",
		"wait-timeout": (30 * time.Second).String(), "retention-keep-last": "5", "retention-prune": "true", "output-dir": "/tmp/output",
		"check-read-data-subset": "5%",
	} {
		if got := f.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	tags, _ := f.GetStringSlice("retention-keep-tags")
	if !reflect.DeepEqual(tags, []string{"a", "b"}) {
		t.Errorf("keep tags %q", tags)
	}
}

func TestRestoreFunctionArgs(t *testing.T) {
	f := parse(t, render(t, restoreFunction, nil)).Flags()
	for name, want := range map[string]string{"snapshot": "latest", "mysql-args": "", "source-hostname": "", "target-kind": "", "source-target": "", "sole-writer": "false",
		"restore-mode": "engine", "connections": "0", "skip-binlog": "false", "keep-accounts": "false"} {
		if got := f.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	f = parse(t, render(t, restoreFunction, map[string]string{"RESTORE_SNAPSHOTS": "repo-4bc21d6f", "SOURCE_HOSTNAME": "host-1",
		"TARGET_KIND": "AppBinding", "TARGET_NAME": "db-c", "sourceTarget": "AppBinding/db-a", "REPOSITORY_SOLE_WRITER": "true",
		"restoreMode": "pipe", "restoreConnections": "3", "skipBinlog": "true", "keepAccounts": "true"})).Flags()
	for name, want := range map[string]string{"snapshot": "repo-4bc21d6f", "target-kind": "AppBinding", "target-name": "db-c", "source-target": "AppBinding/db-a", "sole-writer": "true",
		"restore-mode": "pipe", "connections": "3", "skip-binlog": "true", "keep-accounts": "true"} {
		if got := f.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
}

// TestEveryShippedFunctionParses: every backup and restore Function of the chart (each
// database version, mysql-* and mariadb-* names) passes only flags the addon knows.
func TestEveryShippedFunctionParses(t *testing.T) {
	fns, err := tasksfile.Functions()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fn := range fns {
		if len(fn.Spec.Args) > 0 && (fn.Spec.Args[0] == "backup-mysql" || fn.Spec.Args[0] == "restore-mysql") {
			parse(t, render(t, fn.Name, nil))
			n++
		}
	}
	if n < 2 {
		t.Fatalf("%d backup and restore Functions in %s, want both", n, tasksfile.Path())
	}
}

func TestUnknownFlagsStillFail(t *testing.T) {
	root := NewRootCommand(io.Discard, io.Discard)
	cmd, rest, err := root.Find([]string{"backup-mysql", "--retention-keep-lst=5"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err == nil {
		t.Error("a misspelt flag was accepted: retention would silently not run")
	}
}

func TestSecondsFlag(t *testing.T) {
	var d time.Duration
	s := seconds{&d}
	for in, want := range map[string]time.Duration{"300": 5 * time.Minute, "0": 0, "90s": 90 * time.Second, "2m": 2 * time.Minute} {
		if err := s.Set(in); err != nil || d != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	if err := s.Set("soon"); err == nil {
		t.Error("Set(soon) succeeded")
	}
}
