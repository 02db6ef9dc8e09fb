package integration

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appcatalogv1alpha1 "github.com/hoard-operator/hoard/api/appcatalog/v1alpha1"
	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller/autobackup"
	"github.com/hoard-operator/hoard/internal/controller/backupconfiguration"
)

// abBlueprint is a cluster-scoped blueprint named after the test's namespace (blueprints of
// parallel tests must not collide), deleted when the test ends.
func abBlueprint(t *testing.T, name string) *stashv1beta1.BackupBlueprint {
	t.Helper()
	bp := &stashv1beta1.BackupBlueprint{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: stashv1beta1.BackupBlueprintSpec{
			RepositorySpec: stashv1alpha1.RepositorySpec{Backend: stashv1alpha1.Backend{
				StorageSecretName: "repo-secret",
				S3: &stashv1alpha1.S3Spec{Endpoint: "minio.example.svc", Bucket: "b",
					Prefix: "mysql/${TARGET_NAMESPACE}/${TARGET_APP_RESOURCE}/${TARGET_NAME}"},
			}},
			Schedule:        "*/5 * * * *",
			Task:            stashv1beta1.TaskRef{Name: "mysql-backup-8.0.21", Params: []stashv1beta1.Param{{Name: "args", Value: "--databases ${TARGET_NAME}"}}},
			RetentionPolicy: stashv1alpha1.RetentionPolicy{Name: "keep-last-5", KeepLast: 5, Prune: true},
		},
	}
	mustCreate(t, bp)
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), bp.DeepCopy()) })
	return bp
}

func abAppBinding(ns, name string, annotations map[string]string) *appcatalogv1alpha1.AppBinding {
	url := "tcp(mysql:3306)/"
	return &appcatalogv1alpha1.AppBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations},
		Spec: appcatalogv1alpha1.AppBindingSpec{
			Type: "kubedb.com/mysql", Version: "8.0.21",
			ClientConfig: appcatalogv1alpha1.ClientConfig{URL: &url},
			Secret:       &corev1.LocalObjectReference{Name: "db-auth"},
		},
	}
}

func getObj(ns, name string, obj client.Object) error {
	return k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
}

// waitAutoBackup waits for the Repository and BackupConfiguration of that name to satisfy check.
func waitAutoBackup(t *testing.T, ns, name, what string, check func(*stashv1alpha1.Repository, *stashv1beta1.BackupConfiguration) error) (*stashv1alpha1.Repository, *stashv1beta1.BackupConfiguration) {
	t.Helper()
	repo, bc := &stashv1alpha1.Repository{}, &stashv1beta1.BackupConfiguration{}
	pollUntil(t, bcTimeout, what, func() error {
		if err := getObj(ns, name, repo); err != nil {
			return err
		}
		if err := getObj(ns, name, bc); err != nil {
			return err
		}
		return check(repo, bc)
	})
	return repo, bc
}

