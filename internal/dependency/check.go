// Package dependency decides whether a BackupConfiguration, BackupSession or RestoreSession
// can run. Gather reads what it refers to (the Repository, possibly in another namespace, and
// that namespace's usage policy, the storage Secret, the AppBinding with its Service and
// credentials, the Task and its Functions); Check, a chain of pure functions, turns that into
// conditions. The BackupConfiguration reconciler shows them all; a session that starts anyway
// fails with the first one that is False, so one problem reads the same in both places.
package dependency

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/appbinding"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/result"
)

// Request is what the referring object says.
type Request struct {
	Kind jobspec.Kind
	// Namespace is the referring object's namespace; sessions and their Jobs run there.
	Namespace     string
	RepositoryRef v1beta1.RepositoryRef
	TargetRef     v1beta1.TargetRef
	TaskRef       v1beta1.TaskRef
}

// Inputs is what Gather read for a Request. A nil object was not found, or not read because
// what leads to it was missing or refused.
type Inputs struct {
	Request
	Repository *v1alpha1.Repository
	// NamespaceLabels are the referring namespace's labels, read only when a Repository in
	// another namespace selects namespaces by label.
	NamespaceLabels map[string]string
	// StorageSecret is the data of the Repository's storage Secret; read only when the
	// Repository may be used.
	StorageSecret map[string][]byte
	AppBinding    *appcatalogv1alpha1.AppBinding
	// ServiceFound tells whether the Service the AppBinding names exists (true when it names
	// none).
	ServiceFound bool
	// TargetSecret is the data of the AppBinding's spec.secret, nil when missing or unnamed.
	TargetSecret map[string][]byte
	// KeySecrets are the Secrets of the AppBinding's namespace that its addKeysFrom
	// transforms name, by name; a missing one is absent.
	KeySecrets map[string]map[string][]byte
	Task       *v1beta1.Task
	// Functions are the Task's Functions that exist, by name.
	Functions map[string]*v1beta1.Function
}

// Outcome is what Check decided.
type Outcome struct {
	// Conditions are the checks' results, in order: RepositoryFound, BackendSecretFound,
	// Backup/RestoreTargetFound, TargetSecretFound, TaskFound. Only Type, Status, Reason and
	// Message are set.
	Conditions []metav1.Condition
	// Connection is the target's resolved connection when the credentials check passed.
	Connection map[string][]byte
	// TaskName and Params are the Task to run and its params (the AppBinding's addon params
	// first, the referring object's after, so that these win).
	TaskName string
	Params   []v1beta1.Param
}

// Failed is the first condition that is False, nil when every check passed.
func (o Outcome) Failed() *metav1.Condition {
	for i := range o.Conditions {
		if o.Conditions[i].Status != metav1.ConditionTrue {
			return &o.Conditions[i]
		}
	}
	return nil
}

// Check runs every check on in. It reads nothing: same Inputs, same conditions.
func Check(in *Inputs) Outcome {
	var out Outcome
	repoOK := add(&out, checkRepository(in))
	add(&out, checkStorageSecret(in, repoOK))
	targetOK := add(&out, checkTarget(in))
	conn, c := checkTargetSecret(in, targetOK)
	if add(&out, c) {
		out.Connection = conn
	}
	name, params, c := checkTask(in)
	if add(&out, c) {
		out.TaskName, out.Params = name, params
	}
	return out
}

func add(out *Outcome, c metav1.Condition) bool {
	out.Conditions = append(out.Conditions, c)
	return c.Status == metav1.ConditionTrue
}

func ok(typ, format string, args ...any) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: v1beta1.ReasonFound, Message: fmt.Sprintf(format, args...)}
}

