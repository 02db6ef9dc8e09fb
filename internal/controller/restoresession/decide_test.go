package restoresession

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/sessionrun"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
)

func TestStage(t *testing.T) {
	r := &Reconciler{}
	for phase, want := range map[v1beta1.RestorePhase]sessionrun.Stage{
		"":                       sessionrun.Waiting,
		v1beta1.RestorePending:   sessionrun.Waiting,
		v1beta1.RestoreRunning:   sessionrun.Running,
		v1beta1.RestoreUnknown:   sessionrun.Running,
		v1beta1.RestoreSucceeded: sessionrun.Finished,
		v1beta1.RestoreFailed:    sessionrun.Finished,
	} {
		if got := r.Stage(&v1beta1.RestoreSession{Status: v1beta1.RestoreSessionStatus{Phase: phase}}); got != want {
			t.Errorf("phase %q: stage %d, want %d", phase, got, want)
		}
	}
}

// TestPlan is what a RestoreSession asks for before anything is read from the API.
func TestPlan(t *testing.T) {
	r := &Reconciler{Env: sessionrun.Env{Timeout: time.Hour}}
	rs := func(spec v1beta1.RestoreSessionSpec) *v1beta1.RestoreSession {
		return &v1beta1.RestoreSession{ObjectMeta: metav1.ObjectMeta{Name: "restore-1", Namespace: "demo"}, Spec: spec}
	}
	for _, tc := range []struct {
		name    string
		rs      *v1beta1.RestoreSession
		reason  string
		timeout time.Duration
		host    string
	}{
		{name: "defaults", rs: rs(v1beta1.RestoreSessionSpec{}), timeout: time.Hour, host: result.DefaultHostname},
		{name: "own timeout and alias", rs: rs(v1beta1.RestoreSessionSpec{TimeOut: "5m", Target: &v1beta1.RestoreTarget{Alias: "db"}}), timeout: 5 * time.Minute, host: jobspec.Hostname("db")},
		{name: "volume snapshots", rs: rs(v1beta1.RestoreSessionSpec{Driver: v1beta1.VolumeSnapshotter}), reason: "DriverUnsupported"},
		{name: "unreadable timeout", rs: rs(v1beta1.RestoreSessionSpec{TimeOut: "soon"}), reason: "InvalidTimeOut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := r.Plan(t.Context(), tc.rs)
			var refused *sessionrun.Refusal
			if tc.reason != "" {
				if !errors.As(err, &refused) || refused.Reason != tc.reason {
					t.Fatalf("err %v, want a refusal %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := &jobspec.Input{}
			p.Configure(in)
			if p.Timeout != tc.timeout || r.host(tc.rs) != tc.host || p.Request.Kind != jobspec.KindRestore || p.Request.Invoker.Name != "restore-1" {
				t.Errorf("plan %+v, host %s", p, r.host(tc.rs))
			}
		})
	}
}
