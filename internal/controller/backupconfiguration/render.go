package backupconfiguration

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/names"
	"github.com/hoard-operator/hoard/internal/podsecurity"
)

// maxTriggerNameLen keeps the CronJob name short enough for the Job names the CronJob
// controller derives from it (name + "-" + 10-digit minute stamp must stay within 63).
const maxTriggerNameLen = 52

// containerName is the trigger container's name in the CronJob's pod.
const containerName = "trigger"

// TriggerName is the name shared by the CronJob, ServiceAccount, Role and RoleBinding of a
// BackupConfiguration: "stash-trigger-<name>", shortened with a hash suffix when too long.
func TriggerName(bcName string) string {
	return names.Prefixed("stash-trigger-", bcName, maxTriggerNameLen)
}

// labels mark every object Hoard creates for a configuration, so users can find them.
func labels(bc *stashv1beta1.BackupConfiguration) map[string]string {
	l := names.Labels("backup-trigger")
	l[stashv1beta1.LabelInvokerType] = "BackupConfiguration"
	l[stashv1beta1.LabelInvokerName] = names.LabelValue(bc.Name)
	return l
}

// TriggerArgs is the command line the CronJob runs; only names, never credentials.
func TriggerArgs(bc *stashv1beta1.BackupConfiguration) []string {
	return []string{"trigger", "--namespace=" + bc.Namespace, "--backupconfiguration=" + bc.Name}
}

// RenderCronJob is the CronJob that creates a BackupSession on every schedule tick. It is
// a pure function of the configuration and the operator image, so it can be tested alone.
func RenderCronJob(bc *stashv1beta1.BackupConfiguration, image string) *batchv1.CronJob {
	name := TriggerName(bc.Name)
	lbl := labels(bc)
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: bc.Namespace, Labels: lbl},
		Spec: batchv1.CronJobSpec{
			Schedule: bc.Spec.Schedule,
			Suspend:  ptr.To(bc.Spec.Paused),
			// Overlapping triggers are pointless: the BackupSession controller skips a session
			// while another one runs, and a stuck trigger must not pile up pods.
			ConcurrencyPolicy: batchv1.ForbidConcurrent,
			// Without a deadline the CronJob controller stops scheduling after 100 missed
			// ticks (e.g. a long control-plane outage); a late trigger is better than none.
			StartingDeadlineSeconds:    ptr.To[int64](300),
			SuccessfulJobsHistoryLimit: ptr.To[int32](1),
			FailedJobsHistoryLimit:     ptr.To[int32](2),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: batchv1.JobSpec{
					// A retry covers a transient API error; the session name carries the
					// second, so a retry never collides with the first attempt.
					BackoffLimit:          ptr.To[int32](2),
					ActiveDeadlineSeconds: ptr.To[int64](300),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: lbl},
						Spec:       renderPodSpec(bc, name, image),
					},
				},
			},
		},
	}
}

func renderPodSpec(bc *stashv1beta1.BackupConfiguration, serviceAccount, image string) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName:           serviceAccount,
		AutomountServiceAccountToken: ptr.To(true),
		RestartPolicy:                corev1.RestartPolicyNever,
		SecurityContext:              podsecurity.Pod(),
		Containers: []corev1.Container{{
			Name:            containerName,
			Image:           image,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Args:            TriggerArgs(bc),
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("10m"),
					corev1.ResourceMemory: resource.MustParse("32Mi"),
				},
				Limits: corev1.ResourceList{
					corev1.ResourceMemory: resource.MustParse("128Mi"),
				},
			},
			SecurityContext: podsecurity.Container(true),
		}},
	}
}

// syncCronJob copies the fields Hoard owns from desired into existing and leaves the rest
// (server defaults, fields set by others) alone, so an unchanged configuration yields an
// unchanged object and no write.
func syncCronJob(existing, desired *batchv1.CronJob) {
	existing.Labels = mergeLabels(existing.Labels, desired.Labels)
	s, d := &existing.Spec, &desired.Spec
	s.Schedule = d.Schedule
	s.Suspend = d.Suspend
	s.ConcurrencyPolicy = d.ConcurrencyPolicy
	s.StartingDeadlineSeconds = d.StartingDeadlineSeconds
	s.SuccessfulJobsHistoryLimit = d.SuccessfulJobsHistoryLimit
	s.FailedJobsHistoryLimit = d.FailedJobsHistoryLimit
	s.JobTemplate.Labels = mergeLabels(s.JobTemplate.Labels, d.JobTemplate.Labels)

	js, dj := &s.JobTemplate.Spec, &d.JobTemplate.Spec
	js.BackoffLimit = dj.BackoffLimit
	js.ActiveDeadlineSeconds = dj.ActiveDeadlineSeconds
	js.Template.Labels = mergeLabels(js.Template.Labels, dj.Template.Labels)

	ps, dp := &js.Template.Spec, &dj.Template.Spec
	ps.ServiceAccountName = dp.ServiceAccountName
	ps.AutomountServiceAccountToken = dp.AutomountServiceAccountToken
	ps.RestartPolicy = dp.RestartPolicy
	ps.SecurityContext = dp.SecurityContext
	if len(ps.Containers) != 1 || ps.Containers[0].Name != dp.Containers[0].Name {
		ps.Containers = dp.Containers
		return
	}
	c, dc := &ps.Containers[0], &dp.Containers[0]
	c.Image = dc.Image
	c.ImagePullPolicy = dc.ImagePullPolicy
	c.Command = dc.Command
	c.Args = dc.Args
	c.Env = dc.Env
	c.Resources = dc.Resources
	c.SecurityContext = dc.SecurityContext
}

// RenderServiceAccount is the identity the trigger pod runs as.
func RenderServiceAccount(bc *stashv1beta1.BackupConfiguration) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: TriggerName(bc.Name), Namespace: bc.Namespace, Labels: labels(bc)},
	}
}

// RenderRole grants the trigger exactly what `hoard trigger` does: read this one
// configuration (to refuse while paused and to own the session) and create sessions. A
// leaked token can therefore start backups of this namespace, and nothing else.
func RenderRole(bc *stashv1beta1.BackupConfiguration) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: TriggerName(bc.Name), Namespace: bc.Namespace, Labels: labels(bc)},
		Rules: []rbacv1.PolicyRule{
			{
				APIGroups:     []string{stashv1beta1.GroupVersion.Group},
				Resources:     []string{"backupconfigurations"},
				ResourceNames: []string{bc.Name},
				Verbs:         []string{"get"},
			},
			{
				// create cannot be limited by resourceNames: the session name is new.
				APIGroups: []string{stashv1beta1.GroupVersion.Group},
				Resources: []string{"backupsessions"},
				Verbs:     []string{"create"},
			},
		},
	}
}

// RenderRoleBinding binds the Role to the ServiceAccount.
func RenderRoleBinding(bc *stashv1beta1.BackupConfiguration) *rbacv1.RoleBinding {
	name := TriggerName(bc.Name)
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: bc.Namespace, Labels: labels(bc)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: bc.Namespace,
		}},
	}
}

func mergeLabels(existing, desired map[string]string) map[string]string {
	if existing == nil && len(desired) > 0 {
		existing = make(map[string]string, len(desired))
	}
	for k, v := range desired {
		existing[k] = v
	}
	return existing
}
