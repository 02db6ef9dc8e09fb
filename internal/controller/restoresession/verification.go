package restoresession

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/dependency"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/internal/snapshot"
)

// recordVerification puts the verdict of a verifying restore (the param verify) on the
// Snapshot it restored: passed, or failed with the session's message, which names the
// tables. A restore that failed for another reason (the scratch server or the storage)
// carries no verdict and changes nothing.
func (r *Reconciler) recordVerification(ctx context.Context, rs *v1beta1.RestoreSession, ok bool, msg string, res *result.Result) error {
	if res == nil || res.Verification == nil || res.Verification.Snapshot == "" || rs.Spec.Repository.Name == "" {
		return nil
	}
	repo := &v1alpha1.Repository{}
	if err := r.Client.Get(ctx, rs.Spec.Repository.Key(rs.Namespace), repo); err != nil {
		return client.IgnoreNotFound(err)
	}
	// A Repository of another namespace, and so its Snapshots, is written only while it
	// allows the session's namespace.
	if allowed, err := dependency.AllowedNow(ctx, r.Client, repo, rs.Namespace); err != nil || !allowed {
		return err
	}
	v := &repov1alpha1.SnapshotVerification{Phase: repov1alpha1.VerificationFailed, Time: &metav1.Time{Time: r.Now()},
		Session: rs.Namespace + "/" + rs.Name, Message: msg}
	if ok {
		v.Phase = repov1alpha1.VerificationPassed
		v.Message = describeVerification(res.Verification)
	}
	if err := snapshot.RecordVerification(ctx, r.Client, repo, res.Verification.Snapshot, v); err != nil {
		return fmt.Errorf("the restore finished but its verification was not recorded: %w", err)
	}
	return nil
}

// describeVerification says what a passed verification checked.
func describeVerification(v *result.Verification) string {
	msg := "restored; the dump carries no record of its rows (written by upstream Stash or an older Hoard), so the tables were not counted"
	if !v.NoRecord {
		msg = fmt.Sprintf("restored with the rows the backup recorded: %d tables, %d rows compared", v.Compared, v.Rows)
		if n := v.Tables - v.Compared; n > 0 {
			msg += fmt.Sprintf("; the mysql schema's %d tables are not compared", n)
		}
	}
	switch {
	case v.Checksums > 0:
		msg += fmt.Sprintf("; rows' checksums match for %d tables", v.Checksums)
	case v.ChecksumsSkipped != "":
		msg += "; rows' checksums not compared: " + v.ChecksumsSkipped
	}
	if v.Assertions > 0 {
		msg += fmt.Sprintf("; SQL assertions held: %d", v.Assertions)
	}
	return msg
}

// describeRecovery says what a point-in-time restore replayed after the dump.
func describeRecovery(rc *result.Recovery) string {
	files := rc.First
	if rc.Binlogs > 1 {
		files = fmt.Sprintf("%d binary logs, %s…%s", rc.Binlogs, rc.First, rc.Last)
	}
	to := rc.Until
	if rc.GTID != "" {
		to = "GTID " + rc.GTID
	}
	return fmt.Sprintf("%s: replayed %s from position %s", to, files, rc.From)
}
