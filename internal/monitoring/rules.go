// Package monitoring defines Hoard's Prometheus alert rules and Grafana dashboard, and renders
// them for config/, the hoard chart and docs/runbooks.md (hack/gen-monitoring writes them;
// `make check-monitoring` fails when a written copy is stale).
package monitoring

import (
	"fmt"
	"strings"
)

// RunbookBase is where each alert's runbook_url points: the runbook's section, by the alert's
// name in lower case.
const RunbookBase = "https://github.com/hoard-operator/hoard/blob/main/docs/runbooks.md"

// Params are the tunable numbers of the rules, as PromQL literals: numbers in config/, Helm
// expressions in the chart.
type Params struct {
	// OverdueFactor: HoardBackupOverdue fires when no backup has succeeded for this many
	// schedule intervals.
	OverdueFactor string
	// LongRunningFactor: HoardBackupSessionRunningLong fires when a session has run this many
	// times longer than the longest successful session of the last week...
	LongRunningFactor string
	// LongRunningMinimumSeconds: ...and longer than this, which is also the limit for an
	// invoker without a successful session to compare with.
	LongRunningMinimumSeconds string
}

// DefaultParams are the values config/ ships and the chart defaults to.
func DefaultParams() Params {
	return Params{OverdueFactor: "2", LongRunningFactor: "3", LongRunningMinimumSeconds: "900"}
}

// Alert is one alerting rule and its runbook.
type Alert struct {
	Name     string
	Expr     string
	For      string
	Severity string
	// Summary and Description are Prometheus templates ($labels, $value).
	Summary, Description string
	// Meaning says what the alert means, for the README and the runbook.
	Meaning string
	// Steps are the runbook: what to look at and do, in order.
	Steps []string
}

// RunbookURL is the alert's section in docs/runbooks.md.
func (a Alert) RunbookURL() string { return RunbookBase + "#" + strings.ToLower(a.Name) }

// invoker is the label set that names a backup invoker in every session-level metric.
const invoker = "namespace, invoker_kind, invoker_name"

