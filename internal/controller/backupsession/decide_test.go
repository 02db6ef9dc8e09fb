package backupsession

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/sessionrun"
	"github.com/hoard-operator/hoard/internal/result"
)

func TestStage(t *testing.T) {
	r := &Reconciler{}
	for phase, want := range map[v1beta1.BackupSessionPhase]sessionrun.Stage{
		"":                             sessionrun.Waiting,
		v1beta1.BackupSessionPending:   sessionrun.Waiting,
		v1beta1.BackupSessionRunning:   sessionrun.Running,
		v1beta1.BackupSessionUnknown:   sessionrun.Running,
		v1beta1.BackupSessionSucceeded: sessionrun.Finished,
		v1beta1.BackupSessionFailed:    sessionrun.Finished,
		v1beta1.BackupSessionSkipped:   sessionrun.Finished,
	} {
		if got := r.Stage(&v1beta1.BackupSession{Status: v1beta1.BackupSessionStatus{Phase: phase}}); got != want {
			t.Errorf("phase %q: stage %d, want %d", phase, got, want)
		}
	}
}

// TestOlderThan is the order of the skip rule and of the history: creation time, then name
// (creation times have whole seconds).
func TestOlderThan(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := func(name string, at time.Time) *v1beta1.BackupSession {
		return &v1beta1.BackupSession{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(at)}}
	}
	for _, tc := range []struct {
		name string
		a, b *v1beta1.BackupSession
		want bool
	}{
		{"created before", s("z", t0), s("a", t0.Add(time.Second)), true},
		{"created after", s("a", t0.Add(time.Second)), s("z", t0), false},
		{"same second: by name", s("db-1", t0), s("db-2", t0), true},
		{"same second, later name", s("db-2", t0), s("db-1", t0), false},
		{"itself", s("db-1", t0), s("db-1", t0), false},
	} {
		if got := olderThan(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: olderThan = %t, want %t", tc.name, got, tc.want)
		}
	}
}

// TestNewerRecord: the history's order is the same whichever session is reconciled, so that
// two reconciles at once keep the same sessions (CI once saw each of two finished sessions
// prune the other, leaving no record of the failure the test waited for).
func TestNewerRecord(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := func(name string, at, done time.Time) *v1beta1.BackupSession {
		return &v1beta1.BackupSession{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(at)},
			Status: v1beta1.BackupSessionStatus{Conditions: []metav1.Condition{
				{Type: "BackupJobCreated", LastTransitionTime: metav1.NewTime(at)},
				{Type: "BackupCompleted", LastTransitionTime: metav1.NewTime(done)},
			}},
		}
	}
	seed := s("shop-1796210724", t0, t0.Add(19*time.Second))
	failed := s("shop-1796210750", t0.Add(26*time.Second), t0.Add(50*time.Second))
	for _, tc := range []struct {
		name string
		a, b *v1beta1.BackupSession
		want bool
	}{
		{"created later", failed, seed, true},
		{"created earlier", seed, failed, false},
		{"same second: finished later", s("db-1", t0, t0.Add(9*time.Second)), s("db-2", t0, t0.Add(5*time.Second)), true},
		{"same second: finished earlier", s("db-2", t0, t0.Add(5*time.Second)), s("db-1", t0, t0.Add(9*time.Second)), false},
		{"ran while a later one was skipped", s("db-1", t0, t0.Add(60*time.Second)), s("db-2", t0.Add(10*time.Second), t0.Add(10*time.Second)), true},
		{"same finish: created later", s("db-1", t0.Add(time.Second), t0.Add(9*time.Second)), s("db-2", t0, t0.Add(9*time.Second)), true},
		{"same second, same finish: by name", s("db-2", t0, t0), s("db-1", t0, t0), true},
		{"itself", seed, seed, false},
	} {
		if got := newerRecord(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: newerRecord = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestSetActionConditions(t *testing.T) {
	ok, bad := true, false
	for _, tc := range []struct {
		name string
		res  result.Result
		want map[string]metav1.ConditionStatus
	}{
		{"nothing ran", result.Result{}, map[string]metav1.ConditionStatus{}},
		{"all ran", result.Result{
			PreActions:  []string{result.ActionInitializeRepository},
			PostActions: []string{result.ActionApplyRetention, result.ActionVerifyIntegrity, result.ActionSendMetrics},
			Repository:  &result.Repository{Integrity: &ok, SnapshotsRemoved: 2},
		}, map[string]metav1.ConditionStatus{
			v1beta1.ConditionBackendRepositoryInitialized: metav1.ConditionTrue,
			v1beta1.ConditionRetentionPolicyApplied:       metav1.ConditionTrue,
			v1beta1.ConditionRepositoryIntegrityVerified:  metav1.ConditionTrue,
			v1beta1.ConditionRepositoryMetricsPushed:      metav1.ConditionTrue,
		}},
		{"the check found problems", result.Result{PostActions: []string{result.ActionVerifyIntegrity}, Repository: &result.Repository{Integrity: &bad}},
			map[string]metav1.ConditionStatus{v1beta1.ConditionRepositoryIntegrityVerified: metav1.ConditionFalse}},
		{"retention failed", result.Result{FailedActions: []result.ActionFailure{{Action: result.ActionApplyRetention, Error: "locked"}}},
			map[string]metav1.ConditionStatus{v1beta1.ConditionRetentionPolicyApplied: metav1.ConditionFalse}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conds []metav1.Condition
			setActionConditions(&conds, &tc.res)
			if len(conds) != len(tc.want) {
				t.Errorf("conditions %+v, want %v", conds, tc.want)
			}
			for typ, status := range tc.want {
				if c := meta.FindStatusCondition(conds, typ); c == nil || c.Status != status {
					t.Errorf("%s: %+v, want %s", typ, c, status)
				}
			}
		})
	}
}

func TestHooksOfTheConfiguration(t *testing.T) {
	bs := &v1beta1.BackupSession{Spec: v1beta1.BackupSessionSpec{Invoker: v1beta1.BackupInvokerRef{Kind: "BackupConfiguration", Name: "db"}}}
	pre := &v1beta1.Handler{}
	bc := &v1beta1.BackupConfiguration{Spec: v1beta1.BackupConfigurationSpec{
		Target: &v1beta1.BackupTarget{Ref: v1beta1.TargetRef{Kind: "AppBinding", Name: "db"}},
		Hooks:  &v1beta1.BackupHooks{PreBackup: pre},
	}}
	h := hooks(bs, bc)
	if h.Pre != pre || h.Post != nil || h.Target.Name != "db" || h.Invoker.Kind != "BackupConfiguration" || h.Invoker.Name != "db" {
		t.Errorf("hooks %+v", h)
	}
	// A configuration that is gone has no hooks.
	if h := hooks(bs, &v1beta1.BackupConfiguration{}); h.Pre != nil || h.Post != nil {
		t.Errorf("hooks of no configuration %+v", h)
	}
}
