// Package backupconfiguration reconciles BackupConfigurations: it checks that everything a
// backup needs exists, reports each check as a condition, and keeps a CronJob (with its own
// minimal ServiceAccount, Role and RoleBinding) that creates a BackupSession on every tick.
package backupconfiguration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/hook"
	"github.com/hoard-operator/hoard/internal/jobspec"
)

// RBAC, each rule with its reason (the whole table: docs/design/0014-least-privilege.md).
// get;list;watch on a kind is the informer cache: the reconciler reads it from there.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupconfigurations,verbs=get;list;watch
// writeStatus patches the status once per reconcile.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupconfigurations/status,verbs=patch
// Setting a blocking owner reference needs update on the owner's finalizers where the
// OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift).
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupconfigurations/finalizers,verbs=update
// +kubebuilder:rbac:groups=stash.appscode.com,resources=repositories,verbs=get;list;watch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=tasks,verbs=get;list;watch
// +kubebuilder:rbac:groups=appcatalog.appscode.com,resources=appbindings,verbs=get;list;watch
// Secrets: get only. The dependency checker reads the storage Secret (for RESTIC_PASSWORD) and
// the AppBinding's Secrets directly from the API server (the manager's client never caches
// Secrets) and keeps nothing of them. Secrets are not watched: list or watch would let the
// operator read every Secret in the cluster; a configuration missing one is rechecked instead.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// The checker tells a missing Service of an AppBinding (metadata only), and reads namespace
// labels for a Repository whose usagePolicy selects namespaces.
// +kubebuilder:rbac:groups="",resources=services;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=stash.appscode.com,resources=functions,verbs=get;list;watch
// The trigger CronJob: created, updated when the spec changes, patched to suspend it.
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch
// The trigger's identity (ensureServiceAccount, ensureRole, ensureRoleBinding): created and
// kept in step, never deleted by the operator (owner references let the garbage collector do
// it). No escalate or bind: the operator holds everything the trigger's Role grants (see the
// backupsessions rule below), which RBAC requires of whoever creates or binds a Role.
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// The operator never creates BackupSessions itself: it holds create only because the
// trigger's Role grants it, and RBAC forbids granting what one does not hold.
// +kubebuilder:rbac:groups=stash.appscode.com,resources=backupsessions,verbs=create

// Reconciler reconciles one BackupConfiguration.
type Reconciler struct {
	client.Client
	// APIReader reads Secrets, which are not cached, and confirms cache misses.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  record.EventRecorder
	// Image is the operator image the CronJob runs `hoard trigger` with.
	Image string
	// Recheck is how soon a configuration whose storage or target Secret is missing (or lacks
	// a key) is looked at again (Secrets are not watched); zero means 10s.
	Recheck time.Duration
	// ReadyRecheck is how often any other configuration is looked at again; zero means 5m.
	ReadyRecheck time.Duration
}

// reconcileState is what one reconciliation learns and later steps use.
type reconcileState struct {
	bc *stashv1beta1.BackupConfiguration
}

// Reconcile runs the checks and keeps the trigger in step; the status is computed along the
// way and written once, by the deferred writer, only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	bc := &stashv1beta1.BackupConfiguration{}
	if err := r.Get(ctx, req.NamespacedName, bc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get BackupConfiguration %s: %w", req.NamespacedName, err)
	}
	if !bc.DeletionTimestamp.IsZero() {
		// The CronJob, ServiceAccount, Role and RoleBinding carry owner references: the
		// garbage collector removes them with the configuration.
		return ctrl.Result{}, nil
	}
	// The patch base is taken before anything is mutated.
	base := bc.DeepCopy()
	defer func() {
		if err := r.writeStatus(ctx, base, bc); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	st := &reconcileState{bc: bc}
	for _, step := range []func(context.Context, *reconcileState) error{
		r.checkDriver,
		r.checkHooks,
		r.checkSchedule,
		r.checkDependencies,
		r.ensureTrigger,
	} {
		if err := step(ctx, st); err != nil {
			return ctrl.Result{}, err
		}
	}
	// Secrets are not watched: a configuration waiting for one looks again soon, and every
	// other one now and then, so that a Secret changed since shows on its conditions.
	if meta.IsStatusConditionFalse(bc.Status.Conditions, ConditionBackendSecretFound) ||
		meta.IsStatusConditionFalse(bc.Status.Conditions, ConditionTargetSecretFound) {
		return ctrl.Result{RequeueAfter: orDefault(r.Recheck, 10*time.Second)}, nil
	}
	return ctrl.Result{RequeueAfter: orDefault(r.ReadyRecheck, 5*time.Minute)}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (r *Reconciler) writeStatus(ctx context.Context, base, bc *stashv1beta1.BackupConfiguration) error {
	bc.Status.ObservedGeneration = bc.Generation
	bc.Status.Phase = phaseOf(bc.Status.Conditions)
	if equality.Semantic.DeepEqual(base.Status, bc.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, bc, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to update status of BackupConfiguration %s/%s: %w", bc.Namespace, bc.Name, err)
	}
	return nil
}

// setCondition records a check's outcome; a check that newly fails is also an Event, so the
// user sees it once per transition rather than on every reconciliation.
func (r *Reconciler) setCondition(bc *stashv1beta1.BackupConfiguration, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	// A copy: SetStatusCondition changes the condition in place.
	var was *metav1.Condition
	if c := meta.FindStatusCondition(bc.Status.Conditions, typ); c != nil {
		was = c.DeepCopy()
	}
	meta.SetStatusCondition(&bc.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: bc.Generation,
	})
	// CronJobCreated only follows the other conditions; its own events come from ensureCronJob.
	if ok || typ == ConditionCronJobCreated || (was != nil && was.Status == status && was.Reason == reason && was.Message == msg) {
		return
	}
	if isInvalidReason(reason) {
		event.InvalidSpec.Emit(r.Recorder, bc, msg)
	} else {
		event.DependencyError.Emit(r.Recorder, bc, msg)
	}
}

