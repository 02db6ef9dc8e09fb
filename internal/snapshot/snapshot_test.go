package snapshot

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stashv1alpha1 "github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/internal/result"
)

func TestObject(t *testing.T) {
	repo := &stashv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "gcs-repo", Namespace: "demo", UID: "u1",
		Labels: map[string]string{"team": "db", "repository": "theirs", "hostname": "theirs"}}}
	id := strings.Repeat("4b2a9e1c", 8)
	s := result.Snapshot{Name: "4b2a9e1c", ID: id, Hostname: "host-0", Time: "2026-11-30T10:00:00Z", TotalBytes: 7146291,
		Tags: []string{"namespace=demo", "invoker=BackupConfiguration/nightly", "target=AppBinding/db"}}
	o := Object(repo, &s, "demo/nightly-1")
	if o.Name != "gcs-repo-4b2a9e1c" || o.Namespace != "demo" || o.Status.ID != "4b2a9e1c" || o.Status.FullID != id {
		t.Errorf("name %s/%s, ids %s %s", o.Namespace, o.Name, o.Status.ID, o.Status.FullID)
	}
	if o.Labels["repository"] != "gcs-repo" || o.Labels["hostname"] != "host-0" || o.Labels["team"] != "db" {
		t.Errorf("labels %v", o.Labels)
	}
	// The target comes from the tags when the result does not name it.
	if o.Status.Target != "demo/AppBinding/db" || o.Status.TotalSize != "6.815 MiB" || o.Status.Time == nil || o.Status.Session != "demo/nightly-1" {
		t.Errorf("status %+v", o.Status)
	}
	if len(o.OwnerReferences) != 1 || o.OwnerReferences[0].UID != "u1" || o.OwnerReferences[0].BlockOwnerDeletion != nil || len(o.Finalizers) != 1 {
		t.Errorf("owners %+v finalizers %v", o.OwnerReferences, o.Finalizers)
	}

	if o.Status.Binlog != nil {
		t.Errorf("binlog %+v from a result without one", o.Status.Binlog)
	}
	s.Binlog = &result.Binlog{File: "mysql-bin.000012", Pos: 857, GTID: "0-7-3"}
	if b := Object(repo, &s, "").Status.Binlog; b == nil || b.File != "mysql-bin.000012" || b.Position != 857 || b.GTID != "0-7-3" {
		t.Errorf("binlog %+v, want the result's", b)
	}

	// A host name that is no label value is left out, not mangled (nor the Repository's kept).
	s.Hostname = "host with spaces"
	if l := Object(repo, &s, "").Labels; l["hostname"] != "" {
		t.Errorf("labels %v", l)
	}
}
