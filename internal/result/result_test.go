package result

import (
	"fmt"
	"strings"
	"testing"
)

// A long error is shortened in its middle: the start (what happened to the snapshot) and the
// end (the tool's last message) both survive, and the message still parses.
func TestMarshalShortensTheMiddleOfALongError(t *testing.T) {
	head := "snapshot 4b2a9e1c was created and is kept, but applying the retention policy failed: "
	tail := "restic forget failed (exit code 11): repository is already locked by PID 7"
	r := &Result{Kind: KindBackup, Phase: PhaseFailed, Hostname: "host-0",
		Snapshots: []Snapshot{{Name: "4b2a9e1c", Path: "dumpfile.sql"}},
		Error:     head + strings.Repeat(`"quoted" détail `, 400) + tail}
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxTerminationMessageBytes {
		t.Fatalf("%d bytes, more than %d", len(b), MaxTerminationMessageBytes)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Error, head) || !strings.HasSuffix(got.Error, tail) || !strings.Contains(got.Error, elision) {
		t.Errorf("error %q lost its start or end", got.Error)
	}
	if len(got.Snapshots) != 1 || got.Snapshots[0].Name != "4b2a9e1c" {
		t.Errorf("snapshots %+v", got.Snapshots)
	}

	short := &Result{Kind: KindRestore, Phase: PhaseSucceeded}
	if b, err := Marshal(short); err != nil || strings.Contains(string(b), elision) {
		t.Errorf("short result: %s, %v", b, err)
	}
	huge := &Result{Kind: KindBackup, Phase: PhaseFailed, Error: strings.Repeat("x", 100)}
	for range 200 {
		huge.Snapshots = append(huge.Snapshots, Snapshot{Name: "4b2a9e1c", Path: "dumpfile.sql"})
	}
	if _, err := Marshal(huge); err == nil {
		t.Error("a result too large without its error must fail, not be cut")
	}
}

// TestMarshalForgottenOverflow: a retention run that forgot more snapshots than a
// termination message holds keeps the error whole, drops ids from the end and says so.
func TestMarshalForgottenOverflow(t *testing.T) {
	r := &Result{Kind: KindBackup, Phase: PhaseFailed, Error: "snapshot 4b2a9e1c was created and is kept, but verifying failed"}
	for i := 0; i < 1000; i++ {
		r.Forgotten = append(r.Forgotten, fmt.Sprintf("%08x", i))
	}
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxTerminationMessageBytes || got.Error != r.Error || !got.ForgottenIncomplete ||
		len(got.Forgotten) == 0 || len(got.Forgotten) >= 1000 || got.Forgotten[0] != "00000000" {
		t.Errorf("%d bytes, error %q, incomplete %v, %d ids", len(b), got.Error, got.ForgottenIncomplete, len(got.Forgotten))
	}
	if len(r.Forgotten) != 1000 {
		t.Errorf("Marshal changed its argument: %d ids", len(r.Forgotten))
	}
}
