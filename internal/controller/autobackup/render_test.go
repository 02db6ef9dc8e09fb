package autobackup

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

func binding(annotations map[string]string) *appcatalogv1alpha1.AppBinding {
	return &appcatalogv1alpha1.AppBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sample-mariadb", Namespace: "demo", UID: "uid-1", Annotations: annotations},
		Spec:       appcatalogv1alpha1.AppBindingSpec{Type: "kubedb.com/mariadb", Version: "10.11"},
	}
}

func TestWantedBlueprints(t *testing.T) {
	tests := []struct {
		name       string
		annotation string
		want       []Wanted
	}{
		{"none", "", nil},
		{"one keeps Stash's name", "mariadb-backup", []Wanted{{"mariadb-backup", "app-sample-mariadb"}}},
		{"further ones are suffixed, blanks and repeats dropped", " daily, ,hourly,daily", []Wanted{
			{"daily", "app-sample-mariadb"}, {"hourly", "app-sample-mariadb-hourly"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := WantedBlueprints(binding(map[string]string{AnnotationBlueprint: tc.annotation}))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestRenderSubstitutesAndOverrides(t *testing.T) {
	bp := &stashv1beta1.BackupBlueprint{
		ObjectMeta: metav1.ObjectMeta{Name: "mariadb-backup"},
		Spec: stashv1beta1.BackupBlueprintSpec{
			RepositorySpec: stashv1alpha1.RepositorySpec{Backend: stashv1alpha1.Backend{
				StorageSecretName: "gcs-secret",
				GCS: &stashv1alpha1.GCSSpec{Bucket: "b",
					Prefix: "${TARGET_APP_GROUP}/${TARGET_APP_RESOURCE}/${TARGET_NAMESPACE}/${TARGET_NAME}/${TARGET_APP_VERSION}/${TARGET_KIND}/${TARGET_RESOURCE}/${TARGET_API_VERSION}/${TARGET_APP_TYPE}"},
			}},
			Schedule: "*/5 * * * *",
			Task: stashv1beta1.TaskRef{Name: "mariadb-backup-10.5.8", Params: []stashv1beta1.Param{
				{Name: "args", Value: "--databases ${TARGET_NAME}"},
				{Name: "later", Value: "${REPOSITORY_NAME}-${x:=y}"},
			}},
			RetentionPolicy: stashv1alpha1.RetentionPolicy{Name: "keep-last-5", KeepLast: 5, Prune: true},
		},
	}
	ab := binding(map[string]string{
		AnnotationBlueprint:     "mariadb-backup",
		AnnotationSchedule:      "*/1 * * * *",
		ParamsPrefix + "args":   "--all-databases",
		ParamsPrefix + "extra":  "a=1,b=2",
		"unrelated.example/key": "v",
	})
	repo, bc, err := Render(ab, bp, WantedBlueprints(ab)[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := repo.Spec.Backend.GCS.Prefix, "kubedb.com/mariadb/demo/sample-mariadb/10.11/AppBinding/appbindings/appcatalog.appscode.com/v1alpha1/kubedb.com/mariadb"; got != want {
		t.Errorf("prefix %q, want %q", got, want)
	}
	if repo.Namespace != "demo" || bc.Namespace != "demo" || repo.Name != "app-sample-mariadb" || bc.Spec.Repository.Name != "app-sample-mariadb" {
		t.Errorf("names: repository %s/%s, configuration %s uses %q", repo.Namespace, repo.Name, bc.Namespace, bc.Spec.Repository.Name)
	}
	if bc.Spec.Schedule != "*/1 * * * *" {
		t.Errorf("schedule %q, want the annotation's", bc.Spec.Schedule)
	}
	wantParams := []stashv1beta1.Param{
		{Name: "args", Value: "--all-databases"},
		{Name: "later", Value: "${REPOSITORY_NAME}-${x:=y}"}, // the Task's placeholders wait for the Job
		{Name: "extra", Value: "a=1,b=2"},
	}
	if diff := cmp.Diff(wantParams, bc.Spec.Task.Params); diff != "" {
		t.Errorf("params (-want +got)\n%s", diff)
	}
	if bc.Spec.Target.Ref.Name != "sample-mariadb" || bc.Spec.Target.Ref.Kind != "AppBinding" {
		t.Errorf("target %+v", bc.Spec.Target.Ref)
	}
	if len(bc.OwnerReferences) != 1 || bc.OwnerReferences[0].UID != "uid-1" || len(repo.OwnerReferences) != 0 {
		t.Errorf("owners: configuration %+v, repository %+v", bc.OwnerReferences, repo.OwnerReferences)
	}
	if !MadeFor(repo, "sample-mariadb") || !MadeFor(bc, "sample-mariadb") || MadeFor(bc, "other") {
		t.Errorf("made-for annotations: %v %v", repo.Annotations, bc.Annotations)
	}
	// The blueprint itself is not changed.
	if bp.Spec.Backend.GCS.Prefix[0] != '$' {
		t.Errorf("blueprint was modified: %q", bp.Spec.Backend.GCS.Prefix)
	}
}
