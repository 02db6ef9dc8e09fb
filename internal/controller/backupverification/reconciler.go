// Package backupverification reconciles BackupVerifications: after each successful backup of
// a BackupConfiguration, or on a cron schedule, it creates a verifying RestoreSession (Task
// param verify) that restores the newest snapshot into a scratch target, keeps a bounded
// history of them, and reports the last verdict. The RestoreSession reconciler runs the
// restore and writes the verdict on the Snapshot (docs/design/0038-backup-verification.md).
package backupverification

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/appbinding"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/names"
)

// DefaultHistoryLimit is how many finished verification RestoreSessions are kept when the
// spec does not say.
const DefaultHistoryLimit = 3

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// +kubebuilder:rbac:groups=operations.hoard.io,resources=backupverifications,verbs=get;list;watch
// +kubebuilder:rbac:groups=operations.hoard.io,resources=backupverifications/status,verbs=patch
// Owner references on the RestoreSessions, AppBinding and Secret it creates.
// +kubebuilder:rbac:groups=operations.hoard.io,resources=backupverifications/finalizers,verbs=update
// The configuration, its sessions and its target say what to verify and where not to restore.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupconfigurations;backupsessions,verbs=get;list;watch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=tasks,verbs=get;list;watch
// The verifying RestoreSessions: created, and the oldest deleted beyond the history limit.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=restoresessions,verbs=get;list;watch;create;delete
// The scratch server's AppBinding (to 127.0.0.1 in the Job's pod) and its root password.
// +kubebuilder:rbac:groups=appcatalog.appscode.com,resources=appbindings,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconciler reconciles one BackupVerification.
type Reconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder
	// Now is the clock of the schedule and the status times.
	Now func() time.Time
}

// SetupWithManager registers the reconciler. A BackupSession or BackupConfiguration wakes
// the verifications of its configuration.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	byConfiguration := func(name func(client.Object) string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.verificationsOf(ctx, o.GetNamespace(), name(o))
		})
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("backupverification").
		For(&opsv1alpha1.BackupVerification{}).
		Owns(&v1beta1.RestoreSession{}).
		// A session's progress changes often; only its phase matters here.
		Watches(&v1beta1.BackupSession{}, byConfiguration(func(o client.Object) string {
			if bs, ok := o.(*v1beta1.BackupSession); ok {
				return bs.Spec.Invoker.Name
			}
			return ""
		}), builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e ctrlevent.UpdateEvent) bool {
			o, _ := e.ObjectOld.(*v1beta1.BackupSession)
			n, _ := e.ObjectNew.(*v1beta1.BackupSession)
			return o == nil || n == nil || o.Status.Phase != n.Status.Phase
		}})).
		Watches(&v1beta1.BackupConfiguration{}, byConfiguration(client.Object.GetName)).
		Complete(r)
}

func (r *Reconciler) verificationsOf(ctx context.Context, namespace, configuration string) []reconcile.Request {
	list := &opsv1alpha1.BackupVerificationList{}
	if configuration == "" || r.List(ctx, list, client.InNamespace(namespace)) != nil {
		return nil
	}
	var out []reconcile.Request
	for _, bv := range list.Items {
		if bv.Spec.BackupConfiguration == configuration {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&bv)})
		}
	}
	return out
}

// notReady is a BackupVerification that cannot run: why, for its Ready condition.
type notReady struct{ reason, message string }

func (e *notReady) Error() string { return e.message }

// Reconcile records the finished verifications, trims the history and starts the next one
// when it is due and none runs. The status is written once, at the end.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	bv := &opsv1alpha1.BackupVerification{}
	if err := r.Get(ctx, req.NamespacedName, bv); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !bv.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	base := bv.DeepCopy()
	defer func() {
		bv.Status.ObservedGeneration = bv.Generation
		if equality.Semantic.DeepEqual(base.Status, bv.Status) {
			return
		}
		if err := r.Status().Patch(ctx, bv, client.MergeFrom(base)); err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("failed to write the status of BackupVerification %s: %w", req.NamespacedName, err))
		}
	}()

	running, err := r.observe(ctx, bv)
	if err != nil {
		return ctrl.Result{}, err
	}
	p, err := r.prepare(ctx, bv)
	var nr *notReady
	if errors.As(err, &nr) {
		r.setReady(bv, metav1.ConditionFalse, nr.reason, nr.message)
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	r.setReady(bv, metav1.ConditionTrue, "Ready", "verifications restore into "+p.scratchDesc)
	if running {
		return ctrl.Result{}, nil
	}
	return r.next(ctx, bv, p)
}

func (r *Reconciler) setReady(bv *opsv1alpha1.BackupVerification, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&bv.Status.Conditions, metav1.Condition{Type: opsv1alpha1.ConditionVerificationReady,
		Status: status, Reason: reason, Message: msg, ObservedGeneration: bv.Generation})
}

