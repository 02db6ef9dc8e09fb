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
	b, got := roundTrip(t, r)
	if len(b) > MaxTerminationMessageBytes || got.Error != r.Error || !got.ForgottenIncomplete ||
		len(got.Forgotten) == 0 || len(got.Forgotten) >= 1000 || got.Forgotten[0] != "00000000" {
		t.Errorf("%d bytes, error %q, incomplete %v, %d ids", len(b), got.Error, got.ForgottenIncomplete, len(got.Forgotten))
	}
	if len(r.Forgotten) != 1000 {
		t.Errorf("Marshal changed its argument: %d ids", len(r.Forgotten))
	}
}

// TestMarshalLoadFailure: a restore engine's failure keeps its line, table and counts; the
// table lists go before the error is cut, as the error names the tables too.
func TestMarshalLoadFailure(t *testing.T) {
	name := func(i int) string { return fmt.Sprintf("`%s`.`t%d`", strings.Repeat("d", 64), i) }
	l := &LoadFailure{Line: 2574, Table: name(0), TablesCompleted: 999}
	for i := range MaxLoadTables {
		l.Completed = append(l.Completed, name(i+1))
		l.PartlyLoaded = append(l.PartlyLoaded, name(i+20))
	}
	r := &Result{Kind: KindRestore, Phase: PhaseFailed, Error: "ERROR 1062 (23000) at line 2574: Duplicate entry " + strings.Repeat("x", 2900), Load: l}
	b, got := roundTrip(t, r)
	if got.Error != r.Error || got.Load == nil || got.Load.Line != 2574 || got.Load.Table != l.Table || got.Load.TablesCompleted != 999 {
		t.Fatalf("result %+v, load %+v", got, got.Load)
	}
	if len(b) > MaxTerminationMessageBytes {
		t.Fatalf("%d bytes", len(b))
	}
	if got.Load.Completed != nil || got.Load.PartlyLoaded != nil {
		t.Errorf("the lists were kept and the error cut: %+v", got.Load)
	}
	small := &Result{Kind: KindRestore, Phase: PhaseFailed, Error: "x", Load: &LoadFailure{Line: 3, TablesCompleted: 1, Completed: []string{"`a`.`b`"}, PartlyLoaded: []string{"`a`.`c`"}}}
	if b, got := roundTrip(t, small); len(got.Load.Completed) != 1 || len(got.Load.PartlyLoaded) != 1 {
		t.Errorf("small load failure: %s", b)
	}
}

// TestMarshalVerification: a failed verification's tables go before its error is cut (the
// error names them too), its counts stay, and its messages are scrubbed without changing the
// caller's result.
func TestMarshalVerification(t *testing.T) {
	name := func(i int) string {
		return fmt.Sprintf("`%s`.`%s%d`: 1 rows restored, 2 in the backup", strings.Repeat("d", 64), strings.Repeat("t", 60), i)
	}
	v := &Verification{Snapshot: "abcd1234", Tables: 40, Compared: 30, Rows: 9000, MismatchCount: 12}
	for i := range MaxLoadTables {
		v.Mismatches = append(v.Mismatches, name(i))
	}
	r := &Result{Kind: KindRestore, Phase: PhaseFailed, Error: "verification failed: " + strings.Join(v.Mismatches, "; ") + strings.Repeat(" ", 1000), Verification: v}
	b, got := roundTrip(t, r)
	if len(b) > MaxTerminationMessageBytes || got.Error != r.Error || got.Verification == nil || got.Verification.Mismatches != nil ||
		got.Verification.MismatchCount != 12 || got.Verification.Compared != 30 || got.Verification.Snapshot != "abcd1234" {
		t.Fatalf("%d bytes: %+v, verification %+v", len(b), got, got.Verification)
	}
	if len(r.Verification.Mismatches) != MaxLoadTables {
		t.Errorf("Marshal changed the caller's verification: %+v", r.Verification)
	}

	secret := &Result{Kind: KindRestore, Phase: PhaseFailed, Error: "x", Verification: &Verification{
		Mismatches: []string{"`a`.`b`: not restored (Access denied for user 'root'@'10.0.0.1' (using password: YES) mysql://root:hunter2@db)"}}}
	if b, _ = roundTrip(t, secret); strings.Contains(string(b), "hunter2") {
		t.Errorf("a password in a mismatch was not scrubbed: %s", b)
	}
}

// roundTrip marshals r as a Job does and parses it as the operator does.
func roundTrip(t *testing.T, r *Result) ([]byte, *Result) {
	t.Helper()
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, got
}
