package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stashv1beta1 "github.com/hoard-operator/hoard/api/stash/v1beta1"
)

// report is what one read of a followed session says: lines worth printing (progress,
// conditions), whether it has finished, and how (err is nil on success).
type report struct {
	lines []string
	done  bool
	err   error
}

// follower prints each line of a session's reports once, in order, until it finishes.
type follower struct {
	out  io.Writer
	seen map[string]bool
}

func (f *follower) print(r report) error {
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	for _, l := range r.lines {
		if f.seen[l] {
			continue
		}
		f.seen[l] = true
		if _, err := fmt.Fprintln(f.out, l); err != nil {
			return err
		}
	}
	return nil
}

// follow reads the session every interval until it finishes or timeout passes.
func follow(ctx context.Context, out io.Writer, what string, interval, timeout time.Duration, read func(context.Context) (report, error)) error {
	f := &follower{out: out}
	deadline := time.Now().Add(timeout)
	for {
		r, err := read(ctx)
		if err != nil {
			return err
		}
		if err := f.print(r); err != nil {
			return err
		}
		if r.done {
			return r.err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has not finished after %s: it goes on in the cluster; `kubectl hoard debug %s` shows where it is", what, timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w while waiting; it goes on in the cluster", what, errCanceled)
		case <-time.After(interval):
		}
	}
}

// conditionLines describes each condition, so that a change prints a new line.
func conditionLines(conds []metav1.Condition) []string {
	var lines []string
	for _, c := range conds {
		l := fmt.Sprintf("  %s=%s", c.Type, c.Status)
		if c.Reason != "" {
			l += " (" + c.Reason + ")"
		}
		if c.Message != "" {
			l += ": " + c.Message
		}
		lines = append(lines, l)
	}
	return lines
}

// falseConditions are the messages of the conditions that failed, for a failure's one line.
func falseConditions(conds []metav1.Condition) []string {
	var msgs []string
	for _, c := range conds {
		if c.Status == metav1.ConditionFalse {
			msgs = append(msgs, c.Type+": "+firstNonEmpty(c.Message, c.Reason))
		}
	}
	return msgs
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// backupReport describes a BackupSession: its phase, progress and conditions while it runs,
// its snapshots when it succeeded, why when it failed or was skipped.
func backupReport(bs *stashv1beta1.BackupSession) report {
	name := "BackupSession " + bs.Namespace + "/" + bs.Name
	phase := bs.Status.Phase
	if phase == "" {
		phase = stashv1beta1.BackupSessionPending
	}
	r := report{lines: []string{name + ": " + string(phase)}}
	r.lines = append(r.lines, conditionLines(bs.Status.Conditions)...)
	if p := bs.Status.Progress; p != nil && phase == stashv1beta1.BackupSessionRunning {
		l := "  uploaded " + humanBytes(p.BytesDone)
		if p.TotalBytes > 0 {
			l += " of " + humanBytes(p.TotalBytes)
		}
		if p.Percent != nil {
			l += fmt.Sprintf(" (%d%%)", *p.Percent)
		}
		r.lines = append(r.lines, l)
	}
	var hostErrs []string
	for _, t := range bs.Status.Targets {
		for _, h := range t.Stats {
			if h.Error != "" {
				hostErrs = append(hostErrs, h.Hostname+": "+h.Error)
			}
			for _, s := range h.Snapshots {
				if phase == stashv1beta1.BackupSessionSucceeded {
					r.lines = append(r.lines, fmt.Sprintf("  snapshot %s of %s (host %s): %s, %s uploaded, took %s",
						s.Name, t.Ref.Name, h.Hostname, s.TotalSize, firstNonEmpty(s.Uploaded, "0 B"), firstNonEmpty(s.ProcessingTime, h.Duration)))
				}
			}
		}
	}
	switch phase {
	case stashv1beta1.BackupSessionSucceeded:
		r.done = true
		r.lines = append(r.lines, fmt.Sprintf("%s succeeded in %s", name, firstNonEmpty(bs.Status.SessionDuration, "?")))
	case stashv1beta1.BackupSessionFailed, stashv1beta1.BackupSessionUnknown:
		r.done = true
		why := append(hostErrs, falseConditions(bs.Status.Conditions)...)
		r.err = fmt.Errorf("%s %s: %s; `kubectl hoard debug backupsession/%s -n %s` shows its Job, pod and logs",
			name, strings.ToLower(string(phase)), firstNonEmpty(strings.Join(why, "; "), "no reason recorded"), bs.Name, bs.Namespace)
	case stashv1beta1.BackupSessionSkipped:
		r.done = true
		r.err = fmt.Errorf("%s was skipped: %s; trigger again when it has finished",
			name, firstNonEmpty(strings.Join(skipReasons(bs.Status.Conditions), "; "), "another session of the configuration was running"))
	}
	return r
}

func skipReasons(conds []metav1.Condition) []string {
	var msgs []string
	for _, c := range conds {
		if c.Message != "" && (c.Status == metav1.ConditionFalse || strings.Contains(strings.ToLower(c.Reason), "skip")) {
			msgs = append(msgs, c.Message)
		}
	}
	return msgs
}

// restoreReport describes a RestoreSession the same way.
func restoreReport(rs *stashv1beta1.RestoreSession) report {
	name := "RestoreSession " + rs.Namespace + "/" + rs.Name
	phase := rs.Status.Phase
	if phase == "" {
		phase = stashv1beta1.RestorePending
	}
	r := report{lines: []string{name + ": " + string(phase)}}
	r.lines = append(r.lines, conditionLines(rs.Status.Conditions)...)
	var hostErrs []string
	for _, h := range rs.Status.Stats {
		if h.Error != "" {
			hostErrs = append(hostErrs, h.Hostname+": "+h.Error)
		}
	}
	switch phase {
	case stashv1beta1.RestoreSucceeded:
		r.done = true
		r.lines = append(r.lines, fmt.Sprintf("%s succeeded in %s", name, firstNonEmpty(rs.Status.SessionDuration, "?")))
	case stashv1beta1.RestoreFailed, stashv1beta1.RestoreUnknown:
		r.done = true
		why := append(hostErrs, falseConditions(rs.Status.Conditions)...)
		r.err = fmt.Errorf("%s %s: %s; `kubectl hoard debug restoresession/%s -n %s` shows its Job, pod and logs",
			name, strings.ToLower(string(phase)), firstNonEmpty(strings.Join(why, "; "), "no reason recorded"), rs.Name, rs.Namespace)
	}
	return r
}

// humanBytes prints a size in binary units, as restic does.
func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