// observe reads the verification's RestoreSessions: the newest finished one becomes
// status.last, an unfinished one status.running, and finished ones beyond the history limit
// are deleted, oldest first. It reports whether one runs.
func (r *Reconciler) observe(ctx context.Context, bv *opsv1alpha1.BackupVerification) (bool, error) {
	list := &v1beta1.RestoreSessionList{}
	if err := r.List(ctx, list, client.InNamespace(bv.Namespace), client.MatchingLabels(labels(bv))); err != nil {
		return false, fmt.Errorf("failed to list the RestoreSessions of BackupVerification %s/%s: %w", bv.Namespace, bv.Name, err)
	}
	var finished []*v1beta1.RestoreSession
	bv.Status.Running = ""
	for i := range list.Items {
		rs := &list.Items[i]
		if !metav1.IsControlledBy(rs, bv) || !rs.DeletionTimestamp.IsZero() {
			continue
		}
		switch rs.Status.Phase {
		case v1beta1.RestoreSucceeded, v1beta1.RestoreFailed:
			finished = append(finished, rs)
		default:
			bv.Status.Running = rs.Name
		}
	}
	// Newest first: by creation, then by name (the schedule's names end in a time).
	sort.Slice(finished, func(i, j int) bool {
		a, b := finished[i], finished[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return a.Name > b.Name
	})
	if len(finished) > 0 {
		last := run(finished[0])
		if bv.Status.Last == nil || bv.Status.Last.RestoreSession != last.RestoreSession {
			r.announce(bv, last)
		}
		bv.Status.Last = last
	}
	limit := DefaultHistoryLimit
	if bv.Spec.HistoryLimit != nil {
		limit = int(*bv.Spec.HistoryLimit)
	}
	for _, rs := range finished[min(limit, len(finished)):] {
		if err := r.Delete(ctx, rs, client.Preconditions{UID: &rs.UID}); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("failed to delete the old verification RestoreSession %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return bv.Status.Running != "", nil
}

// run is the outcome of a finished verification RestoreSession.
func run(rs *v1beta1.RestoreSession) *opsv1alpha1.VerificationRun {
	out := &opsv1alpha1.VerificationRun{RestoreSession: rs.Name, BackupSession: rs.Annotations[opsv1alpha1.AnnotationBackupSession],
		Phase: repov1alpha1.VerificationFailed}
	if t := rs.Spec.Target; t != nil && len(t.Rules) > 0 && len(t.Rules[0].Snapshots) > 0 {
		out.Snapshot = t.Rules[0].Snapshots[0]
	}
	if rs.Status.Phase == v1beta1.RestoreSucceeded {
		out.Phase = repov1alpha1.VerificationPassed
	}
	if c := meta.FindStatusCondition(rs.Status.Conditions, v1beta1.ConditionRestoreCompleted); c != nil {
		out.Message = c.Message
		out.Time = &c.LastTransitionTime
	}
	return out
}

func (r *Reconciler) announce(bv *opsv1alpha1.BackupVerification, last *opsv1alpha1.VerificationRun) {
	if last.Phase == repov1alpha1.VerificationPassed {
		event.VerificationPassed.Emit(r.Recorder, bv, last.Snapshot, last.RestoreSession)
		return
	}
	event.VerificationFailed.Emit(r.Recorder, bv, last.Snapshot, last.RestoreSession, last.Message)
}

// plan is what every verification of a BackupVerification uses.
type plan struct {
	configuration *v1beta1.BackupConfiguration
	// schedule is spec.schedule, parsed; nil verifies every backup.
	schedule    cron.Schedule
	task        string
	scratch     string
	scratchDesc string
}

// prepare checks the configuration and the scratch target, creating the managed server's
// AppBinding and Secret; a *notReady says what the user must mend.
func (r *Reconciler) prepare(ctx context.Context, bv *opsv1alpha1.BackupVerification) (*plan, error) {
	p := &plan{}
	if s := bv.Spec.Schedule; s != "" {
		sched, err := cron.ParseStandard(s)
		if err != nil {
			return nil, &notReady{"InvalidSchedule", fmt.Sprintf("spec.schedule %q is not a valid cron expression: %v", s, err)}
		}
		p.schedule = sched
	}
	bc := &v1beta1.BackupConfiguration{}
	key := client.ObjectKey{Namespace: bv.Namespace, Name: bv.Spec.BackupConfiguration}
	if err := r.Get(ctx, key, bc); apierrors.IsNotFound(err) {
		return nil, &notReady{"BackupConfigurationNotFound", fmt.Sprintf("BackupConfiguration %s not found in namespace %s", key.Name, key.Namespace)}
	} else if err != nil {
		return nil, fmt.Errorf("failed to get BackupConfiguration %s: %w", key, err)
	}
	for _, prm := range bc.Spec.Task.Params {
		if prm.Name == "backupMode" && prm.Value == "binlogs" {
			return nil, &notReady{"ShipsBinaryLogs", fmt.Sprintf("BackupConfiguration %s ships binary logs (Task param backupMode: binlogs), "+
				"whose snapshots are not dumps: verify the configuration that dumps the same target", bc.Name)}
		}
	}
	source, err := r.sourceBinding(ctx, bc)
	if err != nil {
		return nil, err
	}
	p.configuration = bc
	if p.task, err = r.restoreTask(ctx, bv, bc, source); err != nil {
		return nil, err
	}
	if bv.Spec.Scratch.Server != nil {
		p.scratch, err = r.ensureServer(ctx, bv, source)
		p.scratchDesc = "a " + bv.Spec.Scratch.Server.Image + " server in each verification's pod"
		return p, err
	}
	p.scratch = bv.Spec.Scratch.AppBinding
	p.scratchDesc = "AppBinding " + p.scratch
	return p, r.checkScratchBinding(ctx, bv, source)
}

// sourceBinding is the configuration's target AppBinding, nil when it has none.
func (r *Reconciler) sourceBinding(ctx context.Context, bc *v1beta1.BackupConfiguration) (*appcatalogv1alpha1.AppBinding, error) {
	if bc.Spec.Target == nil || !dependency.IsAppBinding(bc.Spec.Target.Ref) {
		return nil, &notReady{"UnsupportedTarget", fmt.Sprintf("BackupConfiguration %s does not back up an AppBinding: only database backups are verified", bc.Name)}
	}
	ab := &appcatalogv1alpha1.AppBinding{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: bc.Namespace, Name: bc.Spec.Target.Ref.Name}, ab); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("failed to get AppBinding %s/%s: %w", bc.Namespace, bc.Spec.Target.Ref.Name, err)
	}
	return ab, nil
}

// restoreTask is spec.task, else the configuration's Task with "backup" replaced by
// "restore", else the source AppBinding's addon restore Task. It must exist.
func (r *Reconciler) restoreTask(ctx context.Context, bv *opsv1alpha1.BackupVerification, bc *v1beta1.BackupConfiguration, source *appcatalogv1alpha1.AppBinding) (string, error) {
	name := bv.Spec.Task
	if name == "" && bc.Spec.Task.Name != "" {
		name = strings.Replace(bc.Spec.Task.Name, "backup", "restore", 1)
	}
	if name == "" && source != nil {
		if _, restore, err := appbinding.AddonTasks(source); err == nil {
			name = restore.Name
		}
	}
	if name == "" {
		return "", &notReady{"TaskUnknown", fmt.Sprintf("no restore Task: set spec.task (BackupConfiguration %s names no Task to derive it from)", bc.Name)}
	}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, &v1beta1.Task{}); apierrors.IsNotFound(err) {
		return "", &notReady{"TaskNotFound", fmt.Sprintf("restore Task %s not found: install it, or set spec.task", name)}
	} else if err != nil {
		return "", fmt.Errorf("failed to get Task %s: %w", name, err)
	}
	return name, nil
}

