package integration

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/controller/snapshot"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/result"
	snapshotobj "github.com/hoard-operator/hoard/internal/snapshot"
	"github.com/hoard-operator/hoard/internal/snapshotjob"
)

// resticSnapshot is a snapshot as a Job reports it; id is 64 hex digits made from seed.
func resticSnapshot(seed, host string, tags ...string) result.Snapshot {
	id := strings.Repeat(seed, 64/len(seed))
	return result.Snapshot{Name: id[:8], ID: id, Tree: strings.Repeat("f", 64), Paths: []string{"/dumpfile.sql"}, Hostname: host,
		Username: "hoard", UID: 65532, GID: 65532, Tags: tags, Time: "2026-11-30T10:00:00Z", TotalBytes: 7146291}
}

// knownIDs reads the short ids the operator wrote for the Repository's snapshots Job, from
// the Secret the Job mounts; the Secret is controlled by the Repository.
func knownIDs(t *testing.T, ns, repo string) []string {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: snapshot.KnownSecretName(repo)}, s); err != nil {
		t.Fatalf("the known ids' Secret: %v", err)
	}
	if ref := metav1.GetControllerOf(s); ref == nil || ref.Kind != "Repository" || ref.Name != repo {
		t.Errorf("Secret %s is controlled by %+v, want Repository %s", s.Name, ref, repo)
	}
	ids, err := snapshotjob.DecodeKnown(bytes.NewReader(s.Data[snapshotjob.KnownKey]))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func getSnapshot(ctx context.Context, ns, name string) (*repov1alpha1.Snapshot, error) {
	s := &repov1alpha1.Snapshot{}
	return s, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)
}

// seedSnapshots creates Snapshot objects as the operator would have, for snapshots of repo.
func seedSnapshots(t *testing.T, ns, repoName string, snaps ...result.Snapshot) {
	t.Helper()
	ctx := context.Background()
	repo := &v1alpha1.Repository{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: repoName}, repo); err != nil {
		t.Fatal(err)
	}
	if err := snapshotobj.Create(ctx, k8sClient, repo, snaps, ""); err != nil {
		t.Fatal(err)
	}
}

// deleteJobPods removes the pods finishJob made for a Job: envtest has no garbage collector,
// and the next Job of the same name gets a pod of the same name.
func deleteJobPods(t *testing.T, ns, job string) {
	t.Helper()
	if err := k8sClient.DeleteAllOf(context.Background(), &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels{batchv1.JobNameLabel: job}); err != nil {
		t.Fatal(err)
	}
}

// waitForgotten waits until Snapshot name's Forgotten condition has reason and a message
// that contains says.
func waitForgotten(t *testing.T, ns, name, reason, says string) {
	t.Helper()
	pollUntil(t, bcTimeout, reason, func() error {
		s, err := getSnapshot(context.Background(), ns, name)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, repov1alpha1.ConditionForgotten); c == nil || c.Reason != reason || !strings.Contains(c.Message, says) {
			return fmt.Errorf("Forgotten = %+v", c)
		}
		return nil
	})
}

func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	pollUntil(t, bcTimeout, "Snapshot "+name+" gone", func() error {
		s, err := getSnapshot(context.Background(), ns, name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %w, finalizers %v, conditions %+v)", err, s.Finalizers, s.Status.Conditions)
	})
}