// Alerts returns Hoard's alerts in the order they are documented.
func Alerts(p Params) []Alert {
	sessions := "kubectl get backupsession -n {{ $labels.namespace }} -l stash.appscode.com/invoker-name={{ $labels.invoker_name }} --sort-by=.metadata.creationTimestamp"
	return []Alert{{
		Name:     "HoardBackupFailed",
		Expr:     "max by (" + invoker + ") (stash_backup_session_success) == 0",
		For:      "0m",
		Severity: "warning",
		Summary:  "Backup {{ $labels.namespace }}/{{ $labels.invoker_name }} failed",
		Description: "The latest finished BackupSession of {{ $labels.invoker_kind }} {{ $labels.namespace }}/{{ $labels.invoker_name }} failed. " +
			"The alert stays until a backup succeeds.",
		Meaning: "The newest finished BackupSession of a BackupConfiguration failed (stash_backup_session_success is 0). It resolves when the next backup succeeds.",
		Steps: []string{
			"List the sessions: `" + sessions + "`.",
			"Read why the newest failed one failed: the reason is in its `status.conditions` and each host's `status.targets[].stats[].error` (`kubectl get backupsession -n {{ $labels.namespace }} <session> -o yaml`).",
			"Look at its Job's logs: `kubectl logs -n {{ $labels.namespace }} job/stash-backup-<session>`.",
			"Fix the cause (credentials, the database, the repository's backend), then run a backup now (`hoard trigger --namespace {{ $labels.namespace }} --backupconfiguration {{ $labels.invoker_name }}`) or wait for the schedule; the alert resolves when one succeeds.",
		},
	}, {
		Name: "HoardBackupOverdue",
		Expr: "(\n  time() - max by (" + invoker + ") (stash_backup_last_success_time_seconds)\n)\n" +
			"> on (" + invoker + ")\n" +
			"  " + p.OverdueFactor + " * max by (" + invoker + ") (stash_backup_schedule_interval_seconds)",
		For:      "5m",
		Severity: "critical",
		Summary:  "No successful backup of {{ $labels.namespace }}/{{ $labels.invoker_name }} for {{ $value | humanizeDuration }}",
		Description: "{{ $labels.invoker_kind }} {{ $labels.namespace }}/{{ $labels.invoker_name }} last backed up successfully " +
			"{{ $value | humanizeDuration }} ago, more than " + p.OverdueFactor + " times its schedule's interval.",
		Meaning: "An unpaused, scheduled BackupConfiguration has had no successful backup for more than the configured multiple of its schedule's longest interval " +
			"(time() − stash_backup_last_success_time_seconds against stash_backup_schedule_interval_seconds). Failed sessions, sessions that never start and a CronJob that never fires all end here. " +
			"A configuration that has never succeeded has no last success time: HoardBackupFailed covers it once a session fails.",
		Steps: []string{
			"Is the configuration running at all? `kubectl get backupconfiguration -n {{ $labels.namespace }} {{ $labels.invoker_name }}` shows Paused, its schedule and its conditions; `kubectl get cronjob -n {{ $labels.namespace }} stash-trigger-{{ $labels.invoker_name }}` shows the CronJob's last schedule time.",
			"List the sessions: `" + sessions + "`. Skipped sessions mean one of the same configuration was still running or waiting; Pending ones wait for another Job of the same repository; Failed ones: follow HoardBackupFailed.",
			"If no session was created since the last success, check the operator's logs (`kubectl logs -n hoard-system deploy/hoard`, or `deploy/hoard-controller-manager` when installed from config/) and the Jobs of the CronJob `stash-trigger-{{ $labels.invoker_name }}`.",
			"Run a backup now (`hoard trigger --namespace {{ $labels.namespace }} --backupconfiguration {{ $labels.invoker_name }}`); the alert resolves once one succeeds.",
		},
	}, {
		Name:     "HoardRepositoryIntegrityFailed",
		Expr:     "max by (namespace, name) (stash_repository_integrity) == 0",
		For:      "0m",
		Severity: "critical",
		Summary:  "Repository {{ $labels.namespace }}/{{ $labels.name }} failed its integrity check",
		Description: "The latest restic check of Repository {{ $labels.namespace }}/{{ $labels.name }} failed: " +
			"its snapshots may not restore.",
		Meaning: "The latest integrity check (restic check) of a Repository failed (stash_repository_integrity is 0): some snapshots may not restore. It resolves when a later check passes.",
		Steps: []string{
			"Read the Repository's status and events: `kubectl describe repository -n {{ $labels.namespace }} {{ $labels.name }}`.",
			"Find the check's output in the log of the latest backup Job that verified the repository (the `VerifyRepositoryIntegrity` post-backup action).",
			"Do not prune or forget until the cause is known. With the backend's credentials, run `restic check --read-data` against the repository to see which packs are damaged; `restic repair index` and `restic repair snapshots` fix what they can.",
			"Take a fresh backup once the repository checks clean; the next successful check resolves the alert.",
		},
	}, {
		Name:     "HoardSnapshotVerificationFailed",
		Expr:     "max by (namespace, name) (stash_repository_verification_success) == 0",
		For:      "0m",
		Severity: "critical",
		Summary:  "A snapshot of Repository {{ $labels.namespace }}/{{ $labels.name }} failed its verification restore",
		Description: "The latest verification restore of a snapshot of Repository {{ $labels.namespace }}/{{ $labels.name }} failed: " +
			"the snapshot did not restore to what its backup recorded.",
		Meaning: "The most recent verification restore (a RestoreSession with the param verify) of a snapshot of a Repository failed (stash_repository_verification_success is 0): " +
			"the snapshot did not load, or a table did not hold the rows its backup recorded. It resolves when a later verification of the Repository passes.",
		Steps: []string{
			"Find the snapshot and why: `kubectl get snapshots -n {{ $labels.namespace }} -l repository={{ $labels.name }} -o custom-columns=NAME:.metadata.name,VERIFIED:.status.verification.phase,SESSION:.status.verification.session,MESSAGE:.status.verification.message`.",
			"Read the verifying RestoreSession and its Job's log (`kubectl logs -n <namespace> job/stash-restore-<session>`): the message names the tables that differ, or the dump line that failed to load.",
			"Until the cause is known, keep the older snapshots: do not delete Snapshots, and do not make the retention policy keep fewer.",
			"Verify an older snapshot and the next backup; a passing verification resolves the alert. If backups keep failing verification, check the source (tables changed while mysqldump ran without --single-transaction, a non-InnoDB engine) and the repository (`restic check --read-data`).",
		},
	}, {
		Name:     "HoardBackupVerificationNotReady",
		Expr:     "max by (namespace, name) (stash_verification_ready) == 0",
		For:      "15m",
		Severity: "warning",
		Summary:  "BackupVerification {{ $labels.namespace }}/{{ $labels.name }} cannot verify backups",
		Description: "BackupVerification {{ $labels.namespace }}/{{ $labels.name }} has been not Ready for 15 minutes: " +
			"the backups of its BackupConfiguration are not being verified.",
		Meaning: "A BackupVerification's Ready condition is False (stash_verification_ready is 0): its BackupConfiguration, the restore Task or the scratch target is missing, " +
			"or the scratch AppBinding reaches the source database. It starts no verification until that is mended, so no snapshot is proven to restore.",
		Steps: []string{
			"Read why: `kubectl get backupverification -n {{ $labels.namespace }} {{ $labels.name }} -o jsonpath='{.status.conditions[?(@.type==\"Ready\")]}'` (reason and message).",
			"Mend what it names: create or rename the BackupConfiguration or the restore Task (or set `spec.task`), or point `spec.scratch.appBinding` at a scratch server that is not the source (`ScratchIsSource`).",
			"The condition turns True at the next reconcile, the alert resolves, and the newest backup is verified at once (or at the next `spec.schedule` time).",
		},
	}, {
		Name:     "HoardBinlogGap",
		Expr:     "max by (namespace, repository, target) (stash_binlog_gap) == 1",
		For:      "0m",
		Severity: "warning",
		Summary:  "Binary logs of {{ $labels.target }} have a gap",
		Description: "The binary logs of {{ $labels.target }} shipped into Repository {{ $labels.namespace }}/{{ $labels.repository }} have a gap, and no dump was taken after it: " +
			"point-in-time recovery to a time after the gap is not possible.",
		Meaning: "A shipping run found a binary log that does not start where the last shipped one ended (stash_binlog_gap is 1): the logs between were purged before they were shipped, or the server's binary logs were reset. " +
			"Times in the gap can never be recovered, and times after it only from a dump taken after it. The shipping session that found it failed; later ones succeed, so this alert is what stays.",
		Steps: []string{
			"Read the failed shipping session's message: `kubectl get backupsessions -n {{ $labels.namespace }}` and `kubectl get backupsession -n {{ $labels.namespace }} <name> -o jsonpath='{.status.conditions}'` (the times that cannot be recovered).",
			"Take a full backup now (trigger the dump BackupConfiguration of the target): the alert resolves when its snapshot appears, and times after it are recoverable again.",
			"Prevent the next one: keep binary logs longer than the shipping interval (`binlog_expire_logs_seconds`), and do not `RESET MASTER` or purge logs by hand on a shipped server.",
		},
	}, {
		Name:     "HoardRestoreFailed",
		Expr:     "max by (" + invoker + ") (stash_restore_session_success) == 0",
		For:      "0m",
		Severity: "warning",
		Summary:  "Restore {{ $labels.namespace }}/{{ $labels.invoker_name }} failed",
		Description: "RestoreSession {{ $labels.namespace }}/{{ $labels.invoker_name }} failed. " +
			"The alert stays while the failed RestoreSession exists.",
		Meaning: "A RestoreSession failed (stash_restore_session_success is 0). A RestoreSession runs once, so the alert stays until the failed RestoreSession is deleted.",
		Steps: []string{
			"Read why: `kubectl get restoresession -n {{ $labels.namespace }} {{ $labels.invoker_name }} -o yaml` (`status.conditions`, `status.stats[].error`).",
			"Look at its Job's logs: `kubectl logs -n {{ $labels.namespace }} job/stash-restore-{{ $labels.invoker_name }}`.",
			"Fix the cause (the target database, the snapshot named in `spec.rules`, credentials), then delete the RestoreSession, which resolves the alert, and create a new one to restore again.",
		},
	}, {
		Name: "HoardBackupSessionRunningLong",
		Expr: "(\n  time() - max by (" + invoker + ") (stash_backup_session_start_time_seconds)\n)\n" +
			"> on (" + invoker + ")\n" +
			"(\n" +
			"  clamp_min(" + p.LongRunningFactor + " * max by (" + invoker + ") (max_over_time(stash_backup_session_duration_seconds[7d])), " + p.LongRunningMinimumSeconds + ")\n" +
			"  or on (" + invoker + ")\n" +
			"  (0 * max by (" + invoker + ") (stash_backup_session_start_time_seconds) + " + p.LongRunningMinimumSeconds + ")\n" +
			")",
		For:      "0m",
		Severity: "warning",
		Summary:  "Backup session of {{ $labels.namespace }}/{{ $labels.invoker_name }} running for {{ $value | humanizeDuration }}",
		Description: "A BackupSession of {{ $labels.invoker_kind }} {{ $labels.namespace }}/{{ $labels.invoker_name }} has been unfinished for " +
			"{{ $value | humanizeDuration }}: longer than " + p.LongRunningFactor + " times its longest successful session of the last week, and than " + p.LongRunningMinimumSeconds + " s.",
		Meaning: "A BackupSession has been Pending or Running for longer than the configured multiple of the longest successful session of the same configuration in the last 7 days " +
			"(and at least the configured minimum; with no successful session to compare with, longer than that minimum).",
		Steps: []string{
			"Find the session: `" + sessions + "`; its `status.conditions` say what it waits for.",
			"A Pending session waits for the repository: another session or Job of the same repository holds it. `kubectl get jobs -n {{ $labels.namespace }}` shows which.",
			"A Running session: look at its Job's pod (`kubectl get pods -n {{ $labels.namespace }} -l job-name=stash-backup-<session>`), its events and logs. A slow dump of a larger database is normal; a stuck pod is not.",
			"Sessions fail by themselves after their timeout (the chart's `sessionTimeout` or the session's `spec.timeOut`); HoardBackupFailed then fires.",
		},
	}}
}

