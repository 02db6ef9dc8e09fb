package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/event"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/session"
)

// depCase runs one broken dependency through a BackupConfiguration and through sessions
// started anyway, and checks that all of them report it with the same condition.
type depCase struct {
	f *sessionFixture
	// bc is the configuration the backup sessions run; restores use repo.
	bc   string
	repo v1beta1.RepositoryRef
	n    int
}

// expect waits for the configuration to show cond (type, reason, message) as False and
// NotReady, then starts a backup and a restore and checks that each fails with the same
// reason and message under the same condition type (RestoreTargetFound for a restore's
// target, Stash's name). It returns the message.
func (d *depCase) expect(t *testing.T, typ, reason string) string {
	t.Helper()
	var want metav1.Condition
	waitBC(t, d.f.ns, d.bc, typ+"="+reason, func(bc *v1beta1.BackupConfiguration) error {
		c := meta.FindStatusCondition(bc.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason || bc.Status.Phase != v1beta1.BackupInvokerNotReady {
			return fmt.Errorf("phase %s, condition %+v", bc.Status.Phase, c)
		}
		want = *c
		return nil
	})
	pollUntil(t, bcTimeout, "DependencyNotReady event", func() error { return findEvent(context.Background(), d.f.ns, d.bc, event.DependencyError.Reason) })

	d.n++
	bs := waitPhase(t, d.f.backupSession(t, d.bc, fmt.Sprint(d.n)), bsPhase, "Failed")
	same(t, "BackupSession", bs.Status.Conditions, typ, want)
	if e := bs.Status.Targets[0].Stats[0].Error; e != want.Message {
		t.Errorf("BackupSession error %q, want %q", e, want.Message)
	}
	rsType := typ
	if typ == v1beta1.ConditionBackupTargetFound {
		rsType = v1beta1.ConditionRestoreTargetFound
	}
	rs := waitPhase(t, d.f.restoreSession(t, fmt.Sprintf("restore-%d", d.n), func(rs *v1beta1.RestoreSession) { rs.Spec.Repository = d.repo }), rsPhase, "Failed")
	same(t, "RestoreSession", rs.Status.Conditions, rsType, want)
	noJob(t, d.f.ns, "stash-restore-"+rs.Name)
	return want.Message
}

func same(t *testing.T, what string, conds []metav1.Condition, typ string, want metav1.Condition) {
	t.Helper()
	c := meta.FindStatusCondition(conds, typ)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != want.Reason || c.Message != want.Message {
		t.Errorf("%s condition %s = %+v\nwant reason %s message %q", what, typ, c, want.Reason, want.Message)
	}
}

// The BackupConfiguration and the sessions it would start decide "is this runnable?" with one
// checker (issue 11): the same problem reads the same everywhere, including the two the issue
// saw pass as Ready before (a storage Secret without RESTIC_PASSWORD, a missing Service).
func TestDependencyCheckerSameEverywhere(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	f.backupConfiguration(t, "nightly", nil)
	waitBC(t, f.ns, "nightly", "Ready", wantPhase(v1beta1.BackupInvokerReady))
	d := &depCase{f: f, bc: "nightly", repo: v1beta1.RepositoryRef{Name: f.repository}}

	t.Run("storage Secret without RESTIC_PASSWORD", func(t *testing.T) {
		s := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "gcs-secret"}, s); err != nil {
			t.Fatal(err)
		}
		pw := s.Data["RESTIC_PASSWORD"]
		delete(s.Data, "RESTIC_PASSWORD")
		if err := k8sClient.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		msg := d.expect(t, v1beta1.ConditionBackendSecretFound, v1beta1.ReasonSecretKeyMissing)
		if want := "storage Secret " + f.ns + "/gcs-secret of Repository gcs-repo has no key RESTIC_PASSWORD"; msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
		s.Data["RESTIC_PASSWORD"] = pw
		if err := k8sClient.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitBC(t, f.ns, "nightly", "Ready again", wantPhase(v1beta1.BackupInvokerReady))
	})

	t.Run("AppBinding names a Service that does not exist", func(t *testing.T) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "sample-mysql"}}
		if err := k8sClient.Delete(ctx, svc); err != nil {
			t.Fatal(err)
		}
		msg := d.expect(t, v1beta1.ConditionBackupTargetFound, v1beta1.ReasonServiceNotFound)
		if want := fmt.Sprintf("AppBinding %s/sample-mysql names Service %s/sample-mysql in spec.clientConfig.service, which does not exist", f.ns, f.ns); msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
		mustCreate(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "sample-mysql"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 3306}}}})
		waitBC(t, f.ns, "nightly", "Ready again", wantPhase(v1beta1.BackupInvokerReady))
	})
}