// next creates the verification that is due, if any, and says when to look again.
func (r *Reconciler) next(ctx context.Context, bv *opsv1alpha1.BackupVerification, p *plan) (ctrl.Result, error) {
	var result ctrl.Result
	name := ""
	if sched := p.schedule; sched != nil {
		now := r.Now()
		from := bv.CreationTimestamp.Time
		if t := bv.Status.LastScheduleTime; t != nil {
			from = t.Time
		}
		due := sched.Next(from)
		if due.After(now) {
			return ctrl.Result{RequeueAfter: due.Sub(now)}, nil
		}
		due = lastDue(sched, due, now)
		// Named after the fire time, not the clock: a reconcile that created the
		// RestoreSession but could not record the fire finds it again instead of adding one.
		bv.Status.LastScheduleTime = &metav1.Time{Time: due}
		result.RequeueAfter = sched.Next(now).Sub(now)
		name = names.Shorten(bv.Name+"-"+strconv.FormatInt(due.Unix(), 10), 63)
	}
	bs, snapshot, err := r.newestBackup(ctx, p.configuration)
	if err != nil || bs == nil {
		return result, err
	}
	if name == "" {
		name = names.Shorten(bv.Name+"-"+bs.Name, 63)
		// A verification of this backup exists, finished or not: nothing is due. The history
		// never deletes the newest one, so deleting it by hand asks for another.
		if err := r.Get(ctx, client.ObjectKey{Namespace: bv.Namespace, Name: name}, &v1beta1.RestoreSession{}); err == nil {
			return result, nil
		} else if !apierrors.IsNotFound(err) {
			return result, fmt.Errorf("failed to get RestoreSession %s/%s: %w", bv.Namespace, name, err)
		}
	}
	rs := restoreSession(bv, p, name, bs.Name, snapshot)
	if err := controllerutil.SetControllerReference(bv, rs, r.Scheme); err != nil {
		return result, err
	}
	if err := r.Create(ctx, rs); apierrors.IsAlreadyExists(err) {
		return result, nil
	} else if err != nil {
		return result, fmt.Errorf("failed to create the verification RestoreSession %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	bv.Status.Running = rs.Name
	event.VerificationStarted.Emit(r.Recorder, bv, snapshot, rs.Name)
	log.FromContext(ctx).Info("verification started", "snapshot", snapshot, "restoreSession", rs.Name)
	return result, nil
}

// lastDue is the schedule's latest fire at or before now, from a due one: fires missed while
// the operator was away make one verification, not one each. Past maxMissed fires it is now.
func lastDue(sched cron.Schedule, due, now time.Time) time.Time {
	const maxMissed = 1000
	for range maxMissed {
		next := sched.Next(due)
		if next.After(now) {
			return due
		}
		due = next
	}
	return now
}

// newestBackup is the configuration's newest succeeded BackupSession and its snapshot, nil
// when there is none yet.
func (r *Reconciler) newestBackup(ctx context.Context, bc *v1beta1.BackupConfiguration) (*v1beta1.BackupSession, string, error) {
	list := &v1beta1.BackupSessionList{}
	if err := r.List(ctx, list, client.InNamespace(bc.Namespace), client.MatchingLabels{v1beta1.LabelInvokerName: names.LabelValue(bc.Name)}); err != nil {
		return nil, "", fmt.Errorf("failed to list the BackupSessions of %s/%s: %w", bc.Namespace, bc.Name, err)
	}
	var newest *v1beta1.BackupSession
	snapshot := ""
	for i := range list.Items {
		bs := &list.Items[i]
		if bs.Spec.Invoker.Name != bc.Name || bs.Status.Phase != v1beta1.BackupSessionSucceeded {
			continue
		}
		id := snapshotOf(bs)
		if id == "" || (newest != nil && !newest.CreationTimestamp.Before(&bs.CreationTimestamp)) {
			continue
		}
		newest, snapshot = bs, id
	}
	return newest, snapshot, nil
}

// snapshotOf is the snapshot a backup session made.
func snapshotOf(bs *v1beta1.BackupSession) string {
	for _, t := range bs.Status.Targets {
		for _, h := range t.Stats {
			for _, s := range h.Snapshots {
				if s.Name != "" {
					return s.Name
				}
			}
		}
	}
	return ""
}

// restoreSession is a verification: the snapshot restored into the scratch target with the
// Task params verify and verifySQL, and the configuration's pod settings.
func restoreSession(bv *opsv1alpha1.BackupVerification, p *plan, name, backupSession, snapshot string) *v1beta1.RestoreSession {
	params := []v1beta1.Param{{Name: "verify", Value: "true"}}
	if bv.Spec.SQL != "" {
		params = append(params, v1beta1.Param{Name: "verifySQL", Value: bv.Spec.SQL})
	}
	rs := &v1beta1.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   bv.Namespace,
			Labels:      labels(bv),
			Annotations: map[string]string{},
		},
		Spec: v1beta1.RestoreSessionSpec{
			Task:       v1beta1.TaskRef{Name: p.task, Params: params},
			Repository: p.configuration.Spec.Repository,
			// Where the configuration's pods may run and pull from (node selectors,
			// tolerations, image pull Secrets), so may the restore's. Container settings are
			// the backup's, not the restore's.
			RuntimeSettings: v1beta1.RuntimeSettings{Pod: p.configuration.Spec.RuntimeSettings.Pod.DeepCopy()},
			Target: &v1beta1.RestoreTarget{
				Ref:   v1beta1.TargetRef{APIVersion: appcatalogv1alpha1.GroupVersion.String(), Kind: "AppBinding", Name: p.scratch},
				Rules: []v1beta1.Rule{{Snapshots: []string{snapshot}}},
			},
		},
	}
	if backupSession != "" {
		rs.Annotations[opsv1alpha1.AnnotationBackupSession] = backupSession
	}
	return rs
}

// labels mark the RestoreSessions, AppBinding and Secret of a BackupVerification.
func labels(bv *opsv1alpha1.BackupVerification) map[string]string {
	return map[string]string{opsv1alpha1.LabelVerification: names.LabelValue(bv.Name)}
}