// TestSnapshotsFromBackupResult: a backup's result creates the Snapshot object of the new
// snapshot, with Stash's name, labels and status, and removes those retention forgot.
func TestSnapshotsFromBackupResult(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	repo := f.patchRepository(t, func(repo *v1alpha1.Repository) {
		repo.Labels = map[string]string{"team": "db", "repository": "not-this"}
	})
	old := resticSnapshot("0a", "host-0")
	seedSnapshots(t, f.ns, f.repository, old)

	f.backupConfiguration(t, "sample-mysql-backup", nil)
	bs := f.backupSession(t, "sample-mysql-backup", "1700000101")
	bs = waitPhase(t, bs, bsPhase, "Running")
	job := waitJob(t, f.ns, "stash-backup-sample-mysql-backup-1700000101")
	res := backupResult("4b2a9e1c")
	tags := []string{"namespace=" + f.ns, "invoker=BackupConfiguration/sample-mysql-backup", "target=AppBinding/sample-mysql"}
	res.Snapshots[0] = func(s result.Snapshot) result.Snapshot {
		n := resticSnapshot("4b2a9e1c", "host-0", tags...)
		n.Target, n.TotalSize = f.ns+"/AppBinding/sample-mysql", s.TotalSize
		return n
	}(res.Snapshots[0])
	res.Forgotten = []string{old.Name}
	msg := resultMessage(t, res)
	finishJob(t, job, true, stepStatus{0, msg}, stepStatus{0, msg})
	waitPhase(t, bs, bsPhase, "Succeeded")

	name := f.repository + "-4b2a9e1c"
	var s *repov1alpha1.Snapshot
	pollUntil(t, bcTimeout, "Snapshot "+name, func() error {
		var err error
		s, err = getSnapshot(ctx, f.ns, name)
		return err
	})
	st := s.Status
	if st.ID != "4b2a9e1c" || st.FullID != res.Snapshots[0].ID || st.Tree != strings.Repeat("f", 64) || st.Hostname != "host-0" ||
		st.Repository != f.repository || st.Username != "hoard" || st.UID != 65532 || st.Gid != 65532 ||
		!slices.Equal(st.Paths, []string{"/dumpfile.sql"}) || !slices.Equal(st.Tags, tags) {
		t.Errorf("Stash's status fields: %+v", st)
	}
	if st.Target != f.ns+"/AppBinding/sample-mysql" || st.Session != f.ns+"/"+bs.Name || st.TotalBytes != 7146291 || st.TotalSize != "6.815 MiB" ||
		st.Time == nil || st.Time.UTC().Format("2006-01-02T15:04:05Z") != "2026-11-30T10:00:00Z" {
		t.Errorf("Hoard's status fields: %+v", st)
	}
	if s.Labels["repository"] != f.repository || s.Labels["hostname"] != "host-0" || s.Labels["team"] != "db" {
		t.Errorf("labels %v", s.Labels)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != repo.UID || !slices.Contains(s.Finalizers, snapshotobj.Finalizer) {
		t.Errorf("owners %+v, finalizers %v", s.OwnerReferences, s.Finalizers)
	}
	// Stash's guide command: kubectl get snapshots -l repository=<name>.
	list := &repov1alpha1.SnapshotList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(f.ns), client.MatchingLabels{"repository": f.repository}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, f.ns, f.repository+"-"+old.Name)
	// Retention's removal is no forget request: no Job was started for it.
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: snapshot.JobName(f.repository)}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Errorf("snapshots Job after a retention run: %v", err)
	}
}

