package sessionrun

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/result"
)

func TestSessionTimeout(t *testing.T) {
	e := &Env{Timeout: 3 * time.Hour}
	for _, tc := range []struct {
		name, value, of string
		want            time.Duration
		err             string
	}{
		{name: "unset: the operator's default", want: 3 * time.Hour},
		{name: "set", value: "90m", want: 90 * time.Minute},
		{name: "not a duration", value: "2 hours", err: `spec.timeOut "2 hours" is not a positive duration such as 2h`},
		{name: "zero", value: "0s", err: `spec.timeOut "0s" is not a positive duration such as 2h`},
		{name: "negative, named by its owner", value: "-1h", of: "BackupConfiguration db", err: `spec.timeOut "-1h" of BackupConfiguration db is not a positive duration such as 2h`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.SessionTimeout(tc.value, tc.of)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("SessionTimeout = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestHooksHasExec(t *testing.T) {
	exec := &v1beta1.Handler{Exec: &corev1.ExecAction{Command: []string{"true"}}}
	web := &v1beta1.Handler{HTTPGet: &corev1.HTTPGetAction{Path: "/"}}
	for _, tc := range []struct {
		name string
		h    Hooks
		want bool
	}{
		{"none", Hooks{}, false},
		{"an http pre hook", Hooks{Pre: web}, false},
		{"an exec pre hook", Hooks{Pre: exec}, true},
		{"an exec post hook", Hooks{Pre: web, Post: &v1beta1.PostHook{Handler: *exec}}, true},
		{"an http post hook", Hooks{Post: &v1beta1.PostHook{Handler: *web}}, false},
	} {
		if got := tc.h.hasExec(); got != tc.want {
			t.Errorf("%s: hasExec = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestHookConditions(t *testing.T) {
	d := Desc{PreHook: hook.PreRestore, PostHook: hook.PostRestore,
		PreHookCondition: v1beta1.ConditionGlobalPreRestoreHookSucceeded, PostHookCondition: v1beta1.ConditionGlobalPostRestoreHookSucceeded}
	conds := HookConditions(d, []result.Hook{
		{Name: hook.PreRestore, Action: "exec", Phase: result.PhaseSucceeded},
		{Name: hook.PostRestore, Action: "httpGet", Phase: result.PhaseFailed, Error: "503"},
	})
	want := []metav1.Condition{
		{Type: v1beta1.ConditionGlobalPreRestoreHookSucceeded, Status: metav1.ConditionTrue, Reason: "HookSucceeded", Message: "preRestore hook (exec) succeeded"},
		{Type: v1beta1.ConditionGlobalPostRestoreHookSucceeded, Status: metav1.ConditionFalse, Reason: "HookFailed", Message: "postRestore hook (httpGet) failed: 503"},
	}
	if len(conds) != len(want) {
		t.Fatalf("conditions %+v, want %+v", conds, want)
	}
	for i := range want {
		if conds[i] != want[i] {
			t.Errorf("condition %d: %+v, want %+v", i, conds[i], want[i])
		}
	}
	if got := HookConditions(d, nil); len(got) != 0 {
		t.Errorf("no hooks ran, conditions %+v", got)
	}
}

func TestRefusal(t *testing.T) {
	var r *Refusal
	if err := Refuse("DriverUnsupported", "no"); !errors.As(err, &r) || r.Reason != "DriverUnsupported" || err.Error() != "no" {
		t.Errorf("Refuse = %v", err)
	}
}
