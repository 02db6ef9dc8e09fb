package snapshot

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/snapshotjob"
)

func restRepo(name string) *stashv1alpha1.Repository {
	return &stashv1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
		Spec: stashv1alpha1.RepositorySpec{Backend: stashv1alpha1.Backend{
			StorageSecretName: "rest-secret", Rest: &stashv1alpha1.RestServerSpec{URL: "http://rest:8000/repo"},
		}},
	}
}

func TestRenderJob(t *testing.T) {
	repo := restRepo("repo")
	job, err := RenderJob(repo, "hoard:test", "loc", JobSpec{Known: []string{"aaaaaaaa", "bbbbbbbb"}, Forget: []string{strings.Repeat("c", 64)}, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"snapshots", "--provider=rest", "--forget=" + strings.Repeat("c", 64), "--prune", "--known-file=/etc/hoard/known/known.gz", "--sole-writer"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %q", c.Args, want)
		}
	}
	if job.Name != "hoard-snapshots-repo" || job.Labels[location.LabelKey] != "loc" || job.Annotations[AnnotationForget] != "cccccccc" ||
		*job.Spec.Template.Spec.AutomountServiceAccountToken || *job.Spec.BackoffLimit != 0 {
		t.Errorf("job %+v", job.ObjectMeta)
	}

	// Nothing to forget: no --forget and no --prune, only the comparison.
	job, err = RenderJob(repo, "hoard:test", "loc", JobSpec{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(job.Spec.Template.Spec.Containers[0].Args, " "); strings.Contains(args, "--forget") || strings.Contains(args, "--prune") || strings.Contains(args, "--known") {
		t.Errorf("sync-only args %s", args)
	}

	repo.Spec.Backend.StorageSecretName = ""
	if _, err := RenderJob(repo, "hoard:test", "loc", JobSpec{}); err == nil || !strings.Contains(err.Error(), "storageSecretName") {
		t.Errorf("without a storage Secret: %v", err)
	}
	if n := JobName(strings.Repeat("r", 80)); len(n) > 63 || !strings.HasPrefix(n, "hoard-snapshots-rrr") {
		t.Errorf("long name %q (%d)", n, len(n))
	}
}

func TestSyncDue(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		interval    time.Duration
		annotations map[string]string
		now         time.Time
		due         bool
		wait        time.Duration
	}{
		{"no schedule, no request", 0, nil, created.Add(48 * time.Hour), false, 0},
		{"requested", 0, map[string]string{AnnotationSync: "now"}, created, true, 0},
		{"counted from creation", time.Hour, nil, created.Add(20 * time.Minute), false, 40 * time.Minute},
		{"an interval after creation", time.Hour, nil, created.Add(time.Hour), true, 0},
		{"counted from the last sync", time.Hour, map[string]string{AnnotationSyncedAt: "2026-01-01T05:00:00Z"}, created.Add(5*time.Hour + 30*time.Minute), false, 30 * time.Minute},
		{"unreadable last sync: from creation", time.Hour, map[string]string{AnnotationSyncedAt: "yesterday"}, created.Add(2 * time.Hour), true, -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := restRepo("repo")
			repo.Annotations = tc.annotations
			r := &Reconciler{SyncInterval: tc.interval, Now: func() time.Time { return tc.now }}
			due, wait := r.syncDue(repo)
			if due != tc.due || (tc.interval > 0 && wait != tc.wait) {
				t.Errorf("due %v after %s, want %v after %s", due, wait, tc.due, tc.wait)
			}
		})
	}
}

// TestKnownBeyondTheCommandLine: the known ids of 20,000 and of 200,000 snapshots reach the
// Job through its Secret, not its command line (one argument holds 128 KiB, about 14,000
// ids), and read back as the same set; 200,000 fit the Secret's 1 MiB.
func TestKnownBeyondTheCommandLine(t *testing.T) {
	repo := restRepo("repo")
	for _, n := range []int{20_000, 200_000} {
		known := make([]string, n)
		seen := map[string]bool{}
		for i := range known {
			for {
				b := make([]byte, 4)
				if _, err := rand.Read(b); err != nil {
					t.Fatal(err)
				}
				if id := hex.EncodeToString(b); !seen[id] {
					seen[id], known[i] = true, id
					break
				}
			}
		}
		job, err := RenderJob(repo, "hoard:test", "loc", JobSpec{Known: known})
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ")
		if len(args) > 1024 || strings.Contains(args, known[0]) {
			t.Errorf("%d known: the command line has %d bytes: %s", n, len(args), args[:min(len(args), 200)])
		}
		mounted := false
		for _, v := range job.Spec.Template.Spec.Volumes {
			mounted = mounted || (v.Secret != nil && v.Secret.SecretName == KnownSecretName(repo.Name))
		}
		if !mounted {
			t.Errorf("the Job does not mount Secret %s: %+v", KnownSecretName(repo.Name), job.Spec.Template.Spec.Volumes)
		}
		secret, err := RenderKnownSecret(job, repo.Name, known)
		if err != nil {
			t.Fatal(err)
		}
		data := secret.Data[snapshotjob.KnownKey]
		t.Logf("%d known ids: %d bytes in the Secret (%.2f a snapshot); %d bytes of arguments", n, len(data), float64(len(data))/float64(n), len(args))
		if len(data) > 1<<20-64<<10 {
			t.Errorf("%d known ids take %d bytes: more than a Secret holds", n, len(data))
		}
		got, err := snapshotjob.DecodeKnown(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(known)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%d known ids read back as %d others", n, len(got))
		}
	}
}
