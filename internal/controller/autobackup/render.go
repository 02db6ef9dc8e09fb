package autobackup

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/jobspec"
	"github.com/hoard-operator/hoard/internal/names"
)

// The annotations a user puts on an AppBinding (Stash's names).
const (
	// AnnotationBlueprint names one or more BackupBlueprints, comma-separated.
	AnnotationBlueprint = "stash.appscode.com/backup-blueprint"
	// AnnotationSchedule overrides the blueprints' schedule.
	AnnotationSchedule = "stash.appscode.com/schedule"
	// ParamsPrefix starts the annotations that become task params: params.stash.appscode.com/<name>.
	ParamsPrefix = "params.stash.appscode.com/"
)

// The annotations that mark a Repository or BackupConfiguration as made by Hoard from a
// blueprint. Only objects carrying AnnotationMadeFor with the AppBinding's name are ever
// updated or deleted; anything else under the same name is the user's and left alone.
const (
	AnnotationMadeFor  = "hoard.io/auto-backup-for"
	AnnotationMadeFrom = "hoard.io/auto-backup-blueprint"
)

// Wanted is one blueprint an AppBinding asks for and the name of what it makes.
type Wanted struct {
	Blueprint string
	// Name of both the Repository and the BackupConfiguration.
	Name string
}

// WantedBlueprints reads the blueprint annotation: blueprint names in order, blanks and
// repeats dropped. The first keeps Stash's name app-<appbinding>; each further one gets
// app-<appbinding>-<blueprint>, so adding a second blueprint never renames the first one's
// objects (docs/design/0018-auto-backup.md).
func WantedBlueprints(ab *appcatalogv1alpha1.AppBinding) []Wanted {
	var out []Wanted
	seen := map[string]bool{}
	for _, bp := range strings.Split(ab.Annotations[AnnotationBlueprint], ",") {
		bp = strings.TrimSpace(bp)
		if bp == "" || seen[bp] {
			continue
		}
		seen[bp] = true
		name := "app-" + ab.Name
		if len(out) > 0 {
			name += "-" + bp
		}
		out = append(out, Wanted{Blueprint: bp, Name: names.Shorten(name, names.MaxObjectName)})
	}
	return out
}

// MadeFor reports whether obj was made by Hoard for the AppBinding named appBinding.
func MadeFor(obj metav1.Object, appBinding string) bool {
	v, ok := obj.GetAnnotations()[AnnotationMadeFor]
	return ok && v == appBinding
}

// Render builds the Repository and BackupConfiguration a blueprint makes for an AppBinding:
// the blueprint's variables filled from the AppBinding, the schedule annotation over the
// blueprint's schedule, and the params annotations over the blueprint's task params. Both
// live in the AppBinding's namespace, whatever the blueprint says.
func Render(ab *appcatalogv1alpha1.AppBinding, bp *stashv1beta1.BackupBlueprint, w Wanted) (*stashv1alpha1.Repository, *stashv1beta1.BackupConfiguration, error) {
	spec := bp.Spec.DeepCopy()
	if err := jobspec.ExpandBlueprint(spec, jobspec.BlueprintVariables(ab)); err != nil {
		return nil, nil, fmt.Errorf("BackupBlueprint %s: %w", bp.Name, err)
	}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:        w.Name,
			Namespace:   ab.Namespace,
			Annotations: map[string]string{AnnotationMadeFor: ab.Name, AnnotationMadeFrom: bp.Name},
		}
	}
	repo := &stashv1alpha1.Repository{ObjectMeta: meta(), Spec: spec.RepositorySpec}

	schedule := spec.Schedule
	if s, ok := ab.Annotations[AnnotationSchedule]; ok && strings.TrimSpace(s) != "" {
		schedule = strings.TrimSpace(s)
	}
	task := spec.Task
	task.Params = mergeParams(task.Params, annotationParams(ab.Annotations))
	bc := &stashv1beta1.BackupConfiguration{
		ObjectMeta: meta(),
		Spec: stashv1beta1.BackupConfigurationSpec{
			Schedule:   schedule,
			Task:       task,
			Repository: stashv1beta1.RepositoryRef{Name: w.Name},
			Target: &stashv1beta1.BackupTarget{Ref: stashv1beta1.TargetRef{
				APIVersion: appcatalogv1alpha1.GroupVersion.String(),
				Kind:       "AppBinding",
				Name:       ab.Name,
			}},
			RetentionPolicy:       spec.RetentionPolicy,
			RuntimeSettings:       spec.RuntimeSettings,
			TempDir:               spec.TempDir,
			InterimVolumeTemplate: spec.InterimVolumeTemplate,
			BackupHistoryLimit:    spec.BackupHistoryLimit,
		},
	}
	bc.OwnerReferences = []metav1.OwnerReference{ownerRef(ab)}
	return repo, bc, nil
}

// ownerRef makes the AppBinding the BackupConfiguration's controller, so that deleting the
// database's AppBinding stops its backups. blockOwnerDeletion is left unset: it would need
// update on appbindings/finalizers where OwnerReferencesPermissionEnforcement runs, and
// nothing here needs the AppBinding to wait for it. The Repository gets no owner: its
// snapshots outlive the AppBinding.
func ownerRef(ab *appcatalogv1alpha1.AppBinding) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: appcatalogv1alpha1.GroupVersion.String(),
		Kind:       "AppBinding",
		Name:       ab.Name,
		UID:        ab.UID,
		Controller: ptr.To(true),
	}
}

// annotationParams are the params.stash.appscode.com/<name> annotations, sorted by name so the
// rendered object does not change between reconciles.
func annotationParams(annotations map[string]string) []stashv1beta1.Param {
	var out []stashv1beta1.Param
	for k, v := range annotations {
		if name, ok := strings.CutPrefix(k, ParamsPrefix); ok && name != "" {
			out = append(out, stashv1beta1.Param{Name: name, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// mergeParams is base with each of over replacing the param of the same name, or added after.
func mergeParams(base, over []stashv1beta1.Param) []stashv1beta1.Param {
	out := append([]stashv1beta1.Param(nil), base...)
	for _, p := range over {
		replaced := false
		for i := range out {
			if out[i].Name == p.Name {
				out[i].Value, replaced = p.Value, true
			}
		}
		if !replaced {
			out = append(out, p)
		}
	}
	return out
}