// TestSnapshotDeleteForgets: deleting a Snapshot starts a forget Job under the repository's
// queue; the object stays while it waits or runs, stays with the reason when the forget
// fails, and goes only when the Job reports the snapshot forgotten.
func TestSnapshotDeleteForgets(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	keep, del := resticSnapshot("1b", "host-0"), resticSnapshot("2c", "host-0")
	seedSnapshots(t, f.ns, f.repository, keep, del)
	delName := f.repository + "-" + del.Name

	// A backup of the same repository holds it: the forget waits.
	f.backupConfiguration(t, "sample-mysql-backup", nil)
	bs := f.backupSession(t, "sample-mysql-backup", "1700000201")
	bs = waitPhase(t, bs, bsPhase, "Running")
	backupJob := waitJob(t, f.ns, "stash-backup-sample-mysql-backup-1700000201")

	if err := k8sClient.Delete(ctx, &repov1alpha1.Snapshot{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: delName}}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, bcTimeout, "forget waiting", func() error {
		s, err := getSnapshot(ctx, f.ns, delName)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, repov1alpha1.ConditionForgotten); c == nil || c.Reason != repov1alpha1.ReasonForgetWaiting ||
			!strings.Contains(c.Message, bs.Name) {
			return fmt.Errorf("Forgotten = %+v", c)
		}
		return nil
	})
	msg := resultMessage(t, backupResult("3d3d3d3d"))
	finishJob(t, backupJob, true, stepStatus{0, msg}, stepStatus{0, msg})

	jobName := snapshot.JobName(f.repository)
	job := waitJob(t, f.ns, jobName)
	c := job.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--forget="+del.ID) || !slices.Contains(c.Args, "--prune") || !slices.Contains(c.Args, "--provider=gcs") ||
		!slices.Contains(c.Args, "--path=/demo/mysql/"+f.ns) {
		t.Errorf("Job args %v", c.Args)
	}
	// The backup's own snapshot is known when its session recorded it before the forget took
	// the repository, and reported by the Job otherwise: both orders are right.
	if known := knownIDs(t, f.ns, f.repository); !slices.Equal(known, []string{keep.Name, del.Name}) &&
		!slices.Equal(known, []string{keep.Name, del.Name, "3d3d3d3d"}) {
		t.Errorf("known ids %v, want %s and %s (and 3d3d3d3d)", known, keep.Name, del.Name)
	}
	if job.Labels[location.LabelKey] == "" || *job.Spec.Template.Spec.AutomountServiceAccountToken || strings.Contains(strings.Join(c.Args, " "), "restic-secret-pw") {
		t.Errorf("Job labels %v, automount %v", job.Labels, *job.Spec.Template.Spec.AutomountServiceAccountToken)
	}
	pollUntil(t, bcTimeout, "ForgetRunning", func() error {
		s, err := getSnapshot(ctx, f.ns, delName)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, repov1alpha1.ConditionForgotten); c == nil || c.Reason != repov1alpha1.ReasonForgetRunning {
			return fmt.Errorf("Forgotten = %+v", c)
		}
		return nil
	})

	// The forget fails: the object stays and says why; nothing retries until the next sync.
	failed := &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseFailed,
		Error: "failed to forget snapshot(s) " + del.Name + ": restic forget: exit status 1: Fatal: unable to create lock in backend: permission denied"}
	finishJob(t, job, false, stepStatus{1, resultMessage(t, failed)})
	waitForgotten(t, f.ns, delName, repov1alpha1.ReasonForgetFailed, "permission denied")
	pollUntil(t, bcTimeout, "SnapshotsJobFailed", func() error { return findEvent(ctx, f.ns, f.repository, "SnapshotsJobFailed") })
	pollUntil(t, bcTimeout, "failed Job deleted", func() error {
		j := &batchv1.Job{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: jobName}, j); err != nil {
			return client.IgnoreNotFound(err)
		}
		if j.UID == job.UID && j.DeletionTimestamp.IsZero() {
			return fmt.Errorf("the failed Job is still there")
		}
		// envtest has no garbage collector: let the Job go as the cluster would.
		_ = k8sClient.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground))
		return fmt.Errorf("Job being deleted")
	})
	deleteJobPods(t, f.ns, jobName)

	// A sync asked for on the Repository tries the forget again; this time it succeeds.
	repo := &v1alpha1.Repository{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, repo); err != nil {
		t.Fatal(err)
	}
	base := repo.DeepCopy()
	repo.Annotations = map[string]string{snapshot.AnnotationSync: "now"}
	if err := k8sClient.Patch(ctx, repo, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	job = waitJob(t, f.ns, jobName)
	if !slices.Contains(job.Spec.Template.Spec.Containers[0].Args, "--forget="+del.ID) {
		t.Errorf("retry Job args %v", job.Spec.Template.Spec.Containers[0].Args)
	}
	ok := &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseSucceeded, Forgotten: []string{del.Name}}
	finishJob(t, job, true, stepStatus{0, resultMessage(t, ok)})
	waitGone(t, f.ns, delName)
	if _, err := getSnapshot(ctx, f.ns, f.repository+"-"+keep.Name); err != nil {
		t.Errorf("the kept snapshot's object: %v", err)
	}
	pollUntil(t, bcTimeout, "sync recorded", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, repo); err != nil {
			return err
		}
		if _, asked := repo.Annotations[snapshot.AnnotationSync]; asked || repo.Annotations[snapshot.AnnotationSyncedAt] == "" {
			return fmt.Errorf("annotations %v", repo.Annotations)
		}
		return nil
	})
}