// renderGroups writes the rule groups, at indentation 0, in the Prometheus rule file format.
// escape is applied to the Prometheus templates in summaries and descriptions (Helm would
// otherwise read them as its own).
func renderGroups(alerts []Alert, escape func(string) string) string {
	var b strings.Builder
	b.WriteString("groups:\n- name: hoard.rules\n  rules:\n")
	for _, a := range alerts {
		fmt.Fprintf(&b, "  - alert: %s\n", a.Name)
		b.WriteString("    expr: |-\n")
		for _, l := range strings.Split(a.Expr, "\n") {
			fmt.Fprintf(&b, "      %s\n", l)
		}
		fmt.Fprintf(&b, "    for: %s\n", a.For)
		fmt.Fprintf(&b, "    labels:\n      severity: %s\n", a.Severity)
		b.WriteString("    annotations:\n")
		fmt.Fprintf(&b, "      summary: %s\n", quote(escape(a.Summary)))
		fmt.Fprintf(&b, "      description: %s\n", quote(escape(a.Description)))
		fmt.Fprintf(&b, "      runbook: %s\n", quote(escape(strings.Join(numbered(a.Steps), " "))))
		fmt.Fprintf(&b, "      runbook_url: %s\n", quote(a.RunbookURL()))
	}
	return b.String()
}

func numbered(steps []string) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = fmt.Sprintf("%d. %s", i+1, s)
	}
	return out
}

// quote writes s as a YAML double-quoted scalar.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func noEscape(s string) string { return s }

// helmEscape hides Prometheus's {{ ... }} from Helm: {{`{{ ... }}`}} renders as {{ ... }}.
func helmEscape(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("{{`" + s[i:i+j+2] + "`}}")
		s = s[i+j+2:]
	}
}
