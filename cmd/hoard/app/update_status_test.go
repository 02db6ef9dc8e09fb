package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/result"
)

func TestUpdateStatus(t *testing.T) {
	dir := t.TempDir()
	termLog := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(termLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	ok := &result.Result{Kind: result.KindBackup, Phase: result.PhaseSucceeded, Hostname: "host-0", Duration: "2s",
		Snapshots: []result.Snapshot{{Name: "abc123", Path: "dumpfile.sql"}}}
	if err := result.WriteFile(dir, ok); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := NewRootCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"update-status", "--output-dir=" + dir, "--termination-log=" + termLog,
		"--namespace=demo", "--backupsession=s-1", "--metrics-enabled=true", "--provider=gcs"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("update-status: %v", err)
	}
	if !strings.Contains(out.String(), "backup of host-0 succeeded in 2s, snapshot abc123") {
		t.Errorf("output %q", out.String())
	}
	msg, _ := os.ReadFile(termLog)
	if r, err := result.Parse(msg); err != nil || r.Snapshots[0].Name != "abc123" {
		t.Errorf("termination message %q: %v", msg, err)
	}

	failed := &result.Result{Kind: result.KindBackup, Phase: result.PhaseFailed, Hostname: "host-0", Error: "mysqldump exited with status 2"}
	if err := result.WriteFile(dir, failed); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := updateStatus(&out, dir, termLog); !errors.Is(err, errStepFailed) {
		t.Errorf("a failed step must fail update-status: %v", err)
	}
	if !strings.Contains(out.String(), "failed: mysqldump exited with status 2") {
		t.Errorf("output %q", out.String())
	}

	if err := updateStatus(&out, t.TempDir(), termLog); err == nil || !strings.Contains(err.Error(), "left no result") {
		t.Errorf("missing result: %v", err)
	}
}