// A Repository of namespace b is used from namespace a only when its usagePolicy allows a; a
// missing Repository and one that does not allow a read the same. Allowed, a backup's Job runs
// in a and mounts a copy of b's storage Secret that the session owns and that goes when the
// Job ends; the Repository's status in b follows the backup.
func TestCrossNamespaceRepository(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	b := newNamespace(t)
	ref := v1beta1.RepositoryRef{Name: "shared", Namespace: b}
	f.backupConfiguration(t, "cross", func(bc *v1beta1.BackupConfiguration) { bc.Spec.Repository = ref })
	d := &depCase{f: f, bc: "cross", repo: ref}

	// Missing.
	missing := d.expect(t, v1beta1.ConditionRepositoryFound, v1beta1.ReasonRepositoryNotFound)
	if want := fmt.Sprintf("spec.repository.namespace: Repository %s/shared does not exist or its spec.usagePolicy does not allow namespace %s", b, f.ns); missing != want {
		t.Errorf("message %q, want %q", missing, want)
	}

	// Present, without a usagePolicy: the same words, and nothing of b's is read into a.
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "storage", Namespace: b}, Data: map[string][]byte{
		"RESTIC_PASSWORD": []byte("b-restic-pw"), "GOOGLE_PROJECT_ID": []byte("p"),
	}})
	repo := &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: b}, Spec: v1alpha1.RepositorySpec{
		Backend: v1alpha1.Backend{StorageSecretName: "storage", GCS: &v1alpha1.GCSSpec{Bucket: "shared-bucket", Prefix: "/" + b}},
	}}
	mustCreate(t, repo)
	// The configuration is re-checked on the Repository's creation; the message stays.
	time.Sleep(time.Second)
	if notAllowed := d.expect(t, v1beta1.ConditionRepositoryFound, v1beta1.ReasonRepositoryNotFound); notAllowed != missing {
		t.Errorf("not allowed reads %q, missing %q: a reference must not tell them apart", notAllowed, missing)
	}
	noSecretHolds(t, f.ns, "b-restic-pw")

	// Selector on a label a does not have yet: still refused.
	base := repo.DeepCopy()
	repo.Spec.UsagePolicy = &v1alpha1.UsagePolicy{AllowedNamespaces: v1alpha1.AllowedNamespaces{
		From:     ptr.To(v1alpha1.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"backup-tenant": f.ns}},
	}}
	if err := k8sClient.Patch(ctx, repo, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if msg := d.expect(t, v1beta1.ConditionRepositoryFound, v1beta1.ReasonRepositoryNotFound); msg != missing {
		t.Errorf("selector not matching: %q", msg)
	}

	// Label a: the namespace's label change re-checks the configuration.
	nsObj := &corev1.Namespace{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: f.ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsBase := nsObj.DeepCopy()
	nsObj.Labels["backup-tenant"] = f.ns
	if err := k8sClient.Patch(ctx, nsObj, client.MergeFrom(nsBase)); err != nil {
		t.Fatal(err)
	}
	bc := waitBC(t, f.ns, "cross", "Ready (selector allows a)", wantPhase(v1beta1.BackupInvokerReady))
	if c := meta.FindStatusCondition(bc.Status.Conditions, v1beta1.ConditionRepositoryFound); c.Message != fmt.Sprintf("Repository %s/shared found; its usagePolicy allows namespace %s", b, f.ns) {
		t.Errorf("RepositoryFound message %q", c.Message)
	}

	// A backup: the Job runs in a, mounts the session's copy of b's storage Secret, and is in
	// line for b's repository location.
	bs := waitPhase(t, f.backupSession(t, "cross", "allowed"), bsPhase, "Running")
	job := waitJob(t, f.ns, "stash-backup-"+bs.Name)
	loc, err := location.Of(b, &repo.Spec.Backend)
	if err != nil {
		t.Fatal(err)
	}
	if job.Labels[location.LabelKey] != loc.Key() {
		t.Errorf("Job location label %q, want %q (%s)", job.Labels[location.LabelKey], loc.Key(), loc)
	}
	copyName := session.StorageSecretName(job.Name)
	if !mountsSecret(job, copyName) || mountsSecret(job, "storage") {
		t.Errorf("Job volumes %+v: want the copy %s, not b's storage Secret", job.Spec.Template.Spec.Volumes, copyName)
	}
	cp := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: copyName}, cp); err != nil {
		t.Fatalf("storage copy: %v", err)
	}
	if string(cp.Data["RESTIC_PASSWORD"]) != "b-restic-pw" || cp.Annotations[session.AnnotationCopyOf] != b+"/storage" || !metav1.IsControlledBy(cp, bs) {
		t.Errorf("storage copy annotations %v owners %v keys %d", cp.Annotations, cp.OwnerReferences, len(cp.Data))
	}
	// Nothing of a's goes to b.
	noSecretHolds(t, b, "db-secret-pw")

	okBackup(t, job, "5d1f0e7a")
	waitPhase(t, bs, bsPhase, "Succeeded")
	pollUntil(t, bcTimeout, "copies deleted", func() error {
		for _, name := range []string{copyName, session.TargetSecretName(job.Name)} {
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("Secret %s: %w", name, err)
			}
		}
		return nil
	})
	pollUntil(t, bcTimeout, "Repository status in b", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(repo), repo); err != nil {
			return err
		}
		if repo.Status.LastBackupTime == nil || repo.Status.SnapshotCount != 3 {
			return fmt.Errorf("status %+v", repo.Status)
		}
		return nil
	})
	// The Snapshot object is the Repository's: in b, naming the session of a.
	pollUntil(t, bcTimeout, "Snapshot in b", func() error {
		s, err := getSnapshot(ctx, b, "shared-5d1f0e7a")
		if err != nil {
			return err
		}
		if s.Status.Repository != "shared" || s.Status.Session != f.ns+"/"+bs.Name {
			return fmt.Errorf("status %+v", s.Status)
		}
		return nil
	})
	if _, err := getSnapshot(ctx, f.ns, "shared-5d1f0e7a"); !apierrors.IsNotFound(err) {
		t.Errorf("a Snapshot of b's Repository in the session's namespace: %v", err)
	}

	// A restore from it, the same way.
	rs := waitPhase(t, f.restoreSession(t, "cross-restore", func(rs *v1beta1.RestoreSession) { rs.Spec.Repository = ref }), rsPhase, "Running")
	rjob := waitJob(t, f.ns, "stash-restore-"+rs.Name)
	if !mountsSecret(rjob, session.StorageSecretName(rjob.Name)) {
		t.Errorf("restore Job volumes %+v", rjob.Spec.Template.Spec.Volumes)
	}
	msg := resultMessage(t, &result.Result{Kind: result.KindRestore, Phase: result.PhaseSucceeded, Hostname: "host-0", Duration: "4s"})
	finishJob(t, rjob, true, stepStatus{0, msg}, stepStatus{0, msg})
	waitPhase(t, rs, rsPhase, "Succeeded")
	pollUntil(t, bcTimeout, "restore copy deleted", func() error {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: session.StorageSecretName(rjob.Name)}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("copy: %w", err)
		}
		return nil
	})

	// The grant withdrawn while a backup runs: the backup ends, but b's Repository is no
	// longer written from a. The configuration is re-checked (a usagePolicy change).
	bs2 := waitPhase(t, f.backupSession(t, "cross", "withdrawn"), bsPhase, "Running")
	job2 := waitJob(t, f.ns, "stash-backup-"+bs2.Name)
	base = repo.DeepCopy()
	repo.Spec.UsagePolicy = nil
	if err := k8sClient.Patch(ctx, repo, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	late := backupResult("9a8b7c6d")
	late.Repository.SnapshotCount = 7
	lateMsg := resultMessage(t, late)
	finishJob(t, job2, true, stepStatus{0, lateMsg}, stepStatus{0, lateMsg})
	waitPhase(t, bs2, bsPhase, "Succeeded")
	pollUntil(t, bcTimeout, "second copy deleted", func() error {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: session.StorageSecretName(job2.Name)}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("copy: %w", err)
		}
		return nil
	})
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(repo), repo); err != nil {
		t.Fatal(err)
	}
	if repo.Status.SnapshotCount != 3 {
		t.Errorf("Repository %s/shared status written after the grant was withdrawn: snapshotCount %d", b, repo.Status.SnapshotCount)
	}
	if _, err := getSnapshot(ctx, b, "shared-9a8b7c6d"); !apierrors.IsNotFound(err) {
		t.Errorf("Snapshot recorded in %s after the grant was withdrawn: %v", b, err)
	}
	waitBC(t, f.ns, "cross", "refused again", wantCondition(v1beta1.ConditionRepositoryFound, metav1.ConditionFalse, v1beta1.ReasonRepositoryNotFound))
}

func mountsSecret(job *batchv1.Job, name string) bool {
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name {
			return true
		}
	}
	return false
}

// noSecretHolds fails when any Secret of ns holds value.
func noSecretHolds(t *testing.T, ns, value string) {
	t.Helper()
	secrets := &corev1.SecretList{}
	if err := k8sClient.List(context.Background(), secrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		for k, v := range s.Data {
			if string(v) == value {
				t.Errorf("Secret %s/%s key %s holds a value of another namespace", s.Namespace, s.Name, k)
			}
		}
	}
}
