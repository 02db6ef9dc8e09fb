package app

import (
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// The Function args the operator renders (the contract with the chart), placeholders filled.
const (
	backupFunctionArgs  = `backup-mysql --provider=${REPOSITORY_PROVIDER:=} --bucket=${REPOSITORY_BUCKET:=} --endpoint=${REPOSITORY_ENDPOINT:=} --region=${REPOSITORY_REGION:=} --path=${REPOSITORY_PREFIX:=} --secret-dir=/etc/repository/secret --scratch-dir=/tmp --enable-cache=${ENABLE_CACHE:=true} --max-connections=${MAX_CONNECTIONS:=0} --hostname=${HOSTNAME:=} --mysql-args=${args:=--all-databases} --wait-timeout=${waitTimeout:=300} --namespace=${NAMESPACE:=default} --appbinding=${TARGET_NAME:=} --backupsession=${BACKUP_SESSION:=} --invoker-kind=${INVOKER_KIND:=} --invoker-name=${INVOKER_NAME:=} --target-kind=${TARGET_KIND:=} --target-name=${TARGET_NAME:=} --retention-keep-last=${RETENTION_KEEP_LAST:=0} --retention-keep-hourly=${RETENTION_KEEP_HOURLY:=0} --retention-keep-daily=${RETENTION_KEEP_DAILY:=0} --retention-keep-weekly=${RETENTION_KEEP_WEEKLY:=0} --retention-keep-monthly=${RETENTION_KEEP_MONTHLY:=0} --retention-keep-yearly=${RETENTION_KEEP_YEARLY:=0} --retention-keep-tags=${RETENTION_KEEP_TAGS:=} --retention-prune=${RETENTION_PRUNE:=false} --retention-dry-run=${RETENTION_DRY_RUN:=false} --sole-writer=${REPOSITORY_SOLE_WRITER:=false} --output-dir=${outputDir:=}`
	restoreFunctionArgs = `restore-mysql --provider=${REPOSITORY_PROVIDER:=} --bucket=${REPOSITORY_BUCKET:=} --endpoint=${REPOSITORY_ENDPOINT:=} --region=${REPOSITORY_REGION:=} --path=${REPOSITORY_PREFIX:=} --secret-dir=/etc/repository/secret --scratch-dir=/tmp --enable-cache=${ENABLE_CACHE:=true} --max-connections=${MAX_CONNECTIONS:=0} --hostname=${HOSTNAME:=} --source-hostname=${SOURCE_HOSTNAME:=} --mysql-args=${args:=} --wait-timeout=${waitTimeout:=300} --namespace=${NAMESPACE:=default} --appbinding=${TARGET_NAME:=} --restoresession=${RESTORE_SESSION:=} --snapshot=${RESTORE_SNAPSHOTS:=latest} --target-kind=${TARGET_KIND:=} --target-name=${TARGET_NAME:=} --source-target=${sourceTarget:=} --restore-mode=${restoreMode:=engine} --connections=${restoreConnections:=0} --skip-binlog=${skipBinlog:=false} --sole-writer=${REPOSITORY_SOLE_WRITER:=false} --mysql-args=${args:=} --output-dir=${outputDir:=}`
)

var placeholder = regexp.MustCompile(`\$\{([A-Za-z_]+)(?::=([^}]*))?\}`)

// render fills placeholders from vars, else their defaults, as the operator does. Each
// Function arg is one argv element, so values with spaces stay in one element.
func render(args string, vars map[string]string) []string {
	var out []string
	for _, a := range strings.Fields(args) {
		out = append(out, placeholder.ReplaceAllStringFunc(a, func(m string) string {
			g := placeholder.FindStringSubmatch(m)
			if v, ok := vars[g[1]]; ok {
				return v
			}
			return g[2]
		}))
	}
	return out
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
	cmd := parse(t, render(backupFunctionArgs, nil))
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
	argv := render(backupFunctionArgs, map[string]string{
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
	f := parse(t, render(restoreFunctionArgs, nil)).Flags()
	for name, want := range map[string]string{"snapshot": "latest", "mysql-args": "", "source-hostname": "", "target-kind": "", "source-target": "", "sole-writer": "false",
		"restore-mode": "engine", "connections": "0", "skip-binlog": "false"} {
		if got := f.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	f = parse(t, render(restoreFunctionArgs, map[string]string{"RESTORE_SNAPSHOTS": "repo-4bc21d6f", "SOURCE_HOSTNAME": "host-1",
		"TARGET_KIND": "AppBinding", "TARGET_NAME": "db-c", "sourceTarget": "AppBinding/db-a", "REPOSITORY_SOLE_WRITER": "true",
		"restoreMode": "pipe", "restoreConnections": "3", "skipBinlog": "true"})).Flags()
	for name, want := range map[string]string{"snapshot": "repo-4bc21d6f", "target-kind": "AppBinding", "target-name": "db-c", "source-target": "AppBinding/db-a", "sole-writer": "true",
		"restore-mode": "pipe", "connections": "3", "skip-binlog": "true"} {
		if got := f.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
}

// TestFunctionArgsMatchTheChart: the args above are those of the chart's Functions (tasks/ is
// the chart rendered, kept current by make check-tasks), so the tests parse what the operator
// renders.
func TestFunctionArgsMatchTheChart(t *testing.T) {
	b, err := os.ReadFile("../../../tasks/mysql-addon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	chart := string(b)
	for _, args := range []string{backupFunctionArgs, restoreFunctionArgs} {
		for _, a := range strings.Fields(args) {
			if strings.HasPrefix(a, "--") && !strings.Contains(a, "${args:=") && !strings.Contains(a, "${waitTimeout:=") &&
				!strings.Contains(chart, `"`+a+`"`) {
				t.Errorf("the chart's Functions do not pass %s", a)
			}
		}
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
