//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The hooks of issue 13 on the real cluster: exec hooks in the database's pod through the
// per-session identity, an httpPost hook to a receiver pod with the templated body, and
// their outcomes on the sessions (docs/design/0019-hooks.md).

// receiverYAML is a small HTTP server in the cluster (Perl, from the MariaDB image) that logs
// each request's line and body and answers 200.
const receiverYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hook-receiver
  labels: {app.kubernetes.io/name: hook-receiver}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: hook-receiver}
  template:
    metadata:
      labels: {app.kubernetes.io/name: hook-receiver}
    spec:
      containers:
        - name: receiver
          image: hoard.local/mariadb:10.11
          imagePullPolicy: IfNotPresent
          command: [perl, -e]
          args:
            - |
              use IO::Socket::INET; $| = 1;
              my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die "listen: $!";
              print "listening\n";
              while (my $c = $s->accept) {
                my $req = <$c>; my $len = 0;
                while (defined(my $h = <$c>)) { last if $h =~ /^\r?\n$/; $len = $1 if $h =~ /^Content-Length:\s*(\d+)/i; }
                my $body = ''; read($c, $body, $len) if $len;
                $req =~ s/\r?\n$//; print "REQUEST $req BODY $body\n";
                print $c "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nreceived";
                close $c;
              }
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata:
  name: hook-receiver
spec:
  selector: {app.kubernetes.io/name: hook-receiver}
  ports: [{port: 8080, targetPort: 8080}]