func (r *Reconciler) checkDriver(_ context.Context, st *reconcileState) error {
	switch d := st.bc.Spec.Driver; d {
	case "", stashv1beta1.ResticSnapshotter:
		r.setCondition(st.bc, ConditionDriverSupported, true, ReasonDriverSupported, "driver Restic")
	default:
		r.setCondition(st.bc, ConditionDriverSupported, false, ReasonDriverUnsupported,
			fmt.Sprintf("driver %s is not supported by Hoard: use driver Restic (the default)", d))
	}
	return nil
}

// checkHooks refuses a hook with no action or more than one: no session could run it. It
// also drops the HooksSupported condition that versions without hooks set.
func (r *Reconciler) checkHooks(_ context.Context, st *reconcileState) error {
	meta.RemoveStatusCondition(&st.bc.Status.Conditions, legacyConditionHooksSupported)
	h := st.bc.Spec.Hooks
	var problems []string
	if h != nil && h.PreBackup != nil {
		if err := hook.Validate(h.PreBackup); err != nil {
			problems = append(problems, "spec.hooks.preBackup: "+err.Error())
		}
	}
	if h != nil && h.PostBackup != nil {
		if err := hook.Validate(&h.PostBackup.Handler); err != nil {
			problems = append(problems, "spec.hooks.postBackup: "+err.Error())
		}
	}
	if len(problems) == 0 {
		meta.RemoveStatusCondition(&st.bc.Status.Conditions, ConditionHooksValid)
		return nil
	}
	meta.SetStatusCondition(&st.bc.Status.Conditions, metav1.Condition{
		Type: ConditionHooksValid, Status: metav1.ConditionFalse, Reason: ReasonInvalidHook,
		ObservedGeneration: st.bc.Generation, Message: strings.Join(problems, "; "),
	})
	return nil
}

func (r *Reconciler) checkSchedule(_ context.Context, st *reconcileState) error {
	if err := validateSchedule(st.bc.Spec.Schedule); err != nil {
		r.setCondition(st.bc, ConditionScheduleValid, false, ReasonScheduleInvalid, err.Error())
		return nil
	}
	r.setCondition(st.bc, ConditionScheduleValid, true, ReasonScheduleValid,
		fmt.Sprintf("schedule %q is valid", st.bc.Spec.Schedule))
	return nil
}

// checkDependencies runs the dependency checker, the same one a session runs when it starts,
// and shows each of its conditions.
func (r *Reconciler) checkDependencies(ctx context.Context, st *reconcileState) error {
	bc := st.bc
	req := dependency.Request{
		Kind:          jobspec.KindBackup,
		Namespace:     bc.Namespace,
		RepositoryRef: bc.Spec.Repository,
		TaskRef:       bc.Spec.Task,
	}
	if bc.Spec.Target != nil {
		req.TargetRef = bc.Spec.Target.Ref
	}
	in, err := dependency.Gather(ctx, dependency.Readers{Cached: r.Client, Direct: r.APIReader}, req)
	if err != nil {
		return fmt.Errorf("failed to gather what BackupConfiguration %s/%s refers to: %w", bc.Namespace, bc.Name, err)
	}
	for _, c := range dependency.Check(in).Conditions {
		r.setCondition(bc, c.Type, c.Status == metav1.ConditionTrue, c.Reason, c.Message)
	}
	return nil
}

