package jobspec

import (
	"strings"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
)

// The variables a BackupBlueprint's strings may use, filled from the AppBinding it is applied
// to (Stash's names and meanings).
const (
	VarTargetAPIVersion  = "TARGET_API_VERSION"
	VarTargetKind        = "TARGET_KIND"
	VarTargetNamespace   = "TARGET_NAMESPACE"
	VarTargetName        = "TARGET_NAME"
	VarTargetResource    = "TARGET_RESOURCE"
	VarTargetAppGroup    = "TARGET_APP_GROUP"
	VarTargetAppResource = "TARGET_APP_RESOURCE"
	VarTargetAppType     = "TARGET_APP_TYPE"
	VarTargetAppVersion  = "TARGET_APP_VERSION"
)

// BlueprintVariables are the values of the blueprint variables for an AppBinding. The app
// group and resource come from spec.type as Stash split it: "kubedb.com/mysql" is group
// "kubedb.com" and resource "mysql"; a type without a slash ("mysql") is the resource alone.
func BlueprintVariables(ab *appcatalogv1alpha1.AppBinding) map[string]string {
	group, resource := "", ab.Spec.Type
	if i := strings.LastIndexByte(ab.Spec.Type, '/'); i >= 0 {
		group, resource = ab.Spec.Type[:i], ab.Spec.Type[i+1:]
	}
	return map[string]string{
		VarTargetAPIVersion:  appcatalogv1alpha1.GroupVersion.String(),
		VarTargetKind:        "AppBinding",
		VarTargetNamespace:   ab.Namespace,
		VarTargetName:        ab.Name,
		VarTargetResource:    "appbindings",
		VarTargetAppGroup:    group,
		VarTargetAppResource: resource,
		VarTargetAppType:     ab.Spec.Type,
		VarTargetAppVersion:  ab.Spec.Version,
	}
}

// ExpandBlueprint fills the blueprint variables into every string of v (a JSON-serialisable
// value, changed in place). Other placeholders are left as they are: a task param such as
// `${REPOSITORY_NAME}` or `${x:=default}` is the Task's, filled when a session's Job is built.
func ExpandBlueprint(v any, vars map[string]string) error {
	only := func(s string) string {
		out, _ := substitute(s, vars, true)
		return out
	}
	return transformStrings(v, only, "BackupBlueprint")
}
