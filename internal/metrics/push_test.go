package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// pushed is one request a fake Pushgateway received.
type pushed struct {
	method, path string
	families     map[string]*dto.MetricFamily
}

// fakeGateway records pushes; it answers with status until told otherwise.
type fakeGateway struct {
	mu     sync.Mutex
	pushes []pushed
	status int
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if !errors.Is(err, io.EOF) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			break
		}
		fams[mf.GetName()] = &mf
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pushes = append(g.pushes, pushed{method: r.Method, path: r.URL.Path, families: fams})
	if g.status != 0 {
		w.WriteHeader(g.status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (g *fakeGateway) take() []pushed {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.pushes
	g.pushes = nil
	return out
}

func familyNames(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for n := range fams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func request(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

func TestPushBackupSession(t *testing.T) {
	gw := &fakeGateway{}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	older := backupSession("demo", "mysql-backup-1699999000", "mysql-backup", metav1.NewTime(t0.Add(-time.Hour)), failedBackup())
	latest := backupSession("demo", "mysql-backup-1700000000", "mysql-backup", t0, succeededBackup())
	running := backupSession("demo", "mysql-backup-1700003600", "mysql-backup", metav1.NewTime(t0.Add(time.Hour)),
		v1beta1.BackupSessionStatus{Phase: v1beta1.BackupSessionRunning})
	reader := newFakeReader(backupConfig("demo", "mysql-backup", "s3-repo"), s3Repository("demo", "s3-repo"), older, latest, running)
	p := NewPusher(reader, srv.URL)
	ctx := t.Context()

	// Not finished yet, or superseded by a newer finished session: nothing is pushed.
	for _, name := range []string{running.Name, older.Name} {
		if _, err := p.reconcileBackup(ctx, request("demo", name)); err != nil {
			t.Fatal(err)
		}
	}
	if got := gw.take(); len(got) != 0 {
		t.Fatalf("pushed %d times for a running and a superseded session", len(got))
	}

	if _, err := p.reconcileBackup(ctx, request("demo", latest.Name)); err != nil {
		t.Fatal(err)
	}
	got := gw.take()
	if len(got) != 1 {
		t.Fatalf("got %d pushes, want 1", len(got))
	}
	if got[0].method != http.MethodPost || got[0].path != "/metrics/job/backupconfiguration-demo-mysql-backup" {
		t.Errorf("push went to %s %s", got[0].method, got[0].path)
	}
	// Every backup and repository metric but the operator's own: the schedule and the running
	// session are state of the cluster, not of a finished session.
	want := slices.DeleteFunc(append(backupNames(), pushedRepoNames()...), func(n string) bool {
		return n == "stash_backup_schedule_interval_seconds" || n == "stash_backup_session_start_time_seconds"
	})
	sort.Strings(want)
	if g := familyNames(got[0].families); !slices.Equal(g, want) {
		t.Errorf("pushed metrics %v, want %v", g, want)
	}
	m := got[0].families["stash_backup_session_duration_seconds"].GetMetric()[0]
	if m.GetGauge().GetValue() != 20.5 {
		t.Errorf("pushed session duration %v, want 20.5", m.GetGauge().GetValue())
	}

	// Once per session: a later reconcile (any status change) does not push again.
	if _, err := p.reconcileBackup(ctx, request("demo", latest.Name)); err != nil {
		t.Fatal(err)
	}
	if got := gw.take(); len(got) != 0 {
		t.Errorf("pushed again: %d", len(got))
	}
}

func TestPushFailedBackupRetries(t *testing.T) {
	gw := &fakeGateway{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	bs := backupSession("demo", "mysql-backup-1700000000", "mysql-backup", t0, failedBackup())
	p := NewPusher(newFakeReader(backupConfig("demo", "mysql-backup", "s3-repo"), bs), srv.URL)

	if _, err := p.reconcileBackup(t.Context(), request("demo", bs.Name)); err == nil {
		t.Fatal("want an error (and a requeue) when the Pushgateway refuses the push")
	}
	gw.mu.Lock()
	gw.status = 0
	gw.mu.Unlock()
	gw.take()
	if _, err := p.reconcileBackup(t.Context(), request("demo", bs.Name)); err != nil {
		t.Fatal(err)
	}
	got := gw.take()
	if len(got) != 1 {
		t.Fatalf("got %d pushes after the retry, want 1", len(got))
	}
	// A failed session carries only the *_success gauges; the Repository is missing here.
	want := []string{"stash_backup_host_backup_success", "stash_backup_session_success", "stash_backup_target_success"}
	if g := familyNames(got[0].families); !slices.Equal(g, want) {
		t.Errorf("pushed %v, want %v", g, want)
	}
}

func TestPushRestoreSession(t *testing.T) {
	gw := &fakeGateway{}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	rs := restoreSession("demo", "restore", "s3-repo", v1beta1.RestoreSessionStatus{
		Phase: v1beta1.RestoreFailed, SessionDuration: "2s",
		Stats: []v1beta1.HostRestoreStats{{Hostname: "host-0", Phase: v1beta1.HostFailed, Error: "boom"}},
	})
	reader := newFakeReader(rs, s3Repository("demo", "s3-repo"))
	p := NewPusher(reader, srv.URL)
	if _, err := p.reconcileRestore(t.Context(), request("demo", "restore")); err != nil {
		t.Fatal(err)
	}
	got := gw.take()
	if len(got) != 1 || got[0].path != "/metrics/job/restoresession-demo-restore" {
		t.Fatalf("pushes %+v, want one to restoresession-demo-restore", got)
	}
	want := append([]string{"stash_restore_host_restore_success", "stash_restore_session_success", "stash_restore_target_success"}, pushedRepoNames()...)
	sort.Strings(want)
	if g := familyNames(got[0].families); !slices.Equal(g, want) {
		t.Errorf("pushed %v, want %v", g, want)
	}

	// A deleted session is forgotten, so the map does not grow forever.
	p2 := NewPusher(newFakeReader(), srv.URL)
	p2.markPushed(pushKey{"RestoreSession", request("demo", "gone").NamespacedName}, "uid")
	if _, err := p2.reconcileRestore(t.Context(), request("demo", "gone")); err != nil {
		t.Fatal(err)
	}
	if len(p2.pushed) != 0 {
		t.Errorf("pushed map still holds %v", p2.pushed)
	}
}

func TestPushWaitsForTheRepositoryUpdate(t *testing.T) {
	gw := &fakeGateway{}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	// A session that just succeeded, and a Repository whose status still shows the backup
	// before it: the session controller writes the Repository right after the session.
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	bs := backupSession("demo", "mysql-backup-now", "mysql-backup", now, succeededBackup())
	repo := s3Repository("demo", "s3-repo")
	repo.Status.LastBackupTime = ptr.To(metav1.NewTime(now.Add(-time.Hour)))
	p := NewPusher(newFakeReader(backupConfig("demo", "mysql-backup", "s3-repo"), repo, bs), srv.URL)

	res, err := p.reconcileBackup(t.Context(), request("demo", bs.Name))
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter == 0 || len(gw.take()) != 0 {
		t.Fatalf("pushed before the Repository showed the backup (result %+v)", res)
	}

	// Once the Repository shows it, the push goes out with the new repository values.
	repo.Status.LastBackupTime = &now
	repo.Status.SnapshotCount = 4
	p = NewPusher(newFakeReader(backupConfig("demo", "mysql-backup", "s3-repo"), repo, bs), srv.URL)
	if _, err := p.reconcileBackup(t.Context(), request("demo", bs.Name)); err != nil {
		t.Fatal(err)
	}
	got := gw.take()
	if len(got) != 1 {
		t.Fatalf("got %d pushes, want 1", len(got))
	}
	if v := got[0].families["stash_repository_snapshot_count"].GetMetric()[0].GetGauge().GetValue(); v != 4 {
		t.Errorf("pushed snapshot count %v, want 4", v)
	}
}