// ensureTrigger keeps the CronJob and its identity in step with the spec. The CronJob is
// first created only once every dependency exists; after that it follows schedule and
// pause changes even if a dependency goes missing (that session then fails with the reason).
// An invalid spec cannot be rendered, so an existing CronJob is suspended instead.
func (r *Reconciler) ensureTrigger(ctx context.Context, st *reconcileState) error {
	bc := st.bc
	name := TriggerName(bc.Name)
	existing := &batchv1.CronJob{}
	exists := true
	if err := r.Get(ctx, types.NamespacedName{Namespace: bc.Namespace, Name: name}, existing); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to get CronJob %s/%s: %w", bc.Namespace, name, err)
		}
		exists = false
	}

	if phaseOf(bc.Status.Conditions) == stashv1beta1.BackupInvokerInvalid {
		msg := "no CronJob while the configuration is invalid"
		if exists {
			msg = fmt.Sprintf("CronJob %s is suspended while the configuration is invalid", name)
			if err := r.suspend(ctx, existing); err != nil {
				return err
			}
		}
		r.setCondition(bc, ConditionCronJobCreated, false, ReasonInvalidSpec, msg)
		return nil
	}
	if !exists && !dependenciesReady(bc.Status.Conditions) {
		r.setCondition(bc, ConditionCronJobCreated, false, ReasonWaitingForDependencies,
			"the CronJob is created once the Repository, its storage Secret, the target and the Task exist")
		return nil
	}

	for _, ensure := range []func(context.Context, *stashv1beta1.BackupConfiguration) error{
		r.ensureServiceAccount, r.ensureRole, r.ensureRoleBinding, r.ensureCronJob,
	} {
		if err := ensure(ctx, bc); err != nil {
			return err
		}
	}
	r.setCondition(bc, ConditionCronJobCreated, true, ReasonCronJobCreated,
		fmt.Sprintf("CronJob %s triggers backups on schedule %q", name, bc.Spec.Schedule))
	return nil
}

func (r *Reconciler) suspend(ctx context.Context, cj *batchv1.CronJob) error {
	if ptr.Deref(cj.Spec.Suspend, false) {
		return nil
	}
	base := cj.DeepCopy()
	cj.Spec.Suspend = ptr.To(true)
	if err := r.Patch(ctx, cj, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("failed to suspend CronJob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	return nil
}

func (r *Reconciler) ensureCronJob(ctx context.Context, bc *stashv1beta1.BackupConfiguration) error {
	desired := RenderCronJob(bc, r.Image)
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	var wasSuspended bool
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, cj, func() error {
		wasSuspended = ptr.Deref(cj.Spec.Suspend, false)
		syncCronJob(cj, desired)
		return controllerutil.SetControllerReference(bc, cj, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("failed to create or update CronJob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	paused := ptr.Deref(desired.Spec.Suspend, false)
	switch {
	case op == controllerutil.OperationResultCreated:
		event.CronJobCreated.Emit(r.Recorder, bc, cj.Name, cj.Spec.Schedule)
		if paused {
			event.BackupPaused.Emit(r.Recorder, bc)
		}
	case op != controllerutil.OperationResultUpdated:
	case paused && !wasSuspended:
		event.BackupPaused.Emit(r.Recorder, bc)
	case !paused && wasSuspended:
		event.BackupResumed.Emit(r.Recorder, bc)
	default:
		event.CronJobUpdated.Emit(r.Recorder, bc, cj.Name, cj.Spec.Schedule, paused)
	}
	return nil
}

func (r *Reconciler) ensureServiceAccount(ctx context.Context, bc *stashv1beta1.BackupConfiguration) error {
	desired := RenderServiceAccount(bc)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, sa, func() error {
		sa.Labels = mergeLabels(sa.Labels, desired.Labels)
		return controllerutil.SetControllerReference(bc, sa, r.Scheme)
	}); err != nil {
		return fmt.Errorf("failed to create or update ServiceAccount %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	return nil
}

func (r *Reconciler) ensureRole(ctx context.Context, bc *stashv1beta1.BackupConfiguration) error {
	desired := RenderRole(bc)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, role, func() error {
		role.Labels = mergeLabels(role.Labels, desired.Labels)
		role.Rules = desired.Rules
		return controllerutil.SetControllerReference(bc, role, r.Scheme)
	}); err != nil {
		return fmt.Errorf("failed to create or update Role %s/%s: %w", role.Namespace, role.Name, err)
	}
	return nil
}

func (r *Reconciler) ensureRoleBinding(ctx context.Context, bc *stashv1beta1.BackupConfiguration) error {
	desired := RenderRoleBinding(bc)
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, rb, func() error {
		rb.Labels = mergeLabels(rb.Labels, desired.Labels)
		if rb.CreationTimestamp.IsZero() {
			// roleRef is immutable; it is the same name on every render anyway.
			rb.RoleRef = desired.RoleRef
		}
		rb.Subjects = desired.Subjects
		return controllerutil.SetControllerReference(bc, rb, r.Scheme)
	}); err != nil {
		return fmt.Errorf("failed to create or update RoleBinding %s/%s: %w", rb.Namespace, rb.Name, err)
	}
	return nil
}