// countEvents adds up the counts of the events with reason on object whose message starts
// with prefix.
func countEvents(ctx context.Context, ns, object, reason, prefix string) int {
	var events corev1.EventList
	if err := k8sClient.List(ctx, &events, client.InNamespace(ns)); err != nil {
		return -1
	}
	n := 0
	for _, e := range events.Items {
		if e.InvolvedObject.Name == object && e.Reason == reason && strings.HasPrefix(e.Message, prefix) {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

func TestAutoBackupFromBlueprint(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns := newNamespace(t)
	bp := abBlueprint(t, "ab-"+ns)
	mustCreate(t, abAppBinding(ns, "sample-mysql", map[string]string{
		autobackup.AnnotationBlueprint:           bp.Name,
		autobackup.AnnotationSchedule:            "*/1 * * * *",
		autobackup.ParamsPrefix + "args":         "--all-databases",
		autobackup.ParamsPrefix + "waitTimeout":  "60",
		"unrelated.example.org/params.something": "ignored",
	}))

	// Created: variables filled, schedule and params from the annotations.
	repo, bc := waitAutoBackup(t, ns, "app-sample-mysql", "Repository and BackupConfiguration", func(*stashv1alpha1.Repository, *stashv1beta1.BackupConfiguration) error { return nil })
	if got, want := repo.Spec.Backend.S3.Prefix, "mysql/"+ns+"/mysql/sample-mysql"; got != want {
		t.Errorf("Repository prefix %q, want %q", got, want)
	}
	if repo.Spec.Backend.StorageSecretName != "repo-secret" || len(repo.OwnerReferences) != 0 {
		t.Errorf("Repository: secret %q, owners %v", repo.Spec.Backend.StorageSecretName, repo.OwnerReferences)
	}
	if bc.Spec.Schedule != "*/1 * * * *" || bc.Spec.Task.Name != "mysql-backup-8.0.21" || bc.Spec.Repository.Name != "app-sample-mysql" ||
		bc.Spec.Repository.Namespace != "" || bc.Spec.Target.Ref.Name != "sample-mysql" || bc.Spec.RetentionPolicy.KeepLast != 5 {
		t.Errorf("BackupConfiguration spec: %+v", bc.Spec)
	}
	wantParams := []stashv1beta1.Param{{Name: "args", Value: "--all-databases"}, {Name: "waitTimeout", Value: "60"}}
	if !reflect.DeepEqual(bc.Spec.Task.Params, wantParams) {
		t.Errorf("task params %+v, want %+v", bc.Spec.Task.Params, wantParams)
	}
	if len(bc.OwnerReferences) != 1 || bc.OwnerReferences[0].Kind != "AppBinding" || bc.OwnerReferences[0].Name != "sample-mysql" {
		t.Errorf("BackupConfiguration owners %+v", bc.OwnerReferences)
	}
	pollUntil(t, bcTimeout, "AutoBackupCreated event", func() error { return findEvent(ctx, ns, "sample-mysql", "AutoBackupCreated") })

	// Isolation: the storage Secret is looked for in the AppBinding's namespace only; one of
	// that name elsewhere does not count.
	other := newNamespace(t)
	mustCreate(t, bcSecret(other))
	waitBC(t, ns, "app-sample-mysql", "BackendSecretFound=False", wantCondition(backupconfiguration.ConditionBackendSecretFound, metav1.ConditionFalse, stashv1beta1.ReasonSecretNotFound))

	// A user's pause survives; a blueprint change propagates to both objects.
	pollUntil(t, bcTimeout, "pause by the user", func() error {
		if err := getObj(ns, "app-sample-mysql", bc); err != nil {
			return err
		}
		bc.Spec.Paused = true
		return k8sClient.Update(ctx, bc) // the status writer may have been first: retry
	})
	if err := getObj("", bp.Name, bp); err != nil {
		t.Fatal(err)
	}
	bp.Spec.Backend.S3.Prefix = "v2/${TARGET_NAMESPACE}/${TARGET_NAME}"
	bp.Spec.RetentionPolicy.KeepLast = 9
	if err := k8sClient.Update(ctx, bp); err != nil {
		t.Fatal(err)
	}
	waitAutoBackup(t, ns, "app-sample-mysql", "blueprint change propagated", func(r *stashv1alpha1.Repository, b *stashv1beta1.BackupConfiguration) error {
		if r.Spec.Backend.S3.Prefix != "v2/"+ns+"/sample-mysql" || b.Spec.RetentionPolicy.KeepLast != 9 {
			return fmt.Errorf("prefix %q, keepLast %d", r.Spec.Backend.S3.Prefix, b.Spec.RetentionPolicy.KeepLast)
		}
		if !b.Spec.Paused {
			return fmt.Errorf("the user's pause was undone")
		}
		return nil
	})

	// Only the blueprint change was written: reconciles of an unchanged blueprint (the
	// objects' own creation, the user's pause) compare with the CRD's defaults applied and
	// write nothing.
	for _, kind := range []string{"Repository", "BackupConfiguration"} {
		pollUntil(t, bcTimeout, "one AutoBackupUpdated event for the "+kind, func() error {
			if n := countEvents(ctx, ns, "sample-mysql", "AutoBackupUpdated", kind+" "); n != 1 {
				return fmt.Errorf("%d updates", n)
			}
			return nil
		})
	}

	// Removing the annotation deletes the BackupConfiguration and keeps the Repository.
	ab := &appcatalogv1alpha1.AppBinding{}
	if err := getObj(ns, "sample-mysql", ab); err != nil {
		t.Fatal(err)
	}
	delete(ab.Annotations, autobackup.AnnotationBlueprint)
	if err := k8sClient.Update(ctx, ab); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, bcTimeout, "BackupConfiguration deleted", func() error {
		if err := getObj(ns, "app-sample-mysql", &stashv1beta1.BackupConfiguration{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (get: %v)", err) //nolint:errorlint // err is usually nil here
		}
		return nil
	})
	if err := getObj(ns, "app-sample-mysql", &stashv1alpha1.Repository{}); err != nil {
		t.Errorf("the Repository must stay: %v", err)
	}
	pollUntil(t, bcTimeout, "AutoBackupRemoved event", func() error { return findEvent(ctx, ns, "sample-mysql", "AutoBackupRemoved") })
}

func TestAutoBackupNeverTouchesHandMadeObjects(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns := newNamespace(t)
	bp := abBlueprint(t, "ab-"+ns)

	// A Repository the user made under the name the blueprint would use.
	mine := bcRepository(ns)
	mine.Name = "app-db"
	mustCreate(t, mine)
	if err := getObj(ns, "app-db", mine); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, abAppBinding(ns, "db", map[string]string{autobackup.AnnotationBlueprint: bp.Name}))

	pollUntil(t, bcTimeout, "AutoBackupRefused event", func() error {
		var events corev1.EventList
		if err := k8sClient.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "AppBinding" && e.InvolvedObject.Name == "db" && e.Reason == "AutoBackupRefused" {
				if !strings.Contains(e.Message, "Repository "+ns+"/app-db exists and was not made by Hoard") || e.Type != corev1.EventTypeWarning {
					return fmt.Errorf("unclear refusal: %s %q", e.Type, e.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("no AutoBackupRefused event among %d", len(events.Items))
	})
	after := &stashv1alpha1.Repository{}
	if err := getObj(ns, "app-db", after); err != nil {
		t.Fatal(err)
	}
	if after.Generation != mine.Generation || after.Spec.Backend.S3.Prefix != "p" || len(after.Annotations) != 0 {
		t.Errorf("the hand-made Repository was changed: generation %d, spec %+v, annotations %v", after.Generation, after.Spec, after.Annotations)
	}
	// Nor is a BackupConfiguration made that would write into the user's Repository.
	if err := getObj(ns, "app-db", &stashv1beta1.BackupConfiguration{}); !apierrors.IsNotFound(err) {
		t.Errorf("BackupConfiguration made next to a hand-made Repository: %v", err)
	}

	// A hand-made BackupConfiguration is likewise left alone, and not deleted when the
	// annotation goes.
	mineBC := newBackupConfiguration(ns)
	mineBC.Name = "app-other"
	mustCreate(t, mineBC, abAppBinding(ns, "other", map[string]string{autobackup.AnnotationBlueprint: bp.Name}))
	pollUntil(t, bcTimeout, "refusal on other", func() error { return findEvent(ctx, ns, "other", "AutoBackupRefused") })
	ab := &appcatalogv1alpha1.AppBinding{}
	if err := getObj(ns, "other", ab); err != nil {
		t.Fatal(err)
	}
	ab.Annotations = nil
	if err := k8sClient.Update(ctx, ab); err != nil {
		t.Fatal(err)
	}
	got := &stashv1beta1.BackupConfiguration{}
	if err := getObj(ns, "app-other", got); err != nil || got.Spec.Schedule != mineBC.Spec.Schedule || got.Annotations[autobackup.AnnotationMadeFor] != "" {
		t.Errorf("hand-made BackupConfiguration changed or deleted: %v %+v", err, got.Spec)
	}
	if err := getObj(ns, "app-other", &stashv1alpha1.Repository{}); !apierrors.IsNotFound(err) {
		t.Errorf("Repository made next to a hand-made BackupConfiguration: %v", err)
	}

	// Once the user's object goes, the name is free and the blueprint applies.
	if err := k8sClient.Delete(ctx, mine); err != nil {
		t.Fatal(err)
	}
	waitAutoBackup(t, ns, "app-db", "auto-backup after the hand-made Repository went", func(r *stashv1alpha1.Repository, _ *stashv1beta1.BackupConfiguration) error {
		if r.Annotations[autobackup.AnnotationMadeFor] != "db" {
			return fmt.Errorf("annotations %v", r.Annotations)
		}
		return nil
	})
}

func TestAutoBackupSeveralBlueprints(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	ns := newNamespace(t)
	daily, hourly := abBlueprint(t, "daily-"+ns), abBlueprint(t, "hourly-"+ns)
	mustCreate(t, abAppBinding(ns, "db", map[string]string{autobackup.AnnotationBlueprint: daily.Name + ", " + hourly.Name + ",missing-" + ns}))

	// The first keeps Stash's name, the others are suffixed with their blueprint's name.
	waitAutoBackup(t, ns, "app-db", "first blueprint", func(r *stashv1alpha1.Repository, _ *stashv1beta1.BackupConfiguration) error {
		if r.Annotations[autobackup.AnnotationMadeFrom] != daily.Name {
			return fmt.Errorf("made from %q", r.Annotations[autobackup.AnnotationMadeFrom])
		}
		return nil
	})
	waitAutoBackup(t, ns, "app-db-"+hourly.Name, "second blueprint", func(r *stashv1alpha1.Repository, _ *stashv1beta1.BackupConfiguration) error {
		if r.Annotations[autobackup.AnnotationMadeFrom] != hourly.Name {
			return fmt.Errorf("made from %q", r.Annotations[autobackup.AnnotationMadeFrom])
		}
		return nil
	})
	pollUntil(t, bcTimeout, "BlueprintNotFound event", func() error { return findEvent(ctx, ns, "db", "BlueprintNotFound") })

	// Dropping the second blueprint deletes only its BackupConfiguration.
	ab := &appcatalogv1alpha1.AppBinding{}
	if err := getObj(ns, "db", ab); err != nil {
		t.Fatal(err)
	}
	ab.Annotations[autobackup.AnnotationBlueprint] = daily.Name
	if err := k8sClient.Update(ctx, ab); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, bcTimeout, "second BackupConfiguration deleted", func() error {
		if err := getObj(ns, "app-db-"+hourly.Name, &stashv1beta1.BackupConfiguration{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (get: %v)", err) //nolint:errorlint // err is usually nil here
		}
		return nil
	})
	for _, check := range []struct {
		name string
		obj  client.Object
	}{{"app-db", &stashv1beta1.BackupConfiguration{}}, {"app-db", &stashv1alpha1.Repository{}}, {"app-db-" + hourly.Name, &stashv1alpha1.Repository{}}} {
		if err := getObj(ns, check.name, check.obj); err != nil {
			t.Errorf("%T %s must stay: %v", check.obj, check.name, err)
		}
	}
}

// A params annotation is the namespace user's input: the admission guard checks the
// BackupConfiguration the operator writes from it like one the user writes, and the refusal
// is reported on the AppBinding.
func TestAutoBackupParamsGuarded(t *testing.T) {
	guarded, _ := installGuard(t)
	startManager(t)
	ctx := context.Background()
	bp := abBlueprint(t, "ab-"+guarded)
	mustCreate(t, abAppBinding(guarded, "db", map[string]string{
		autobackup.AnnotationBlueprint:   bp.Name,
		autobackup.ParamsPrefix + "args": "--host=elsewhere.example.org",
	}))
	pollUntil(t, bcTimeout, "AutoBackupRefused naming the guard", func() error {
		var events corev1.EventList
		if err := k8sClient.List(ctx, &events, client.InNamespace(guarded)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == "db" && e.Reason == "AutoBackupRefused" {
				if !strings.Contains(e.Message, "hoard-admission-guard") || !strings.Contains(e.Message, "create BackupConfiguration") {
					return fmt.Errorf("unclear refusal: %q", e.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("no AutoBackupRefused event among %d", len(events.Items))
	})
	if err := getObj(guarded, "app-db", &stashv1beta1.BackupConfiguration{}); !apierrors.IsNotFound(err) {
		t.Errorf("BackupConfiguration with a connection-overriding argument exists: %v", err)
	}
}
