package datapath

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPointInTimeRecoveryStreaming: a shipping run that streams (--ship-every) ships the
// active binary log's whole transactions every second while rows are written, so an instant
// is recoverable seconds later, long before the server closes the file. A file the server
// closes during the stream is shipped whole, and the stream goes on with the next. The run
// keeps only the newest start of the active file; the next run ships the file whole and
// forgets that start. Recovery to instants in both files gives exactly the rows committed
// before them, before and after.
func TestPointInTimeRecoveryStreaming(t *testing.T) {
	src := pitrServer(t)
	repo, _ := localRepo(t)
	target := targetDir(t, src, DBPassword)
	w := startWriter(t, src, 10*time.Millisecond)
	mustSucceed(t, backup(t, repo, target))

	a := startStream(t, repo, target, 14*time.Second)
	time.Sleep(3 * time.Second)
	at1 := instant()
	waitInRepo(t, repo, a, at1)
	flushed := mustQuery(t, src, "SHOW MASTER STATUS")[0][0]
	mustExec(t, src, "FLUSH BINARY LOGS")
	time.Sleep(time.Second)
	at2 := instant()
	waitInRepo(t, repo, a, at2)
	run, err := a.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, run)
	shipped := strings.Count(run.Stderr, "partial=true")
	t.Logf("streamed: %d partial snapshots shipped", shipped)
	if shipped < 6 {
		t.Errorf("the run shipped %d starts of the active files in 14s at one a second, want at least 6\nstderr:\n%s", shipped, run.Stderr)
	}
	partials := binlogSnapshots(t, repo, "binlog-partial")
	if len(partials) != 1 || tagValue(partials[0].Tags, "binlog-file=") == flushed {
		t.Fatalf("after the run the repository holds partial snapshots %+v, want the newest of the file after %s only", partials, flushed)
	}
	active := tagValue(partials[0].Tags, "binlog-file=")
	if !shippedWhole(t, repo, flushed) {
		t.Fatalf("%s, closed during the stream, was not shipped whole", flushed)
	}

	recoverAt := func(name string, at time.Time) {
		t.Helper()
		scratch, rec := recoverTo(t, repo, at)
		mustSucceed(t, rec)
		want, got := rowSum(t, src, at), rowSum(t, scratch, time.Time{})
		t.Logf("%s: source rows before %s (count, checksum) %s; recovered %s", name, at.Format(time.RFC3339), want, got)
		if got != want {
			t.Fatalf("%s: recovery to %s gave %s, want %s\nstderr:\n%s", name, at.Format(time.RFC3339), got, want, rec.Stderr)
		}
	}
	recoverAt("in the file closed during the stream", at1)
	recoverAt("in the partial snapshot", at2)

	time.Sleep(time.Second)
	w.Stop(t)
	mustSucceed(t, shipBinlogs(t, repo, target))
	if p := binlogSnapshots(t, repo, "binlog-partial"); len(p) != 0 {
		t.Fatalf("partial snapshots %+v are kept after their file was shipped whole", p)
	}
	if !shippedWhole(t, repo, active) {
		t.Fatalf("%s, streamed before, was not shipped whole", active)
	}
	recoverAt("in the file shipped whole after it was streamed", at2)

	t.Run("a stream cut off ships what it copied, fails, and the next run goes on", func(t *testing.T) {
		w := startWriter(t, src, 10*time.Millisecond)
		a := startStream(t, repo, target, time.Minute)
		time.Sleep(2 * time.Second)
		at := instant()
		waitInRepo(t, repo, a, at)
		// The server ends the replica connection, as on a restart or a network fault.
		killed := 0
		for deadline := time.Now().Add(10 * time.Second); killed == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			for _, row := range mustQuery(t, src, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'") {
				mustExec(t, src, "KILL "+row[0])
				killed++
			}
		}
		if killed == 0 {
			t.Fatal("no replica connection of the stream was found")
		}
		run, err := a.Wait()
		if err != nil {
			t.Fatal(err)
		}
		mustFail(t, run, "binary log snapshot", "the binary log stream from the server ended")
		if run.Duration > 30*time.Second {
			t.Errorf("the run took %s: it did not end with its stream", run.Duration)
		}
		partials := binlogSnapshots(t, repo, "binlog-partial")
		if len(partials) != 1 || tagValue(partials[0].Tags, "binlog-last=") < at.Format(time.RFC3339) {
			t.Fatalf("after the cut, partial snapshots %+v, want one reaching %s", partials, at.Format(time.RFC3339))
		}
		time.Sleep(time.Second)
		w.Stop(t)
		next := shipBinlogs(t, repo, target)
		mustSucceed(t, next)
		if strings.Contains(next.Stderr, "gap") {
			t.Fatalf("the run after the cut found a gap:\n%s", next.Stderr)
		}
		recoverAt("before the cut", at)
	})
}

// startStream starts a shipping run that streams for the given time, shipping every second.
func startStream(t *testing.T, r *Repo, target string, streamFor time.Duration) *Addon {
	t.Helper()
	a, err := tools.StartAddon(filepath.Join(t.TempDir(), "out"),
		addonArgs(t, "backup-mysql", r, target, "--backup-mode=binlogs", "--ship-every=1s", "--stream-for="+streamFor.String())...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitInRepo waits until a partial snapshot holds a transaction stamped at or after at, while
// the streaming run a goes on; it fails the test when the run ends first.
func waitInRepo(t *testing.T, r *Repo, a *Addon, at time.Time) {
	t.Helper()
	for {
		out, err := r.Restic(ctxT(t), tools, "snapshots", "--json", "--no-lock", "--tag", "binlog-partial")
		if err != nil {
			t.Fatal(err)
		}
		var snaps []Snapshot
		if err := json.Unmarshal([]byte(out), &snaps); err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			if tagValue(s.Tags, "binlog-last=") >= at.Format(time.RFC3339) {
				t.Logf("%s was in the repository %s after it", at.Format(time.RFC3339), time.Since(at).Round(100*time.Millisecond))
				return
			}
		}
		if a.Cmd.ProcessState != nil || time.Since(at) > 20*time.Second {
			t.Fatalf("no partial snapshot reached %s while the run streamed", at.Format(time.RFC3339))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shippedWhole tells whether the repository holds binary log file whole.
func shippedWhole(t *testing.T, r *Repo, file string) bool {
	t.Helper()
	return slices.ContainsFunc(binlogSnapshots(t, r, "binlog"), func(s Snapshot) bool {
		return tagValue(s.Tags, "binlog-file=") == file && !slices.Contains(s.Tags, "binlog-partial")
	})
}

// binlogSnapshots are the repository's snapshots with tag.
func binlogSnapshots(t *testing.T, r *Repo, tag string) []Snapshot {
	t.Helper()
	var out []Snapshot
	for _, s := range snapshots(t, r) {
		if slices.Contains(s.Tags, tag) {
			out = append(out, s)
		}
	}
	return out
}

func tagValue(tags []string, prefix string) string {
	for _, tag := range tags {
		if v, ok := strings.CutPrefix(tag, prefix); ok {
			return v
		}
	}
	return ""
}
