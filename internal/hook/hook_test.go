package hook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/scrub"
)

var summary = Summary{
	Name: "nightly-1700000000", Namespace: "demo",
	Invoker: Ref{Kind: "BackupConfiguration", Name: "nightly"},
	Target:  Ref{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "sample-mysql"},
	Status:  Status{Phase: "Failed", Duration: "3s", Error: "mysqldump: Got error: 1045"},
}

// serverHostPort splits a test server's URL into the handler's host and port.
func serverHostPort(t *testing.T, raw string) (string, intstr.IntOrString) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(raw, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, intstr.FromInt32(int32(n))
}

func TestRun_HTTPPost(t *testing.T) {
	slack := `{"text": "{{if eq .Status.Phase "Succeeded"}}:white_check_mark: Backup succeeded for {{ .Namespace }}/{{.Target.Name}}{{else}}:x: Backup failed for {{ .Namespace }}/{{.Target.Name}} Reason: {{.Status.Error}}.{{end}}"}`
	cases := map[string]struct {
		status     int
		body       string
		form       []v1beta1.FormEntry
		wantPhase  result.Phase
		wantBody   string
		wantType   string
		wantOutput string
	}{
		"GivenSlackTemplate_ThenBodyFilledAndSucceeded": {
			status: 200, body: slack, wantPhase: result.PhaseSucceeded, wantType: "application/json",
			wantBody:   `{"text": ":x: Backup failed for demo/sample-mysql Reason: mysqldump: Got error: 1045."}`,
			wantOutput: "HTTP 200 OK: ok",
		},
		"GivenRedirect_ThenSucceeded": {
			status: 302, body: "phase={{ .Status.Phase }}", wantPhase: result.PhaseSucceeded, wantBody: "phase=Failed", wantType: "application/json",
		},
		"GivenServerError_ThenFailed": {
			status: 500, body: "x", wantPhase: result.PhaseFailed, wantBody: "x", wantType: "application/json", wantOutput: "HTTP 500 Internal Server Error: ok",
		},
		"GivenForm_ThenURLEncoded": {
			status: 204, form: []v1beta1.FormEntry{{Key: "phase", Values: []string{"{{ .Status.Phase }}"}}, {Key: "ns", Values: []string{"{{ .Namespace }}"}}},
			wantPhase: result.PhaseSucceeded, wantBody: "ns=demo&phase=Failed", wantType: "application/x-www-form-urlencoded",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var gotBody, gotType, gotPath string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody, gotType, gotPath = string(b), r.Header.Get("Content-Type"), r.URL.Path
				if tc.status == 302 {
					w.Header().Set("Location", "http://192.0.2.1/elsewhere")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, "ok")
			}))
			defer srv.Close()
			host, port := serverHostPort(t, srv.URL)
			post := &v1beta1.HTTPPostAction{Host: host, Port: port, Path: "services/T0/B0/secret-token", Body: tc.body, Form: tc.form}
			if tc.body != "" {
				post.HTTPHeaders = []corev1.HTTPHeader{{Name: "Content-Type", Value: "application/json"}}
			}
			h := Run(context.Background(), Spec{Name: PostBackup, Handler: v1beta1.Handler{HTTPPost: post}, Summary: summary})
			if h.Phase != tc.wantPhase {
				t.Fatalf("phase %s, want %s (error %q)", h.Phase, tc.wantPhase, h.Error)
			}
			if gotBody != tc.wantBody || gotType != tc.wantType || gotPath != "/services/T0/B0/secret-token" {
				t.Fatalf("server got %q %q (%s), want %q %q", gotBody, gotType, gotPath, tc.wantBody, tc.wantType)
			}
			if tc.wantOutput != "" && h.Output != tc.wantOutput {
				t.Fatalf("output %q, want %q", h.Output, tc.wantOutput)
			}
			if strings.Contains(h.Error, "secret-token") {
				t.Fatalf("error names the webhook's path: %q", h.Error)
			}
			if h.Action != ActionHTTPPost || h.Name != PostBackup || h.Duration == "" {
				t.Fatalf("incomplete report: %+v", h)
			}
		})
	}
}

func TestRun_HTTPGet_GivenHostHeaderAndLongBody_ThenBoundedOutput(t *testing.T) {
	var gotHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		_, _ = io.WriteString(w, strings.Repeat("y", 10*MaxOutputBytes))
	}))
	defer srv.Close()
	host, port := serverHostPort(t, srv.URL)
	h := Run(context.Background(), Spec{Name: PreBackup, Summary: summary, Handler: v1beta1.Handler{HTTPGet: &corev1.HTTPGetAction{
		Host: host, Port: port, Path: "/ready", HTTPHeaders: []corev1.HTTPHeader{{Name: "Host", Value: "db.example"}},
	}}})
	if !h.Succeeded() || gotHost != "db.example" {
		t.Fatalf("phase %s error %q, Host %q", h.Phase, h.Error, gotHost)
	}
	if len(h.Output) > MaxOutputBytes+64 {
		t.Fatalf("output of %d bytes is not bounded", len(h.Output))
	}
}

