package addon

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/snaptag"
)

func snap(id string, minute int, tags ...string) restic.Snapshot {
	return restic.Snapshot{ID: id, ShortID: id, Hostname: "host-0", Paths: []string{"/dumpfile.sql"}, Tags: tags,
		Time: time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)}
}

func TestSelectLatest(t *testing.T) {
	tags := func(name string) []string {
		return snaptag.Tags(snaptag.Identity{Namespace: "demo", Kind: "AppBinding", Name: name}, "BackupConfiguration", name)
	}
	a1, a2 := snap("a1", 1, tags("db-a")...), snap("a2", 3, tags("db-a")...)
	b1, b2 := snap("b1", 4, tags("db-b")...), snap("b2", 5, tags("db-b")...)
	u1, u2 := snap("u1", 0), snap("u2", 9)
	own := func(name string) snaptag.Identity {
		return snaptag.Identity{Namespace: "demo", Kind: "AppBinding", Name: name}
	}
	both := []restic.Snapshot{a1, b2, a2, b1, u1}

	tests := []struct {
		name    string
		cands   []restic.Snapshot
		req     LatestRequest
		want    string
		wantErr []string
	}{
		{name: "own target among several", cands: both, req: LatestRequest{Own: own("db-a")}, want: "a2"},
		{name: "the other's own target", cands: both, req: LatestRequest{Own: own("db-b")}, want: "b2"},
		{name: "own target wins over newer untagged", cands: []restic.Snapshot{a1, u2}, req: LatestRequest{Own: own("db-a")}, want: "a1"},
		{name: "single other target", cands: []restic.Snapshot{b1, b2, u2}, req: LatestRequest{Own: own("db-c")}, want: "b2"},
		{name: "only untagged (Stash)", cands: []restic.Snapshot{u1, u2}, req: LatestRequest{Own: own("db-c")}, want: "u2"},
		{name: "only untagged, no own target", cands: []restic.Snapshot{u2, u1}, want: "u2"},
		{name: "source target", cands: both, req: LatestRequest{Own: own("db-a"), Source: own("db-b")}, want: "b2"},
		{name: "several targets, none own", cands: both, req: LatestRequest{Host: "host-0", Own: own("db-c")}, wantErr: []string{
			`snapshots of 2 targets from host "host-0"`, "none of them is this restore's own target demo/AppBinding/db-c",
			"demo/AppBinding/db-a (2 snapshots, newest 2026-01-01T00:03:00Z)", "demo/AppBinding/db-b (2 snapshots, newest 2026-01-01T00:05:00Z)",
			"1 snapshot without a target identity", "params: [{name: sourceTarget, value: AppBinding/db-a}]", "sourceHost", "snapshot id",
		}},
		{name: "several targets, no own target", cands: both, req: LatestRequest{Host: "host-0"}, wantErr: []string{"this restore names no target of its own"}},
		{name: "source target missing", cands: both, req: LatestRequest{Host: "host-0", Source: own("db-x")}, wantErr: []string{
			`no snapshot of target demo/AppBinding/db-x from host "host-0"`, "demo/AppBinding/db-a (2 snapshots"}},
		{name: "nothing", req: LatestRequest{Host: "h"}, wantErr: []string{`the repository has no snapshot of dumpfile.sql from host "h"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectLatest(tt.cands, tt.req)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("selected %s, want an error", got.ID)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Fatalf("SelectLatest = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestRetentionFilter(t *testing.T) {
	o := &BackupOptions{Common: Common{Namespace: "demo"}, InvokerKind: "BackupConfiguration", InvokerName: "db-a", TargetKind: "AppBinding", TargetName: "db-a"}
	f, err := o.retentionFilter()
	if err != nil {
		t.Fatal(err)
	}
	want := restic.Filter{Host: "host-0", Tags: []string{"namespace=demo", "invoker=BackupConfiguration/db-a", "target=AppBinding/db-a"}, Paths: []string{"/dumpfile.sql"}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("filter %+v, want %+v", f, want)
	}
	o.TargetName = ""
	if _, err := o.retentionFilter(); err == nil {
		t.Error("retention without a target identity would select other configurations' snapshots")
	}
}
