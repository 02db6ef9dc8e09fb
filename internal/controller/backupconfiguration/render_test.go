package backupconfiguration

import (
	"reflect"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

func testBC() *stashv1beta1.BackupConfiguration {
	return &stashv1beta1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "demo"},
		Spec:       stashv1beta1.BackupConfigurationSpec{Schedule: "*/5 * * * *"},
	}
}

func TestTriggerName(t *testing.T) {
	if got := TriggerName("db"); got != "stash-trigger-db" {
		t.Errorf("TriggerName(db) = %q", got)
	}
	long := strings.Repeat("a", 37) + "-" + strings.Repeat("b", 30)
	got := TriggerName(long)
	if len(got) > maxTriggerNameLen {
		t.Errorf("TriggerName(long) = %q: %d characters, want <= %d", got, len(got), maxTriggerNameLen)
	}
	if got == TriggerName(long+"x") {
		t.Errorf("two long names map to the same trigger name %q", got)
	}
	if strings.Contains(got, "--") || strings.HasSuffix(got, "-") {
		t.Errorf("TriggerName(long) = %q is not a clean DNS name", got)
	}
	exact := strings.Repeat("c", maxTriggerNameLen-len("stash-trigger-"))
	if got := TriggerName(exact); got != "stash-trigger-"+exact {
		t.Errorf("name of exactly the limit was shortened: %q", got)
	}
}

func TestRenderCronJob(t *testing.T) {
	bc := testBC()
	bc.Spec.Paused = true
	cj := RenderCronJob(bc, "example.org/hoard:v1")
	s := cj.Spec
	if cj.Name != "stash-trigger-db" || cj.Namespace != "demo" {
		t.Errorf("name = %s/%s", cj.Namespace, cj.Name)
	}
	if s.Schedule != "*/5 * * * *" || !ptr.Deref(s.Suspend, false) || s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("schedule/suspend/concurrency = %q/%v/%s", s.Schedule, s.Suspend, s.ConcurrencyPolicy)
	}
	if *s.SuccessfulJobsHistoryLimit > 3 || *s.FailedJobsHistoryLimit > 3 {
		t.Errorf("history limits too large: %d/%d", *s.SuccessfulJobsHistoryLimit, *s.FailedJobsHistoryLimit)
	}
	pod := s.JobTemplate.Spec.Template.Spec
	if pod.ServiceAccountName != "stash-trigger-db" {
		t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
	}
	psc := pod.SecurityContext
	if !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 || psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod security context = %+v", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("containers = %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "example.org/hoard:v1" {
		t.Errorf("image = %q", c.Image)
	}
	want := []string{"trigger", "--namespace=demo", "--backupconfiguration=db"}
	if !reflect.DeepEqual(c.Args, want) {
		t.Errorf("args = %q, want %q", c.Args, want)
	}
	sc := c.SecurityContext
	if *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("container security context = %+v", sc)
	}
}

// syncCronJob must make an unchanged configuration a no-op (no write), and carry schedule
// and pause changes into an existing object without dropping server-set fields.
func TestSyncCronJob(t *testing.T) {
	bc := testBC()
	existing := RenderCronJob(bc, "img")
	existing.Spec.JobTemplate.Spec.Template.Spec.DNSPolicy = "ClusterFirst" // a server default
	existing.Spec.JobTemplate.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
	before := existing.DeepCopy()
	syncCronJob(existing, RenderCronJob(bc, "img"))
	if !equality.Semantic.DeepEqual(before, existing) {
		t.Errorf("sync of an unchanged configuration changed the object")
	}
	bc.Spec.Schedule = "@daily"
	bc.Spec.Paused = true
	syncCronJob(existing, RenderCronJob(bc, "img2"))
	if existing.Spec.Schedule != "@daily" || !*existing.Spec.Suspend {
		t.Errorf("schedule/suspend not updated: %q %v", existing.Spec.Schedule, *existing.Spec.Suspend)
	}
	pod := existing.Spec.JobTemplate.Spec.Template.Spec
	if pod.DNSPolicy != "ClusterFirst" || pod.Containers[0].TerminationMessagePath == "" || pod.Containers[0].Image != "img2" {
		t.Errorf("server defaults dropped or image not updated: %+v", pod)
	}
}

func TestRenderRole(t *testing.T) {
	role := RenderRole(testBC())
	if len(role.Rules) != 2 {
		t.Fatalf("rules = %+v", role.Rules)
	}
	for _, r := range role.Rules {
		switch r.Resources[0] {
		case "backupconfigurations":
			if !reflect.DeepEqual(r.Verbs, []string{"get"}) || !reflect.DeepEqual(r.ResourceNames, []string{"db"}) {
				t.Errorf("backupconfigurations rule = %+v", r)
			}
		case "backupsessions":
			if !reflect.DeepEqual(r.Verbs, []string{"create"}) {
				t.Errorf("backupsessions rule = %+v", r)
			}
		default:
			t.Errorf("unexpected rule %+v", r)
		}
	}
}

func TestValidateSchedule(t *testing.T) {
	for s, ok := range map[string]bool{
		"*/5 * * * *": true, "@daily": true, "0 3 * * SUN": true,
		"": false, "* * * *": false, "61 * * * *": false, "not a schedule": false,
	} {
		if err := validateSchedule(s); (err == nil) != ok {
			t.Errorf("validateSchedule(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}

func TestPhaseOf(t *testing.T) {
	cond := func(typ string, ok bool, reason string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason}
	}
	ready := []metav1.Condition{cond("A", true, "Found"), cond("B", true, "Found")}
	if p := phaseOf(ready); p != stashv1beta1.BackupInvokerReady {
		t.Errorf("all true: %s", p)
	}
	if p := phaseOf(append(ready, cond("C", false, stashv1beta1.ReasonRepositoryNotFound))); p != stashv1beta1.BackupInvokerNotReady {
		t.Errorf("missing dependency: %s", p)
	}
	if p := phaseOf(append(ready, cond("C", false, stashv1beta1.ReasonRepositoryNotFound), cond("D", false, ReasonDriverUnsupported))); p != stashv1beta1.BackupInvokerInvalid {
		t.Errorf("unsupported driver: %s", p)
	}
	if p := phaseOf(append(ready, cond(ConditionHooksValid, false, ReasonInvalidHook))); p != stashv1beta1.BackupInvokerInvalid {
		t.Errorf("a hook without an action: %s", p)
	}
}