// TestSnapshotSync: a sync adds snapshots written outside Hoard and removes stale objects, a
// page at a time when restic has more than a result holds.
func TestSnapshotSync(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	a, b := resticSnapshot("4e", "host-0"), resticSnapshot("5f", "host-0")
	seedSnapshots(t, f.ns, f.repository, a, b)
	repo := &v1alpha1.Repository{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, repo); err != nil {
		t.Fatal(err)
	}
	base := repo.DeepCopy()
	repo.Annotations = map[string]string{snapshot.AnnotationSync: "now"}
	if err := k8sClient.Patch(ctx, repo, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	jobName := snapshot.JobName(f.repository)
	job := waitJob(t, f.ns, jobName)
	args := job.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--known-file=/etc/hoard/known/known.gz") || slices.ContainsFunc(args, func(s string) bool { return strings.HasPrefix(s, "--forget") }) {
		t.Errorf("sync Job args %v", args)
	}
	if known := knownIDs(t, f.ns, f.repository); !slices.Equal(known, []string{a.Name, b.Name}) {
		t.Errorf("known ids %v, want %s and %s", known, a.Name, b.Name)
	}
	// A Stash snapshot (no tags, restic 0.12's user) is new; b was forgotten outside Hoard.
	stash := resticSnapshot("6a", "host-0")
	stash.Username, stash.UID, stash.GID = "root", 0, 0
	page := &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseSucceeded, Snapshots: []result.Snapshot{stash}, Gone: []string{b.Name}, More: true}
	finishJob(t, job, true, stepStatus{0, resultMessage(t, page)})
	waitGone(t, f.ns, f.repository+"-"+b.Name)
	pollUntil(t, bcTimeout, "the Stash snapshot's object", func() error {
		s, err := getSnapshot(ctx, f.ns, f.repository+"-"+stash.Name)
		if err != nil {
			return err
		}
		if s.Status.Target != "" || s.Status.Session != "" || s.Status.Username != "root" || s.Labels["hostname"] != "host-0" {
			return fmt.Errorf("status %+v labels %v", s.Status, s.Labels)
		}
		return nil
	})
	deleteJobPods(t, f.ns, jobName)
	// More: the next page is asked for at once, knowing what the first one added.
	pollUntil(t, bcTimeout, "second page", func() error {
		j := &batchv1.Job{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: jobName}, j); err != nil {
			return err
		}
		if j.UID == job.UID {
			if j.DeletionTimestamp.IsZero() {
				return fmt.Errorf("first page's Job still there")
			}
			_ = k8sClient.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground))
			return fmt.Errorf("first page's Job being deleted")
		}
		job = j
		return nil
	})
	// The known ids come from the operator's cache, which may not have seen the first page's
	// changes yet when the Job's deletion starts the second: a snapshot left out is reported
	// again, and a gone one is not in restic. Nothing else may be there.
	if known := knownIDs(t, f.ns, f.repository); !slices.Contains(known, a.Name) ||
		slices.ContainsFunc(known, func(id string) bool { return id != a.Name && id != b.Name && id != stash.Name }) {
		t.Errorf("second page's known ids %v, want %s and %s", known, a.Name, stash.Name)
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, repo); err != nil {
		t.Fatal(err)
	}
	if _, asked := repo.Annotations[snapshot.AnnotationSync]; !asked {
		t.Errorf("the sync request was cleared before the last page: %v", repo.Annotations)
	}
	finishJob(t, job, true, stepStatus{0, resultMessage(t, &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseSucceeded})})
	pollUntil(t, bcTimeout, "the known ids' Secret deleted with the Job", func() error {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: snapshot.KnownSecretName(f.repository)}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("Secret %s: %w", snapshot.KnownSecretName(f.repository), err)
		}
		return fmt.Errorf("Secret %s is still there", snapshot.KnownSecretName(f.repository))
	})
	pollUntil(t, bcTimeout, "sync done", func() error {
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: f.repository}, repo); err != nil {
			return err
		}
		if _, asked := repo.Annotations[snapshot.AnnotationSync]; asked || repo.Annotations[snapshot.AnnotationSyncedAt] == "" {
			return fmt.Errorf("annotations %v", repo.Annotations)
		}
		return findEvent(ctx, f.ns, f.repository, "SnapshotsSynced")
	})
}

// TestSnapshotDeletedWithRepository: when the Repository is gone, deleting its Snapshots
// forgets nothing: the objects go, the snapshots stay in restic.
func TestSnapshotDeletedWithRepository(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	s := resticSnapshot("7b", "host-0")
	seedSnapshots(t, f.ns, f.repository, s)
	if err := k8sClient.Delete(ctx, &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.repository}}); err != nil {
		t.Fatal(err)
	}
	// envtest has no garbage collector: delete the dependent as it would.
	if err := k8sClient.Delete(ctx, &repov1alpha1.Snapshot{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.repository + "-" + s.Name}}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, f.ns, f.repository+"-"+s.Name)
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: snapshot.JobName(f.repository)}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Errorf("a snapshots Job for a deleted Repository: %v", err)
	}
}
