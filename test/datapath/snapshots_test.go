package datapath

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snapshotjob"
)

// TestSnapshotObjectsFromRestic: what the Job side reads from real restic for the Snapshot
// objects. A backup's result describes its snapshot as `restic snapshots` does (tree, user,
// paths, tags) and names the snapshots its retention forgot; the snapshots Job forgets by id,
// reports snapshots written outside Hoard and known ones that are gone, a page at a time.
func TestSnapshotObjectsFromRestic(t *testing.T) {
	src := newServer(t)
	mustExec(t, src, shopSQL)
	target := targetDir(t, src, DBPassword)
	repo, dir := localRepo(t)
	sel := "--mysql-args=--databases shop"

	first := backup(t, repo, target, sel, "--retention-keep-last=2", "--retention-prune=true")
	mustSucceed(t, first)
	second := backup(t, repo, target, sel, "--retention-keep-last=2", "--retention-prune=true")
	mustSucceed(t, second)
	third := backup(t, repo, target, sel, "--retention-keep-last=2", "--retention-prune=true")
	mustSucceed(t, third)
	if got := third.Result.Forgotten; !slices.Equal(got, []string{first.Result.Snapshots[0].Name}) {
		t.Errorf("third backup forgot %v, want the first snapshot %s", got, first.Result.Snapshots[0].Name)
	}
	listed, err := repo.Snapshots(ctxT(t), tools)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(listed, func(s Snapshot) bool { return s.ID == third.Result.Snapshots[0].ID })
	if i < 0 {
		t.Fatalf("the third backup's snapshot %+v is not in restic's list %+v", third.Result.Snapshots[0], listed)
	}
	snap := third.Result.Snapshots[0]
	if snap.Name != listed[i].ShortID || snap.Tree == "" || snap.Username == "" || !slices.Equal(snap.Paths, listed[i].Paths) ||
		!slices.Equal(snap.Tags, listed[i].Tags) || snap.Hostname != listed[i].Hostname || snap.Time == "" {
		t.Errorf("result snapshot %+v, restic %+v", snap, listed[i])
	}

	// A snapshot written outside Hoard (as Stash would: host-0, no tags).
	file := filepath.Join(t.TempDir(), "dumpfile.sql")
	if err := os.WriteFile(file, []byte("-- not Hoard's dump\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Restic(ctxT(t), tools, "backup", "--host", "host-0", file); err != nil {
		t.Fatal(err)
	}

	setup, err := restic.NewSetup(restic.Config{Provider: "local", Bucket: dir, SecretDir: repo.SecretDir})
	if err != nil {
		t.Fatal(err)
	}
	r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir()})
	secondID := second.Result.Snapshots[0].ID
	res := viaTerminationMessage(t, snapshotjob.Run(context.Background(), r, snapshotjob.Options{
		Known:  []string{second.Result.Snapshots[0].Name, snap.Name, "deadbeef"},
		Forget: []string{secondID, "0badc0de"}, Prune: true, SoleWriter: true,
	}))
	if res.Phase != result.PhaseSucceeded {
		t.Fatalf("snapshots Job failed: %s", res.Error)
	}
	if !slices.Equal(res.Forgotten, []string{restic.ShortID(secondID), "0badc0de"}) || !slices.Equal(res.Gone, []string{"deadbeef"}) || res.More {
		t.Errorf("forgotten %v, gone %v, more %v", res.Forgotten, res.Gone, res.More)
	}
	if len(res.Snapshots) != 1 || res.Snapshots[0].Hostname != "host-0" || len(res.Snapshots[0].Tags) != 0 ||
		res.Snapshots[0].Tree == "" || !slices.Equal(res.Snapshots[0].Paths, []string{file}) {
		t.Errorf("unknown snapshots %+v", res.Snapshots)
	}
	listed, err = repo.Snapshots(ctxT(t), tools)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(listed, func(s Snapshot) bool { return s.ID == secondID }) || len(listed) != 2 {
		t.Errorf("after the forget restic lists %+v", listed)
	}
	assertHealthy(t, repo)

	// Paging: with nothing known and room for one snapshot per run, two runs report both.
	one, err := result.Marshal(snapshotjob.Run(context.Background(), r, snapshotjob.Options{Known: []string{snap.Name}}))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	runs := 0
	for run := 0; run < 3; run++ {
		runs++
		res := viaTerminationMessage(t, snapshotjob.Run(context.Background(), r, snapshotjob.Options{Known: seen, Limit: len(one) + 40}))
		if res.Phase != result.PhaseSucceeded {
			t.Fatalf("page %d: %s", run, res.Error)
		}
		for _, s := range res.Snapshots {
			seen = append(seen, s.Name)
		}
		if !res.More {
			break
		}
	}
	if len(seen) != 2 || seen[0] == seen[1] || runs != 2 {
		t.Errorf("%d pages reported %v, want both snapshots in two pages", runs, seen)
	}

	// A repository that does not exist yet has no snapshots: everything known is gone.
	empty, err := restic.NewSetup(restic.Config{Provider: "local", Bucket: filepath.Join(t.TempDir(), "none"), SecretDir: repo.SecretDir})
	if err != nil {
		t.Fatal(err)
	}
	res = snapshotjob.Run(context.Background(), restic.New(empty, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir()}),
		snapshotjob.Options{Known: []string{"deadbeef"}})
	if res.Phase != result.PhaseSucceeded || !slices.Equal(res.Gone, []string{"deadbeef"}) {
		t.Errorf("missing repository: %+v", res)
	}
	if strings.Contains(res.Error, resticPassword) {
		t.Error("the password reached the result")
	}

	// 20,000 known snapshots, as the Job reads them from the operator's Secret, of which
	// restic has two: the gone ids come a page at a time, each within a termination message.
	known := []string{snap.Name, restic.ShortID(listed[0].ID), restic.ShortID(listed[1].ID)}
	for i := 0; len(known) < 20_000; i++ {
		known = append(known, fmt.Sprintf("f%07x", i))
	}
	packed, err := snapshotjob.EncodeKnown(known)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := snapshotjob.DecodeKnown(bytes.NewReader(packed))
	if err != nil || len(decoded) != len(slices.Compact(slices.Sorted(slices.Values(known)))) {
		t.Fatalf("%d known ids decode to %d (%v)", len(known), len(decoded), err)
	}
	res = viaTerminationMessage(t, snapshotjob.Run(context.Background(), r, snapshotjob.Options{Known: decoded}))
	if res.Phase != result.PhaseSucceeded || len(res.Gone) != 250 || !res.More || len(res.Snapshots) != 0 || slices.Contains(res.Gone, snap.Name) {
		t.Fatalf("first page of 20,000 known: phase %s (%s), %d gone, more %v, %d unknown", res.Phase, res.Error, len(res.Gone), res.More, len(res.Snapshots))
	}
	next := viaTerminationMessage(t, snapshotjob.Run(context.Background(), r, snapshotjob.Options{Known: slices.DeleteFunc(decoded, func(id string) bool { return slices.Contains(res.Gone, id) })}))
	if next.Phase != result.PhaseSucceeded || len(next.Gone) != 250 || !next.More || next.Gone[0] <= res.Gone[249] {
		t.Errorf("second page: phase %s, %d gone from %v, more %v", next.Phase, len(next.Gone), next.Gone[:min(1, len(next.Gone))], next.More)
	}
}

// viaTerminationMessage is what the operator reads of r: encoded within a termination
// message's limit, then parsed (which unpacks the page).
func viaTerminationMessage(t *testing.T, r *result.Result) *result.Result {
	t.Helper()
	b, err := result.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > result.MaxTerminationMessageBytes {
		t.Fatalf("result of %d bytes does not fit a termination message", len(b))
	}
	got, err := result.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