func notOK(typ, reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// CrossNamespace tells whether the request names a Repository outside its own namespace.
func (r Request) CrossNamespace() bool {
	return r.RepositoryRef.Key(r.Namespace).Namespace != r.Namespace
}

// Allowed tells whether repo's usage policy lets namespace ns (with labels nsLabels) use it.
// Its own namespace always may; others only as spec.usagePolicy.allowedNamespaces says, and
// the default is Same.
func Allowed(repo *v1alpha1.Repository, ns string, nsLabels map[string]string) bool {
	if repo.Namespace == ns {
		return true
	}
	p := repo.Spec.UsagePolicy
	if p == nil || p.AllowedNamespaces.From == nil {
		return false
	}
	switch *p.AllowedNamespaces.From {
	case v1alpha1.NamespacesFromAll:
		return true
	case v1alpha1.NamespacesFromSelector:
		if p.AllowedNamespaces.Selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(p.AllowedNamespaces.Selector)
		// An empty selector matches everything in Kubernetes; here it would be an
		// accidental All, so only a selector with requirements grants anything.
		if err != nil || sel.Empty() {
			return false
		}
		return sel.Matches(labels.Set(nsLabels))
	}
	return false
}

// NeedsNamespaceLabels tells whether deciding Allowed needs the referring namespace's labels.
func NeedsNamespaceLabels(repo *v1alpha1.Repository, ns string) bool {
	p := repo.Spec.UsagePolicy
	return repo.Namespace != ns && p != nil && p.AllowedNamespaces.From != nil && *p.AllowedNamespaces.From == v1alpha1.NamespacesFromSelector
}

// usable tells whether the Repository may be used from the request's namespace. Gather
// reads nothing behind a Repository that is not usable.
func usable(in *Inputs) bool {
	return in.Repository != nil && Allowed(in.Repository, in.Namespace, in.NamespaceLabels) && shareable(in)
}

// shareable tells whether a Job in the request's namespace can reach the Repository's
// backend: a local backend of another namespace must be a volume that is not namespaced
// (NFS); a PersistentVolumeClaim or a volume with a Secret reference would resolve in the
// Job's namespace, to another volume or none.
func shareable(in *Inputs) bool {
	l := in.Repository.Spec.Backend.Local
	if l == nil || !in.CrossNamespace() {
		return true
	}
	return l.NFS != nil
}

func checkRepository(in *Inputs) metav1.Condition {
	const typ = v1beta1.ConditionRepositoryFound
	key := in.RepositoryRef.Key(in.Namespace)
	if key.Name == "" {
		return notOK(typ, v1beta1.ReasonRepositoryNotSpecified, "spec.repository.name is empty")
	}
	if !in.CrossNamespace() {
		if in.Repository == nil {
			return notOK(typ, v1beta1.ReasonRepositoryNotFound, "Repository %s not found", key)
		}
		return ok(typ, "Repository %s found", key)
	}
	// Missing and not allowed read the same: a reference must not tell what exists in a
	// namespace its author may not see.
	if in.Repository == nil || !Allowed(in.Repository, in.Namespace, in.NamespaceLabels) {
		return notOK(typ, v1beta1.ReasonRepositoryNotFound,
			"spec.repository.namespace: Repository %s does not exist or its spec.usagePolicy does not allow namespace %s", key, in.Namespace)
	}
	if !shareable(in) {
		return notOK(typ, v1beta1.ReasonBackendNotShareable,
			"spec.repository.namespace: Repository %s keeps its data on a volume of namespace %s (spec.backend.local), which a Job in namespace %s cannot mount; only an nfs volume can be shared", key, key.Namespace, in.Namespace)
	}
	return ok(typ, "Repository %s found; its usagePolicy allows namespace %s", key, in.Namespace)
}

func checkStorageSecret(in *Inputs, repoOK bool) metav1.Condition {
	const typ = v1beta1.ConditionBackendSecretFound
	if !repoOK {
		return notOK(typ, v1beta1.ReasonDependencyNotFound, "no usable Repository to read spec.backend.storageSecretName from")
	}
	repo := in.Repository
	name := repo.Spec.Backend.StorageSecretName
	if name == "" {
		return notOK(typ, v1beta1.ReasonSecretNotSpecified, "Repository %s/%s sets no spec.backend.storageSecretName (the Secret with %s)", repo.Namespace, repo.Name, result.PasswordKey)
	}
	if in.StorageSecret == nil {
		return notOK(typ, v1beta1.ReasonSecretNotFound, "storage Secret %s/%s of Repository %s not found", repo.Namespace, name, repo.Name)
	}
	if _, found := in.StorageSecret[result.PasswordKey]; !found {
		return notOK(typ, v1beta1.ReasonSecretKeyMissing, "storage Secret %s/%s of Repository %s has no key %s", repo.Namespace, name, repo.Name, result.PasswordKey)
	}
	return ok(typ, "storage Secret %s/%s found", repo.Namespace, name)
}

// TargetCondition is the condition type of a session kind's target.
func TargetCondition(k jobspec.Kind) string {
	if k == jobspec.KindRestore {
		return v1beta1.ConditionRestoreTargetFound
	}
	return v1beta1.ConditionBackupTargetFound
}

// IsAppBinding tells whether a target reference points at an AppBinding, the only kind of
// target Hoard backs up and restores (databases).
func IsAppBinding(ref v1beta1.TargetRef) bool {
	if ref.Kind != "AppBinding" {
		return false
	}
	if ref.APIVersion == "" {
		return true
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == appcatalogv1alpha1.GroupVersion.Group
}

func checkTarget(in *Inputs) metav1.Condition {
	typ := TargetCondition(in.Kind)
	ref := in.TargetRef
	if ref.Name == "" {
		return notOK(typ, v1beta1.ReasonTargetNotSpecified, "spec.target.ref is empty: name the AppBinding to %s", in.Kind)
	}
	if !IsAppBinding(ref) {
		return notOK(typ, v1beta1.ReasonTargetKindUnsupported,
			"target kind %q (apiVersion %q) is not supported: Hoard backs up and restores databases through an AppBinding (appcatalog.appscode.com/v1alpha1)", ref.Kind, ref.APIVersion)
	}
	ab := in.AppBinding
	if ab == nil {
		return notOK(typ, v1beta1.ReasonTargetNotFound, "AppBinding %s/%s not found", in.Namespace, ref.Name)
	}
	if _, _, err := appbinding.Address(ab); err != nil {
		return notOK(typ, v1beta1.ReasonInvalidClientConfig, "%s", err.Error())
	}
	if s := ab.Spec.ClientConfig.Service; s != nil && !in.ServiceFound {
		return notOK(typ, v1beta1.ReasonServiceNotFound,
			"AppBinding %s/%s names Service %s/%s in spec.clientConfig.service, which does not exist", ab.Namespace, ab.Name, ab.Namespace, s.Name)
	}
	return ok(typ, "AppBinding %s/%s found", ab.Namespace, ab.Name)
}

func checkTargetSecret(in *Inputs, targetOK bool) (map[string][]byte, metav1.Condition) {
	const typ = v1beta1.ConditionTargetSecretFound
	if !targetOK {
		return nil, notOK(typ, v1beta1.ReasonDependencyNotFound, "no usable target AppBinding to read the credentials from")
	}
	ab := in.AppBinding
	if s := ab.Spec.Secret; s != nil && s.Name != "" && in.TargetSecret == nil {
		return nil, notOK(typ, v1beta1.ReasonSecretNotFound, "AppBinding %s/%s: Secret %s/%s (spec.secret) not found", ab.Namespace, ab.Name, ab.Namespace, s.Name)
	}
	get := func(ns, name string) (map[string][]byte, error) {
		if data, found := in.KeySecrets[name]; found && ns == ab.Namespace {
			return data, nil
		}
		return nil, fmt.Errorf("Secret %s/%s not found", ns, name)
	}
	conn, err := appbinding.Connection(ab, in.TargetSecret, get)
	if err != nil {
		return nil, notOK(typ, v1beta1.ReasonInvalidCredentials, "%s", err.Error())
	}
	return conn, ok(typ, "credentials of AppBinding %s/%s found", ab.Namespace, ab.Name)
}

// TaskSource is the Task a request runs and where its name comes from: the request's
// spec.task.name, else the AppBinding's StashAddon parameters. An empty name with a nil error
// means neither names one.
func TaskSource(in *Inputs) (task appbinding.TaskRef, from string, err error) {
	if in.TaskRef.Name != "" {
		return appbinding.TaskRef{Name: in.TaskRef.Name}, "spec.task.name", nil
	}
	if in.AppBinding == nil {
		return appbinding.TaskRef{}, "", nil
	}
	backup, restore, err := appbinding.AddonTasks(in.AppBinding)
	if err != nil {
		return appbinding.TaskRef{}, "", err
	}
	task = backup
	if in.Kind == jobspec.KindRestore {
		task = restore
	}
	return task, "AppBinding " + in.AppBinding.Name, nil
}

func checkTask(in *Inputs) (string, []v1beta1.Param, metav1.Condition) {
	const typ = v1beta1.ConditionTaskFound
	src, from, err := TaskSource(in)
	switch {
	case err != nil:
		return "", nil, notOK(typ, v1beta1.ReasonInvalidAddonParameters, "%s", err.Error())
	case src.Name == "" && in.AppBinding == nil:
		return "", nil, notOK(typ, v1beta1.ReasonDependencyNotFound, "spec.task.name is empty, so the Task comes from the target AppBinding, which is not available")
	case src.Name == "":
		return "", nil, notOK(typ, v1beta1.ReasonTaskNotSpecified,
			"no %s Task: spec.task.name is empty and AppBinding %s/%s names none in spec.parameters (StashAddon stash.addon.%sTask.name)", in.Kind, in.AppBinding.Namespace, in.AppBinding.Name, in.Kind)
	case in.Task == nil || in.Task.Name != src.Name:
		return "", nil, notOK(typ, v1beta1.ReasonTaskNotFound, "Task %s (from %s) not found (is the MySQL addon installed?)", src.Name, from)
	}
	for i, step := range in.Task.Spec.Steps {
		if _, found := in.Functions[step.Name]; !found {
			return "", nil, notOK(typ, v1beta1.ReasonFunctionNotFound, "Task %s step %d: Function %s not found", src.Name, i, step.Name)
		}
	}
	var params []v1beta1.Param
	for _, p := range src.Params {
		params = append(params, v1beta1.Param{Name: p.Name, Value: p.Value})
	}
	return src.Name, append(params, in.TaskRef.Params...), ok(typ, "Task %s (from %s) found", src.Name, from)
}