`

// mariadbExec is an exec hook in the MariaDB container: the password comes from the
// container's own environment into MYSQL_PWD, never onto a command line.
func mariadbExec(sqlText string) map[string]any {
	return map[string]any{
		"containerName": "mariadb",
		"exec":          map[string]any{"command": []string{"sh", "-c", `MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mariadb -uroot -N -B -e "` + sqlText + `"`}},
	}
}

// withHooks adds spec.hooks to a manifest whose last top-level key is spec, so that the
// object is created with its hooks (a session may start at once).
func withHooks(t *testing.T, yaml string, hooks map[string]any) string {
	t.Helper()
	b, err := json.Marshal(hooks)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(yaml, "\n") + "\n  hooks: " + string(b) + "\n"
}

// hookedConfiguration is the suite's BackupConfiguration with hooks.
func (k *kns) hookedConfiguration(s bcSpec, hooks map[string]any) {
	k.t.Helper()
	if s.Args == "" {
		s.Args = "--all-databases"
	}
	k.apply(withHooks(k.t, manifest(k.t, "fault-backupconfiguration.yaml", "NAME", s.Name, "REPO", s.Repo, "TARGET", s.Target,
		"ARGS", s.Args, "SCHEDULE", neverSchedule, "KEEP", "3", "PAUSED", "false", "STORAGE_TIMEOUT", "300"), hooks))
}

// receivedBodies are the request lines and bodies the receiver logged.
func (k *kns) receivedBodies() []string {
	k.t.Helper()
	var out []string
	for _, l := range strings.Split(k.run("logs", "deploy/hook-receiver"), "\n") {
		// The readiness probe's connections send no request line.
		if strings.HasPrefix(l, "REQUEST ") && !strings.HasPrefix(l, "REQUEST  BODY") {
			out = append(out, l)
		}
	}
	return out
}

// identityGone checks that the session's hook ServiceAccount and RoleBinding were removed.
func (k *kns) identityGone(kind, session string) {
	k.t.Helper()
	name := "stash-hook-" + kind + "-" + session
	for _, r := range []string{"serviceaccount/" + name, "rolebinding/" + name} {
		if out, err := k.try("get", r, "-o", "name"); err == nil {
			k.t.Errorf("the hook identity %s is still there after the session: %s", r, out)
		}
	}
}

func TestHooks(t *testing.T) {
	k := newCaseNamespace(t, "e2e-hooks")
	k.setup("hookdb")
	k.apply(receiverYAML)
	k.run("rollout", "status", "deploy/hook-receiver", "--timeout=300s")
	k.repository("repo", "hooks", false)
	k.repository("prefail-repo", "prefail", false)
	k.smallData("hookdb", "shop")

	t.Run("the unlock runs after a dump that failed after the lock", func(t *testing.T) {
		k.hookedConfiguration(bcSpec{Name: "locked", Repo: "repo", Target: "hookdb", Args: "--bogus-option-that-fails"}, map[string]any{
			"preBackup":  mariadbExec("SET GLOBAL read_only=ON"),
			"postBackup": mariadbExec("SELECT CONCAT('read_only before unlock: ', @@global.read_only); SET GLOBAL read_only=OFF"),
		})
		name := k.trigger("locked")[0]
		bs := k.waitSession(name, 4*time.Minute)
		k.show("get", "backupsession", name, "-o", "yaml")
		if bs.Status.Phase != "Failed" || !strings.Contains(bs.failure(), "bogus-option") {
			t.Fatalf("session %s: %s (%s), want Failed by the bad dump argument", name, bs.Status.Phase, bs.failure())
		}
		if c := bs.condition("GlobalPreBackupHookSucceeded"); c.Status != "True" {
			t.Errorf("preBackup (the lock): %+v", c)
		}
		// MariaDB 10.11 shows the variable as ON/OFF in a string context.
		if c := bs.condition("GlobalPostBackupHookSucceeded"); c.Status != "True" || !strings.Contains(c.Message, "read_only before unlock: ON") {
			t.Errorf("postBackup (the unlock) did not run after the lock: %+v", c)
		}
		if c := bs.condition("SnapshotCreated"); c.Status != "False" {
			t.Errorf("SnapshotCreated %+v", c)
		}
		if got := strings.TrimSpace(k.sql("hookdb", "SELECT @@global.read_only")); got != "0" {
			t.Errorf("the database is still read-only after the session: read_only=%s", got)
		}
		k.identityGone("backup", name)
	})

	t.Run("a failed preBackup fails the session and takes no snapshot", func(t *testing.T) {
		k.hookedConfiguration(bcSpec{Name: "prefail", Repo: "prefail-repo", Target: "hookdb"}, map[string]any{
			"preBackup": map[string]any{"containerName": "mariadb",
				"exec": map[string]any{"command": []string{"sh", "-c", "echo cannot flush {{ .Namespace }}/{{ .Target.Name }} >&2; exit 3"}}},
		})
		name := k.trigger("prefail")[0]
		bs := k.waitSession(name, 4*time.Minute)
		want := "cannot flush " + k.ns + "/hookdb"
		if bs.Status.Phase != "Failed" || !strings.Contains(bs.failure(), "preBackup hook (exec) failed") || !strings.Contains(bs.failure(), want) {
			t.Fatalf("session %s: %s (%s), want Failed with %q", name, bs.Status.Phase, bs.failure(), want)
		}
		if n := len(bs.snapshots()); n != 0 {
			t.Errorf("the session reports %d snapshots", n)
		}
		if st := k.resticState(k.restURL("prefail"), false); len(st.Snapshots) != 0 {
			t.Errorf("snapshots exist after a failed preBackup: %v", st.ids())
		}
		k.identityGone("backup", name)
	})

	t.Run("httpPost OnFailure gets the templated body on failure only", func(t *testing.T) {
		k.hookedConfiguration(bcSpec{Name: "notify", Repo: "repo", Target: "hookdb"}, map[string]any{
			"postBackup": map[string]any{"executionPolicy": "OnFailure", "httpPost": map[string]any{
				"host": "hook-receiver." + k.ns + ".svc", "port": 8080, "path": "/services/T0/B0/token",
				"httpHeaders": []map[string]string{{"name": "Content-Type", "value": "application/json"}},
				"body":        `{"text": "{{ if eq .Status.Phase "Succeeded" }}ok {{ .Namespace }}/{{ .Target.Name }}{{ else }}{{ .Status.Phase }} {{ .Namespace }}/{{ .Target.Name }}: {{ .Status.Error }}{{ end }}"}`,
			}},
		})
		ok := k.trigger("notify")[0]
		bs := k.waitSession(ok, 4*time.Minute)
		k.mustSucceed(bs)
		if c := bs.condition("GlobalPostBackupHookSucceeded"); c.Status != "" {
			t.Errorf("an OnFailure hook ran after a success: %+v", c)
		}
		if got := k.receivedBodies(); len(got) != 0 {
			t.Errorf("the receiver got %v after a success", got)
		}

		k.run("patch", "backupconfiguration", "notify", "--type=json", "-p",
			`[{"op":"replace","path":"/spec/task/params/0/value","value":"--bogus-option-that-fails"}]`)
		time.Sleep(2 * time.Second) // a new session name (unix seconds), and the change seen by the operator
		failed := k.trigger("notify")[0]
		bs = k.waitSession(failed, 4*time.Minute)
		if bs.Status.Phase != "Failed" {
			t.Fatalf("session %s: %s, want Failed", failed, bs.Status.Phase)
		}
		if c := bs.condition("GlobalPostBackupHookSucceeded"); c.Status != "True" || !strings.Contains(c.Message, "HTTP 200 OK: received") {
			t.Errorf("postBackup condition %+v", c)
		}
		got := k.receivedBodies()
		want := fmt.Sprintf(`REQUEST POST /services/T0/B0/token HTTP/1.1 BODY {"text": "Failed %s/hookdb: `, k.ns)
		if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], "bogus-option") {
			t.Errorf("the receiver got %q, want one request starting %q", got, want)
		}
	})

	t.Run("postRestore runs after the restore and sees the restored data", func(t *testing.T) {
		k.sql("hookdb", "DROP DATABASE shop")
		k.apply(withHooks(t, manifest(t, "fault-restoresession.yaml", "NAME", "restore-shop", "REPO", "repo", "TARGET", "hookdb"), map[string]any{
			"postRestore": mariadbExec("SELECT CONCAT('restored rows: ', COUNT(*)) FROM shop.small"),
		}))
		var rs backupSession // the same status shape for what is read here
		eventually(t, "RestoreSession restore-shop to finish", 4*time.Minute, 2*time.Second, func() (bool, string) {
			k.get("restoresession/restore-shop", &rs)
			return rs.Status.Phase == "Succeeded" || rs.Status.Phase == "Failed", "phase " + rs.Status.Phase + " " + rs.conditions()
		})
		k.show("get", "restoresession", "restore-shop", "-o", "yaml")
		if rs.Status.Phase != "Succeeded" {
			t.Fatalf("restore: %s (%s)", rs.Status.Phase, rs.failure())
		}
		if c := rs.condition("GlobalPostRestoreHookSucceeded"); c.Status != "True" || !strings.Contains(c.Message, "restored rows: 3") {
			t.Errorf("postRestore did not see the restored data: %+v", c)
		}
		k.identityGone("restore", "restore-shop")
	})
}