func TestRun_GivenSlowServer_ThenDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	host, port := serverHostPort(t, srv.URL)
	start := time.Now()
	h := Run(context.Background(), Spec{Name: PostBackup, Timeout: 300 * time.Millisecond, Summary: summary,
		Handler: v1beta1.Handler{HTTPGet: &corev1.HTTPGetAction{Host: host, Port: port}}})
	if h.Succeeded() || !strings.Contains(h.Error, "did not finish within 300ms") {
		t.Fatalf("phase %s error %q", h.Phase, h.Error)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s despite the deadline", d)
	}
}

func TestRun_TCPSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	host, port := serverHostPort(t, "http://"+ln.Addr().String())
	h := Run(context.Background(), Spec{Name: PreRestore, Handler: v1beta1.Handler{TCPSocket: &corev1.TCPSocketAction{Host: host, Port: port}}})
	if !h.Succeeded() || h.Output != "connected to "+ln.Addr().String() {
		t.Fatalf("open port: phase %s error %q output %q", h.Phase, h.Error, h.Output)
	}
	ln.Close()
	h = Run(context.Background(), Spec{Name: PreRestore, Handler: v1beta1.Handler{TCPSocket: &corev1.TCPSocketAction{Host: host, Port: port}}})
	if h.Succeeded() || !strings.Contains(h.Error, "connection refused") {
		t.Fatalf("closed port: phase %s error %q", h.Phase, h.Error)
	}
}

// localExecer runs the command as a local process: it stands in for a pod's container so
// that templating, exit codes and output handling are tested without a cluster (the e2e
// runs exec hooks through the real pods/exec API).
type localExecer struct{ pod, container string }

func (l *localExecer) Exec(ctx context.Context, _, pod, container string, command []string) ([]byte, error) {
	l.pod, l.container = pod, container
	out, err := exec.CommandContext(ctx, command[0], command[1:]...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return out, &ExitError{Code: ee.ExitCode()}
	}
	return out, err
}

func TestRun_Exec(t *testing.T) {
	cases := map[string]struct {
		command    []string
		wantPhase  result.Phase
		wantOutput string
		wantError  string
	}{
		"GivenExitZero_ThenSucceededWithTemplatedCommand": {
			command: []string{"sh", "-c", "echo {{ .Namespace }}/{{ .Target.Name }} {{ .Status.Phase }}"}, wantPhase: result.PhaseSucceeded, wantOutput: "demo/sample-mysql Failed",
		},
		"GivenExitNonZero_ThenFailedWithCodeAndOutput": {
			command: []string{"sh", "-c", "echo locking; echo 'password=hunter22 denied' >&2; exit 3"}, wantPhase: result.PhaseFailed,
			wantOutput: "locking\npassword=*** denied", wantError: "pod demo/db-0 container mariadb: command exited with code 3",
		},
		"GivenShellBraces_ThenLeftAlone": {
			command: []string{"sh", "-c", "x=ok; echo ${x}"}, wantPhase: result.PhaseSucceeded, wantOutput: "ok",
		},
		"GivenUnknownField_ThenTemplateError": {
			command: []string{"echo", "{{ .Nope }}"}, wantPhase: result.PhaseFailed, wantError: "template in exec.command[1]",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ex := &localExecer{}
			h := Run(context.Background(), Spec{Name: PreBackup, Summary: summary, Namespace: "demo", Pod: "db-0", Execer: ex,
				Handler: v1beta1.Handler{Exec: &corev1.ExecAction{Command: tc.command}, ContainerName: "mariadb"}})
			if h.Phase != tc.wantPhase || h.Output != tc.wantOutput || !strings.Contains(h.Error, tc.wantError) {
				t.Fatalf("got phase %s output %q error %q", h.Phase, h.Output, h.Error)
			}
			if tc.wantError == "" && h.Error != "" {
				t.Fatalf("unexpected error %q", h.Error)
			}
		})
	}
}

func TestRun_GivenScrubber_ThenSecretsHidden(t *testing.T) {
	h := Run(context.Background(), Spec{Name: PostRestore, Namespace: "demo", Pod: "db-0", Execer: &localExecer{},
		Scrubber: scrub.New("s3cr3t-token-value"),
		Handler:  v1beta1.Handler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo token s3cr3t-token-value; exit 1"}}}})
	if strings.Contains(h.Output+h.Error, "s3cr3t") {
		t.Fatalf("secret reported: %+v", h)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		h    v1beta1.Handler
		want string
	}{
		"GivenNoAction_ThenRefused":          {h: v1beta1.Handler{}, want: "has no action"},
		"GivenTwoActions_ThenRefused":        {h: v1beta1.Handler{Exec: &corev1.ExecAction{Command: []string{"true"}}, TCPSocket: &corev1.TCPSocketAction{}}, want: "more than one action"},
		"GivenEmptyCommand_ThenRefused":      {h: v1beta1.Handler{Exec: &corev1.ExecAction{}}, want: "empty command"},
		"GivenNamedPort_ThenClearError":      {h: v1beta1.Handler{TCPSocket: &corev1.TCPSocketAction{Host: "db", Port: intstr.FromString("mysql")}}, want: "is a name"},
		"GivenExecWithoutPod_ThenClearError": {h: v1beta1.Handler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, want: "no pod to run in"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := Run(context.Background(), Spec{Name: PreBackup, Handler: tc.h})
			if h.Succeeded() || !strings.Contains(h.Error, tc.want) {
				t.Fatalf("phase %s error %q, want %q", h.Phase, h.Error, tc.want)
			}
		})
	}
}
