//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The e2e drives the cluster the way a user does: kubectl with the manifests in testdata/.
// KUBECONFIG must point at a cluster with Hoard installed (`make e2e` does both).

var (
	repoRoot = func() string {
		_, f, _, _ := runtime.Caller(0)
		return filepath.Join(filepath.Dir(f), "..", "..")
	}()
	kubectlBin = func() string {
		if p := os.Getenv("KUBECTL"); p != "" {
			return p
		}
		if p := filepath.Join(repoRoot, "bin", "kubectl"); fileExists(p) {
			return p
		}
		return "kubectl"
	}()
	// Where `make e2e` installed the operator.
	operatorNamespace = envOr("HOARD_NAMESPACE", "hoard-system")
	operatorRelease   = envOr("HOARD_RELEASE", "hoard")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// kubectl runs kubectl with stdin (may be empty) and returns trimmed stdout; the error carries
// stderr.
func kubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--request-timeout=60s"}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return strings.TrimSpace(out.String()), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ns runs kubectl in the test namespace.
func ns(t *testing.T, args ...string) string {
	t.Helper()
	return mustKubectl(t, "", append([]string{"-n", namespace}, args...)...)
}

// manifest reads testdata/NAME with @KEY@ placeholders replaced, the credentials' ones
// (@DB_PASSWORD@…) by this run's secrets.
func manifest(t *testing.T, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "test", "e2e", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	repl = append(repl, secretPlaceholders()...)
	for i := 0; i+1 < len(repl); i += 2 {
		s = strings.ReplaceAll(s, "@"+repl[i]+"@", repl[i+1])
	}
	return s
}

func apply(t *testing.T, yaml string) {
	t.Helper()
	out := mustKubectl(t, yaml, "-n", namespace, "apply", "-f", "-")
	for _, l := range strings.Split(out, "\n") {
		t.Logf("  %s", l)
	}
}

// eventually polls cond every interval until it returns true, failing the test with cond's
// last message after timeout.
func eventually(t *testing.T, what string, timeout, interval time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if msg != "" {
			last = msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(interval)
	}
}

// step logs a progress line that stands out in `go test -v` output.
func step(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("==> [%s] %s", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// steps runs a long test as named steps (t.Run), so that a failure names its step. A step
// that stops (t.Fatal) stops the test, as it would without steps; one that only reports
// (t.Error) lets the next step run. The steps share the test's variables.
type steps struct{ t *testing.T }

// run runs step name, logged as step logs it.
func (s steps) run(name string, f func(t *testing.T)) {
	s.t.Helper()
	done := false
	s.t.Run(name, func(t *testing.T) {
		t.Helper()
		step(t, "%s", name)
		f(t)
		done = true
	})
	if !done {
		s.t.FailNow()
	}
}

// show logs the output of a kubectl command the way a user would look at it.
func show(t *testing.T, args ...string) {
	t.Helper()
	out, err := kubectl("", append([]string{"-n", namespace}, args...)...)
	if err != nil {
		t.Logf("$ kubectl -n %s %s: %v", namespace, strings.Join(args, " "), err)
		return
	}
	t.Logf("$ kubectl -n %s %s\n%s", namespace, strings.Join(args, " "), out)
}

// Minimal views of the objects the test reads.
type objectMeta struct {
	Name              string            `json:"name"`
	UID               string            `json:"uid"`
	CreationTimestamp time.Time         `json:"creationTimestamp"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp"`
	Labels            map[string]string `json:"labels"`
	Finalizers        []string          `json:"finalizers"`
}

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type backupSession struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Phase           string      `json:"phase"`
		SessionDuration string      `json:"sessionDuration"`
		Conditions      []condition `json:"conditions"`
		Progress        *struct {
			BytesDone  int64 `json:"bytesDone"`
			TotalBytes int64 `json:"totalBytes"`
		} `json:"progress"`
		Targets []struct {
			Phase string `json:"phase"`
			Stats []struct {
				Hostname  string `json:"hostname"`
				Phase     string `json:"phase"`
				Error     string `json:"error"`
				Snapshots []struct {
					Name      string `json:"name"`
					Path      string `json:"path"`
					TotalSize string `json:"totalSize"`
				} `json:"snapshots"`
			} `json:"stats"`
		} `json:"targets"`
	} `json:"status"`
}

// failure is every error message the session carries (host stats and conditions).
func (bs backupSession) failure() string {
	var msgs []string
	for _, tg := range bs.Status.Targets {
		for _, st := range tg.Stats {
			if st.Error != "" {
				msgs = append(msgs, st.Error)
			}
		}
	}
	for _, c := range bs.Status.Conditions {
		if c.Message != "" {
			msgs = append(msgs, c.Type+"="+c.Status+": "+c.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

// condition returns the session's condition of that type (empty when it has none).
func (bs backupSession) condition(typ string) condition {
	return findCondition(bs.Status.Conditions, typ)
}

// conditions is every condition in one line: Type=Status(Reason).
func (bs backupSession) conditions() string {
	return formatConditions(bs.Status.Conditions)
}

func findCondition(conds []condition, typ string) condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return condition{}
}

func formatConditions(conds []condition) string {
	var s []string
	for _, c := range conds {
		s = append(s, c.Type+"="+c.Status+"("+c.Reason+")")
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (bs backupSession) snapshots() []string {
	var ids []string
	for _, tg := range bs.Status.Targets {
		for _, st := range tg.Stats {
			for _, s := range st.Snapshots {
				ids = append(ids, s.Name)
			}
		}
	}
	return ids
}

var lastListErr string

// sessionsOf lists the BackupSessions of a BackupConfiguration, oldest first.
func sessionsOf(t *testing.T, bc string) []backupSession {
	t.Helper()
	out, err := kubectl("", "-n", namespace, "get", "backupsessions", "-o", "json",
		"-l", "stash.appscode.com/invoker-name="+bc)
	if err != nil {
		if err.Error() != lastListErr {
			t.Logf("listing sessions: %v", err)
		}
		lastListErr = err.Error()
		return nil
	}
	lastListErr = ""
	var list struct {
		Items []backupSession `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding sessions: %v", err)
	}
	items := list.Items
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].Metadata.CreationTimestamp.Before(items[j-1].Metadata.CreationTimestamp); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
	return items
}

// waitSession waits for a session of bc created at or after since (second precision, as the
// API stores it) to finish, and returns it.
func waitSession(t *testing.T, bc string, since time.Time, timeout time.Duration) backupSession {
	t.Helper()
	since = since.Truncate(time.Second)
	var found backupSession
	eventually(t, "a finished BackupSession of "+bc+" created after "+since.Format(time.TimeOnly), timeout, 2*time.Second, func() (bool, string) {
		var msg string
		for _, bs := range sessionsOf(t, bc) {
			if bs.Metadata.CreationTimestamp.Before(since) {
				continue
			}
			switch bs.Status.Phase {
			case "Succeeded", "Failed":
				found = bs
				return true, ""
			}
			msg = fmt.Sprintf("%s is %q", bs.Metadata.Name, bs.Status.Phase)
		}
		if msg == "" {
			msg = "no session yet"
		}
		return false, msg
	})
	return found
}

// jsonpath reads one field of an object in the test namespace.
func jsonpath(t *testing.T, resource, path string) string {
	t.Helper()
	out, _ := kubectl("", "-n", namespace, "get", resource, "-o", "jsonpath="+path)
	return out
}

// sql runs statements in a MariaDB pod of the test namespace (Deployment name) as root and
// returns the tab-separated result without headers.
func sql(t *testing.T, deploy, stmts string) string {
	t.Helper()
	return mustKubectl(t, stmts, "-n", namespace, "exec", "-i", "deploy/"+deploy, "-c", "mariadb", "--",
		"sh", "-c", `exec mariadb -uroot -p"$MYSQL_ROOT_PASSWORD" -N -B`)
}
