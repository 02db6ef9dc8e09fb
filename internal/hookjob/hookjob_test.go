package hookjob

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/result"
)

func TestContainer_GivenExec_ThenTokenMountedAndPodPassed(t *testing.T) {
	w := Where{Handler: v1beta1.Handler{Exec: &corev1.ExecAction{Command: []string{"true"}}, ContainerName: "mariadb"}, Pod: "db-0"}
	c, err := Container("img", hook.PreBackup, w, hook.Summary{Namespace: "demo"}, "demo", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"run-hook", "--name=preBackup", "--pod=db-0", "--namespace=demo", "--timeout=30s", `"containerName":"mariadb"`, `"namespace":"demo"`} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if c.Name != "pre-backup-hook" || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != TokenVolumeName || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("hook container's root filesystem is writable")
	}
}

func TestContainer_GivenHTTP_ThenNoToken(t *testing.T) {
	w := Where{Handler: v1beta1.Handler{HTTPGet: &corev1.HTTPGetAction{Host: "x"}}}
	c, err := Container("img", hook.PostRestore, w, hook.Summary{}, "demo", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VolumeMounts) != 0 || strings.Contains(strings.Join(c.Args, " "), "--pod=") {
		t.Errorf("an HTTP hook got the exec token or a pod: %+v %v", c.VolumeMounts, c.Args)
	}
}

func TestHookReport(t *testing.T) {
	b, err := result.MarshalHook(&result.Hook{Name: hook.PostBackup, Phase: result.PhaseSucceeded, Output: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	term := func(name string, code int32, msg string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg, Reason: "Error"}}}
	}
	cases := map[string]struct {
		status    corev1.ContainerStatus
		wantNil   bool
		wantPhase result.Phase
		wantError string
	}{
		"GivenReport_ThenParsed":             {status: term("post-backup-hook", 0, string(b)), wantPhase: result.PhaseSucceeded},
		"GivenCrash_ThenFailedWithLastWords": {status: term("post-backup-hook", 2, "exec format error"), wantPhase: result.PhaseFailed, wantError: "exited with 2 (Error) without a report: exec format error"},
		"GivenRunning_ThenNil":               {status: corev1.ContainerStatus{Name: "post-backup-hook"}, wantNil: true},
		"GivenOtherContainer_ThenNil":        {status: term("mysql-backup-0", 1, "x"), wantNil: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tc.status}}}
			h := HookReport(pod, ContainerName(hook.PostBackup))
			if tc.wantNil {
				if h != nil {
					t.Fatalf("got %+v", h)
				}
				return
			}
			if h == nil || h.Phase != tc.wantPhase || !strings.Contains(h.Error, tc.wantError) {
				t.Fatalf("got %+v", h)
			}
		})
	}
}

func TestURLHost(t *testing.T) {
	for in, want := range map[string]string{
		"tcp(db.example:3306)/":     "db.example",
		"mysql://db.example:3306/x": "db.example",
		"tcp(10.0.0.1)/":            "10.0.0.1",
	} {
		if got := urlHost(in); got != want {
			t.Errorf("urlHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExecutionPolicy(t *testing.T) {
	for p, want := range map[v1beta1.HookExecutionPolicy][2]bool{
		"":                                 {true, true},
		v1beta1.ExecuteAlways:              {true, true},
		v1beta1.ExecuteOnSuccess:           {true, false},
		v1beta1.ExecuteOnFailure:           {false, true},
		v1beta1.ExecuteOnFinalRetryFailure: {false, true},
	} {
		if got := [2]bool{p.Runs(true), p.Runs(false)}; got != want {
			t.Errorf("%q runs after success/failure: %v, want %v", p, got, want)
		}
	}
}
