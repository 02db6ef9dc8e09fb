package backupverification

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
)

func TestSameHost(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"db.demo.svc", "db.demo.svc.cluster.local", true},
		{"db.demo.svc", "DB.demo.svc.cluster.local.", true},
		{"db.demo.svc", "db.other.svc", false},
		{"127.0.0.1", "db.demo.svc", false},
	} {
		if got := sameHost(c.a, c.b); got != c.same {
			t.Errorf("sameHost(%q, %q) = %t, want %t", c.a, c.b, got, c.same)
		}
	}
}

func TestRun(t *testing.T) {
	rs := &v1beta1.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{Name: "v-nightly-1", Annotations: map[string]string{opsv1alpha1.AnnotationBackupSession: "nightly-1"}},
		Spec:       v1beta1.RestoreSessionSpec{Target: &v1beta1.RestoreTarget{Rules: []v1beta1.Rule{{Snapshots: []string{"4b2a9e1c"}}}}},
		Status: v1beta1.RestoreSessionStatus{Phase: v1beta1.RestoreFailed, Conditions: []metav1.Condition{
			{Type: v1beta1.ConditionRestoreCompleted, Status: metav1.ConditionFalse, Message: "verification failed: …"}}},
	}
	got := run(rs)
	if got.Snapshot != "4b2a9e1c" || got.BackupSession != "nightly-1" || got.RestoreSession != "v-nightly-1" || got.Phase != "Failed" ||
		got.Message != "verification failed: …" || got.Time == nil {
		t.Errorf("run = %+v", got)
	}
	rs.Status.Phase = v1beta1.RestoreSucceeded
	if got := run(rs); got.Phase != "Passed" {
		t.Errorf("a succeeded session's phase = %q, want Passed", got.Phase)
	}
}

func TestRestoreSessionParams(t *testing.T) {
	bv := &opsv1alpha1.BackupVerification{ObjectMeta: metav1.ObjectMeta{Name: "v", Namespace: "demo"}}
	p := &plan{configuration: &v1beta1.BackupConfiguration{Spec: v1beta1.BackupConfigurationSpec{Repository: v1beta1.RepositoryRef{Name: "repo", Namespace: "shared"}}},
		task: "mysql-restore-10.11", scratch: "v-scratch"}
	rs := restoreSession(bv, p, "v-1", "", "4b2a9e1c")
	if len(rs.Spec.Task.Params) != 1 || rs.Spec.Task.Params[0] != (v1beta1.Param{Name: "verify", Value: "true"}) {
		t.Errorf("params without sql: %v", rs.Spec.Task.Params)
	}
	if rs.Spec.Repository != p.configuration.Spec.Repository || rs.Annotations[opsv1alpha1.AnnotationBackupSession] != "" || rs.Spec.RuntimeSettings.Pod != nil {
		t.Errorf("repository %v, annotations %v, pod settings %v", rs.Spec.Repository, rs.Annotations, rs.Spec.RuntimeSettings.Pod)
	}
	p.configuration.Spec.RuntimeSettings = v1beta1.RuntimeSettings{
		Pod:       &v1beta1.PodRuntimeSettings{NodeSelector: map[string]string{"zone": "a"}},
		Container: &v1beta1.ContainerRuntimeSettings{Nice: &v1beta1.NiceSettings{Adjustment: ptr.To(int32(5))}},
	}
	if rs := restoreSession(bv, p, "v-1", "", "4b2a9e1c"); rs.Spec.RuntimeSettings.Pod == nil || rs.Spec.RuntimeSettings.Pod.NodeSelector["zone"] != "a" ||
		rs.Spec.RuntimeSettings.Container != nil || rs.Spec.RuntimeSettings.Pod == p.configuration.Spec.RuntimeSettings.Pod {
		t.Errorf("runtime settings %+v, want a copy of the configuration's pod settings only", rs.Spec.RuntimeSettings)
	}
	bv.Spec.SQL = "SELECT 1"
	if rs := restoreSession(bv, p, "v-1", "nightly-1", "4b2a9e1c"); len(rs.Spec.Task.Params) != 2 || rs.Spec.Task.Params[1].Value != "SELECT 1" ||
		rs.Annotations[opsv1alpha1.AnnotationBackupSession] != "nightly-1" {
		t.Errorf("params %v, annotations %v", rs.Spec.Task.Params, rs.Annotations)
	}
}

// TestLastDue: the fire is the latest due one, so that missed fires make one verification
// and a second reconcile names the same RestoreSession.
func TestLastDue(t *testing.T) {
	hourly, err := cron.ParseStandard("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct{ due, now, want string }{
		{"2026-12-04T10:00:00Z", "2026-12-04T10:00:00Z", "2026-12-04T10:00:00Z"},
		{"2026-12-04T10:00:00Z", "2026-12-04T10:00:07Z", "2026-12-04T10:00:00Z"},
		{"2026-12-04T10:00:00Z", "2026-12-04T13:30:00Z", "2026-12-04T13:00:00Z"},
		// More than 1000 missed fires: the fire is now.
		{"2026-01-01T00:00:00Z", "2026-12-04T13:30:00Z", "2026-12-04T13:30:00Z"},
	} {
		if got := lastDue(hourly, at(c.due), at(c.now)); !got.Equal(at(c.want)) {
			t.Errorf("lastDue(%s, %s) = %s, want %s", c.due, c.now, got.UTC().Format(time.RFC3339), c.want)
		}
	}
}
