package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/result"
)

// TestRestoreVerificationOnSnapshot: a verifying restore (param verify) puts its verdict on
// the Snapshot it restored; a restore that failed for another reason leaves the verdict as
// it was.
func TestRestoreVerificationOnSnapshot(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	f := newSessionFixture(t)
	seedSnapshots(t, f.ns, f.repository, result.Snapshot{Name: "abcd1234", ID: "abcd1234" + strings.Repeat("0", 56), Hostname: "host-0", Paths: []string{"/dumpfile.sql"}})
	name := f.repository + "-abcd1234"

	finish := func(session string, ok bool, res *result.Result) {
		t.Helper()
		rs := waitPhase(t, f.restoreSession(t, session, nil), rsPhase, "Running")
		job := waitJob(t, f.ns, "stash-restore-"+session)
		code, phase := int32(0), result.PhaseSucceeded
		if !ok {
			code, phase = 1, result.PhaseFailed
		}
		res.Kind, res.Phase, res.Hostname = result.KindRestore, phase, "host-0"
		msg := resultMessage(t, res)
		finishJob(t, job, ok, stepStatus{code, msg}, stepStatus{0, msg})
		want := "Succeeded"
		if !ok {
			want = "Failed"
		}
		waitPhase(t, rs, rsPhase, want)
	}
	verdict := func(phase, session, text string) {
		t.Helper()
		pollUntil(t, 20*time.Second, "the Snapshot's verification", func() error {
			s, err := getSnapshot(ctx, f.ns, name)
			if err != nil {
				return err
			}
			v := s.Status.Verification
			if v == nil || v.Phase != phase || v.Session != f.ns+"/"+session || v.Time == nil || !strings.Contains(v.Message, text) {
				return fmt.Errorf("verification %+v, want %s by %s saying %q", v, phase, session, text)
			}
			return nil
		})
	}

	finish("verify-good", true, &result.Result{Verification: &result.Verification{Snapshot: "abcd1234", Tables: 33, Compared: 3, Rows: 350}})
	verdict("Passed", "verify-good", "restored with the rows the backup recorded: 3 tables, 350 rows compared; the mysql schema's 30 tables are not compared")

	bad := "verification failed: 1 of 3 tables differ from what the backup recorded: `shop`.`orders`: 299 rows restored, 300 in the backup"
	finish("verify-bad", false, &result.Result{Error: bad, Verification: &result.Verification{Snapshot: "abcd1234", Tables: 33, Compared: 3, Rows: 350,
		MismatchCount: 1, Mismatches: []string{"`shop`.`orders`: 299 rows restored, 300 in the backup"}}})
	verdict("Failed", "verify-bad", "`shop`.`orders`: 299 rows restored")

	// The scratch server went away: no verdict, the last one stays.
	finish("verify-server-gone", false, &result.Result{Error: "verification stopped: counting the rows of `shop`.`orders`: invalid connection"})
	time.Sleep(2 * time.Second)
	verdict("Failed", "verify-bad", "`shop`.`orders`: 299 rows restored")
}
