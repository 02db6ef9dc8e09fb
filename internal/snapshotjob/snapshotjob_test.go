package snapshotjob

import (
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

func hexID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestFillPacksAPage: a page of unknown snapshots, packed, holds well over the nine that
// plain JSON fits in a termination message, fits it, and parses back to the same snapshots,
// oldest first.
func TestFillPacksAPage(t *testing.T) {
	var unknown []restic.Snapshot
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		unknown = append(unknown, restic.Snapshot{ID: hexID(t), Tree: hexID(t), Time: start.Add(time.Duration(i) * time.Hour),
			Paths: []string{"/dumpfile.sql"}, Hostname: "host-0", Username: "hoard", UID: 65532, GID: 65532,
			Tags:    []string{"namespace=demo", "invoker=BackupConfiguration/nightly", "target=AppBinding/sample-mysql"},
			Summary: &restic.SnapshotSummary{TotalBytesProcessed: uint64(7146291 + i)}})
	}
	res := &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseSucceeded, Gone: []string{"deadbeef"}}
	if err := fill(res, unknown, 0); err != nil {
		t.Fatal(err)
	}
	res.Duration = "12.345s"
	b, err := result.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := result.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	n := len(got.Snapshots)
	t.Logf("one page: %d of %d snapshots in %d bytes", n, len(unknown), len(b))
	if len(b) > result.MaxTerminationMessageBytes || !got.More || n < 20 {
		t.Fatalf("%d bytes, more %v, %d snapshots", len(b), got.More, n)
	}
	for i := 0; i < n; i++ {
		if want := Describe(&unknown[i]); !reflect.DeepEqual(got.Snapshots[i], want) {
			t.Fatalf("snapshot %d: %+v, want %+v", i, got.Snapshots[i], want)
		}
	}

	// All fit: no More.
	res = &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseSucceeded}
	if err := fill(res, unknown[:3], 0); err != nil || res.More || res.Packed == "" {
		t.Errorf("three snapshots: more %v, packed %d bytes, %v", res.More, len(res.Packed), err)
	}
}

func TestParseRejectsBadPacking(t *testing.T) {
	if _, err := result.Parse([]byte(`{"kind":"snapshots","phase":"Succeeded","packed":"not base64 gzip"}`)); err == nil {
		t.Error("a result with a broken packed page parsed")
	}
}
