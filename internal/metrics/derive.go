package metrics

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	opsv1alpha1 "github.com/hoard-operator/hoard/api/operations/v1alpha1"
	repov1alpha1 "github.com/hoard-operator/hoard/api/repositories/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/binlog"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/internal/schedule"
)

// descriptors are the stash_* gauges of the Stash metrics contract. They live in a struct, not
// in package variables, so that every Collector and pusher owns its set.
type descriptors struct {
	backupSessionSuccess, backupSessionDuration, backupLastSuccessTime, backupTargetCount *prometheus.Desc

	backupTargetSuccess, backupTargetHostCount, backupTargetLastSuccessTime *prometheus.Desc

	backupHostSuccess, backupHostDuration, backupHostDataSize, backupHostDataUploaded,
	backupHostProcessingTime, backupHostFilesTotal, backupHostFilesNew, backupHostFilesModified,
	backupHostFilesUnmodified *prometheus.Desc

	restoreSessionSuccess, restoreSessionDuration, restoreTargetCount *prometheus.Desc
	restoreTargetSuccess, restoreTargetHostCount                      *prometheus.Desc
	restoreHostSuccess, restoreHostDuration                           *prometheus.Desc

	repoIntegrity, repoSize, repoSnapshotCount, repoSnapshotCleaned *prometheus.Desc

	// Hoard's verification restores (design 0035): the verdict on the repository's most
	// recently verified snapshot, and when it was given.
	repoVerificationSuccess, repoVerificationTime *prometheus.Desc
	// Whether each BackupVerification can run (design 0038): one that cannot verifies
	// nothing, silently, unless this is watched.
	verificationReady *prometheus.Desc
	// Whether a target's shipped binary logs have a gap no later dump covers (design 0040):
	// the shipping session that found it failed, but the next one succeeds while the gap
	// stays.
	binlogGap *prometheus.Desc

	// Hoard's additions to the contract, for alerts: the schedule a configuration promises and
	// the start of the session running now.
	backupScheduleInterval, backupSessionStartTime *prometheus.Desc

	// names are the fully-qualified names of the descriptors above, in declaration order.
	names []string
}

func newDescriptors() *descriptors {
	// Label names as upstream Stash exported them, so that existing dashboards and alerts work.
	// Target metrics carry the target's labels too, as upstream's did: without them two
	// targets of one session would collide.
	sessionLabels := []string{"invoker_kind", "invoker_name", "namespace", "driver", "repository"}
	targetLabels := with(sessionLabels, "kind", "group", "name")
	hostLabels := with(targetLabels, "hostname")
	repoLabels := []string{"name", "namespace", "backend", "bucket", "prefix"}
	verificationLabels := []string{"name", "namespace", "invoker_name"}
	binlogLabels := []string{"repository", "namespace", "target"}
	var names []string
	d := func(subsystem, name, help string, labels []string) *prometheus.Desc {
		fq := prometheus.BuildFQName("stash", subsystem, name)
		names = append(names, fq)
		return prometheus.NewDesc(fq, help, labels, nil)
	}
	ds := &descriptors{
		backupSessionSuccess:  d("backup", "session_success", "1 when the latest finished backup session of the invoker succeeded, 0 when it failed.", sessionLabels),
		backupSessionDuration: d("backup", "session_duration_seconds", "How long the latest successful backup session took.", sessionLabels),
		backupLastSuccessTime: d("backup", "last_success_time_seconds", "Unix time at which the latest successful backup session finished.", sessionLabels),
		backupTargetCount:     d("backup", "target_count_total", "Number of targets the latest successful backup session backed up.", sessionLabels),

		backupTargetSuccess:         d("backup", "target_success", "1 when the backup of the target succeeded, 0 when it failed.", targetLabels),
		backupTargetHostCount:       d("backup", "target_host_count_total", "Number of hosts backed up for the target.", targetLabels),
		backupTargetLastSuccessTime: d("backup", "target_last_success_time_seconds", "Unix time at which the latest successful backup of the target finished.", targetLabels),

		backupHostSuccess:         d("backup", "host_backup_success", "1 when the backup of the host succeeded, 0 when it failed.", hostLabels),
		backupHostDuration:        d("backup", "host_backup_duration_seconds", "How long the backup of the host took.", hostLabels),
		backupHostDataSize:        d("backup", "host_data_size_bytes", "Size of the data backed up for the host.", hostLabels),
		backupHostDataUploaded:    d("backup", "host_data_uploaded_bytes", "Data uploaded to the repository for the host.", hostLabels),
		backupHostProcessingTime:  d("backup", "host_data_processing_time_seconds", "Time restic spent processing the host's data.", hostLabels),
		backupHostFilesTotal:      d("backup", "host_files_total", "Number of files in the host's snapshots.", hostLabels),
		backupHostFilesNew:        d("backup", "host_files_new", "Number of files new since the previous backup of the host.", hostLabels),
		backupHostFilesModified:   d("backup", "host_files_modified", "Number of files modified since the previous backup of the host.", hostLabels),
		backupHostFilesUnmodified: d("backup", "host_files_unmodified", "Number of files unchanged since the previous backup of the host.", hostLabels),

		restoreSessionSuccess:  d("restore", "session_success", "1 when the restore session succeeded, 0 when it failed.", sessionLabels),
		restoreSessionDuration: d("restore", "session_duration_seconds", "How long the successful restore session took.", sessionLabels),
		restoreTargetCount:     d("restore", "target_count_total", "Number of targets the successful restore session restored.", sessionLabels),
		restoreTargetSuccess:   d("restore", "target_success", "1 when the restore of the target succeeded, 0 when it failed.", targetLabels),
		restoreTargetHostCount: d("restore", "target_host_count_total", "Number of hosts restored for the target.", targetLabels),
		restoreHostSuccess:     d("restore", "host_restore_success", "1 when the restore of the host succeeded, 0 when it failed.", hostLabels),
		restoreHostDuration:    d("restore", "host_restore_duration_seconds", "How long the restore of the host took.", hostLabels),

		repoIntegrity:       d("repository", "integrity", "1 when the latest integrity check of the repository passed, 0 when it failed.", repoLabels),
		repoSize:            d("repository", "size_bytes", "Size of the repository's data.", repoLabels),
		repoSnapshotCount:   d("repository", "snapshot_count", "Number of snapshots in the repository.", repoLabels),
		repoSnapshotCleaned: d("repository", "snapshot_cleaned", "Number of snapshots the retention policy removed on its latest run.", repoLabels),

		repoVerificationSuccess: d("repository", "verification_success", "1 when the latest verification restore of a snapshot of the repository passed, 0 when it failed.", repoLabels),
		repoVerificationTime:    d("repository", "last_verification_time_seconds", "Unix time at which the latest verification restore of a snapshot of the repository ended.", repoLabels),
		verificationReady:       d("verification", "ready", "1 when the BackupVerification of the BackupConfiguration invoker_name can run its verifications, 0 when its Ready condition is False.", verificationLabels),
		binlogGap:               d("binlog", "gap", "1 while the target's shipped binary logs have a gap that no dump taken after it covers (times after the gap cannot be recovered), 0 when they have none; only for targets whose binary logs are shipped.", binlogLabels),

		backupScheduleInterval: d("backup", "schedule_interval_seconds", "Longest time between two scheduled backups of an unpaused BackupConfiguration.", sessionLabels),
		backupSessionStartTime: d("backup", "session_start_time_seconds", "Unix time at which the oldest unfinished backup session of the invoker was created.", sessionLabels),
	}
	ds.names = names
	return ds
}

// ExportedNames returns the name of every metric Hoard exports (on /metrics, and on the
// Pushgateway when one is configured), sorted. The dashboard and the alert rules are checked
// against it.
func ExportedNames() []string {
	names := append([]string(nil), newDescriptors().names...)
	sort.Strings(names)
	return names
}

func (d *descriptors) describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{
		d.backupSessionSuccess, d.backupSessionDuration, d.backupLastSuccessTime, d.backupTargetCount,
		d.backupTargetSuccess, d.backupTargetHostCount, d.backupTargetLastSuccessTime,
		d.backupHostSuccess, d.backupHostDuration, d.backupHostDataSize, d.backupHostDataUploaded,
		d.backupHostProcessingTime, d.backupHostFilesTotal, d.backupHostFilesNew, d.backupHostFilesModified,
		d.backupHostFilesUnmodified,
		d.restoreSessionSuccess, d.restoreSessionDuration, d.restoreTargetCount,
		d.restoreTargetSuccess, d.restoreTargetHostCount, d.restoreHostSuccess, d.restoreHostDuration,
		d.repoIntegrity, d.repoSize, d.repoSnapshotCount, d.repoSnapshotCleaned,
		d.repoVerificationSuccess, d.repoVerificationTime, d.verificationReady, d.binlogGap,
		d.backupScheduleInterval, d.backupSessionStartTime,
	} {
		ch <- desc
	}
}

// builder accumulates metrics and the status values that could not be turned into one. A
// malformed status string drops that one gauge, never the whole scrape.
type builder struct {
	d       *descriptors
	metrics []prometheus.Metric
	errs    []error
}

func (b *builder) gauge(desc *prometheus.Desc, v float64, labels []string) {
	b.metrics = append(b.metrics, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...))
}

// parsed sets desc from a status string when it parses, and records why when it does not.
func (b *builder) parsed(desc *prometheus.Desc, s string, parse func(string) (float64, error), labels []string, what string) {
	if s == "" {
		return
	}
	v, err := parse(s)
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("%s: %w", what, err))
		return
	}
	b.gauge(desc, v, labels)
}

func (b *builder) err() error { return errors.Join(b.errs...) }

func boolValue(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}

func with(labels []string, more ...string) []string {
	return append(append(make([]string, 0, len(labels)+len(more)), labels...), more...)
}

// targetRefLabels are the kind, group and name labels of a target.
func targetRefLabels(ref v1beta1.TargetRef) []string {
	group := ""
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil {
		group = gv.Group
	}
	return []string{ref.Kind, group, ref.Name}
}

// finishTime is when a session ended: the status has no completion time, but the session
// starts when it is created and records how long it ran.
func finishTime(created time.Time, duration string) time.Time {
	if d, err := time.ParseDuration(duration); err == nil && d > 0 {
		return created.Add(d)
	}
	return created
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// backupSession derives the session, target and host metrics of one finished BackupSession.
// bc is its invoker, or nil when that is gone; then driver and repository are empty.
func (b *builder) backupSession(bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration) {
	what := fmt.Sprintf("BackupSession %s/%s", bs.Namespace, bs.Name)
	session := sessionLabels(invokerOf(bs), bc)
	succeeded := bs.Status.Phase == v1beta1.BackupSessionSucceeded
	finished := unixSeconds(finishTime(bs.CreationTimestamp.Time, bs.Status.SessionDuration))

	b.gauge(b.d.backupSessionSuccess, boolValue(succeeded), session)
	if succeeded {
		b.parsed(b.d.backupSessionDuration, bs.Status.SessionDuration, ParseSeconds, session, what+" sessionDuration")
		b.gauge(b.d.backupLastSuccessTime, finished, session)
		b.gauge(b.d.backupTargetCount, float64(len(bs.Status.Targets)), session)
	}

	for _, t := range bs.Status.Targets {
		target := with(session, targetRefLabels(t.Ref)...)
		ok := t.Phase == v1beta1.TargetBackupSucceeded
		b.gauge(b.d.backupTargetSuccess, boolValue(ok), target)
		if ok {
			hosts := float64(len(t.Stats))
			if t.TotalHosts != nil {
				hosts = float64(*t.TotalHosts)
			}
			b.gauge(b.d.backupTargetHostCount, hosts, target)
			b.gauge(b.d.backupTargetLastSuccessTime, finished, target)
		}
		for _, h := range t.Stats {
			b.backupHost(h, with(target, h.Hostname), fmt.Sprintf("%s host %q", what, h.Hostname))
		}
	}
}

// sessionLabels are the labels of the session-level gauges of an invoker. bc is the invoker,
// or nil when that is gone; then driver and repository are empty.
func sessionLabels(k invokerKey, bc *v1beta1.BackupConfiguration) []string {
	driver, repo := "", ""
	if bc != nil {
		driver = string(bc.Spec.Driver)
		if driver == "" {
			driver = string(v1beta1.ResticSnapshotter)
		}
		// A VolumeSnapshotter backup writes no restic repository.
		if driver == string(v1beta1.ResticSnapshotter) {
			repo = bc.Spec.Repository.Name
		}
	}
	return []string{k.kind, k.name, k.namespace, driver, repo}
}

// lastSuccess reports when bs, the newest successful session of an invoker whose newest
// finished session failed, finished: the time an overdue alert counts from. The Pushgateway
// keeps it across failures too, because a failed session's push leaves it alone.
func (b *builder) lastSuccess(bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration) {
	b.gauge(b.d.backupLastSuccessTime, unixSeconds(finishTime(bs.CreationTimestamp.Time, bs.Status.SessionDuration)),
		sessionLabels(invokerOf(bs), bc))
}

// backupConfiguration reports the schedule interval of a scheduled, unpaused configuration:
// a paused one promises no backups, so nothing can be overdue.
func (b *builder) backupConfiguration(bc *v1beta1.BackupConfiguration) {
	if bc.Spec.Paused || bc.Spec.Schedule == "" {
		return
	}
	labels := sessionLabels(invokerKey{bc.Namespace, "BackupConfiguration", bc.Name}, bc)
	interval, err := schedule.Interval(bc.Spec.Schedule)
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("BackupConfiguration %s/%s schedule: %w", bc.Namespace, bc.Name, err))
		return
	}
	b.gauge(b.d.backupScheduleInterval, interval.Seconds(), labels)
}

// runningSession reports when bs, the oldest unfinished session of an invoker, was created.
func (b *builder) runningSession(bs *v1beta1.BackupSession, bc *v1beta1.BackupConfiguration) {
	b.gauge(b.d.backupSessionStartTime, unixSeconds(bs.CreationTimestamp.Time), sessionLabels(invokerOf(bs), bc))
}

func hostSucceeded(phase v1beta1.HostPhase, errMsg string) bool {
	// An empty phase without an error comes from objects written by older upstream versions,
	// which reported only the error.
	return errMsg == "" && (phase == v1beta1.HostSucceeded || phase == "")
}

func (b *builder) backupHost(h v1beta1.HostBackupStats, labels []string, what string) {
	ok := hostSucceeded(h.Phase, h.Error)
	b.gauge(b.d.backupHostSuccess, boolValue(ok), labels)
	if !ok {
		return
	}
	b.parsed(b.d.backupHostDuration, h.Duration, ParseSeconds, labels, what+" duration")
	if len(h.Snapshots) == 0 {
		return
	}
	// A host may have several snapshots (one per path); upstream reported their sums.
	var sizes, uploads, times []string
	var files [4]*float64
	for _, s := range h.Snapshots {
		sizes = append(sizes, s.TotalSize)
		uploads = append(uploads, s.Uploaded)
		times = append(times, s.ProcessingTime)
		for i, n := range []*int64{s.FileStats.TotalFiles, s.FileStats.NewFiles, s.FileStats.ModifiedFiles, s.FileStats.UnmodifiedFiles} {
			if n == nil {
				continue
			}
			if files[i] == nil {
				files[i] = new(float64)
			}
			*files[i] += float64(*n)
		}
	}
	b.sum(b.d.backupHostDataSize, sizes, ParseBytes, labels, what+" totalSize")
	b.sum(b.d.backupHostDataUploaded, uploads, ParseBytes, labels, what+" uploaded")
	b.sum(b.d.backupHostProcessingTime, times, ParseSeconds, labels, what+" processingTime")
	for i, desc := range []*prometheus.Desc{b.d.backupHostFilesTotal, b.d.backupHostFilesNew, b.d.backupHostFilesModified, b.d.backupHostFilesUnmodified} {
		if files[i] != nil {
			b.gauge(desc, *files[i], labels)
		}
	}
}

// sum sets desc to the sum of the values in ss. Empty strings are skipped and nothing is set
// when all are empty; one malformed value drops the gauge, because a partial sum is wrong.
func (b *builder) sum(desc *prometheus.Desc, ss []string, parse func(string) (float64, error), labels []string, what string) {
	var total float64
	set := false
	for _, s := range ss {
		if s == "" {
			continue
		}
		v, err := parse(s)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: %w", what, err))
			return
		}
		total += v
		set = true
	}
	if set {
		b.gauge(desc, total, labels)
	}
}

// restoreSession derives the metrics of one finished RestoreSession; a RestoreSession is its
// own invoker.
func (b *builder) restoreSession(rs *v1beta1.RestoreSession) {
	driver := string(rs.Spec.Driver)
	if driver == "" {
		driver = string(v1beta1.ResticSnapshotter)
	}
	what := fmt.Sprintf("RestoreSession %s/%s", rs.Namespace, rs.Name)
	session := []string{"RestoreSession", rs.Name, rs.Namespace, driver, rs.Spec.Repository.Name}
	succeeded := rs.Status.Phase == v1beta1.RestoreSucceeded

	b.gauge(b.d.restoreSessionSuccess, boolValue(succeeded), session)
	if succeeded {
		b.parsed(b.d.restoreSessionDuration, rs.Status.SessionDuration, ParseSeconds, session, what+" sessionDuration")
		targets := 0
		if rs.Spec.Target != nil {
			targets = 1
		}
		b.gauge(b.d.restoreTargetCount, float64(targets), session)
	}
	if rs.Spec.Target == nil {
		return
	}
	// A RestoreSession has one target and no per-target phase: the session's is the target's.
	target := with(session, targetRefLabels(rs.Spec.Target.Ref)...)
	b.gauge(b.d.restoreTargetSuccess, boolValue(succeeded), target)
	if succeeded {
		hosts := float64(len(rs.Status.Stats))
		if rs.Status.TotalHosts != nil {
			hosts = float64(*rs.Status.TotalHosts)
		}
		b.gauge(b.d.restoreTargetHostCount, hosts, target)
	}
	for _, h := range rs.Status.Stats {
		labels := with(target, h.Hostname)
		ok := hostSucceeded(h.Phase, h.Error)
		b.gauge(b.d.restoreHostSuccess, boolValue(ok), labels)
		if ok {
			b.parsed(b.d.restoreHostDuration, h.Duration, ParseSeconds, labels, fmt.Sprintf("%s host %q duration", what, h.Hostname))
		}
	}
}

// backendLabels returns the backend, bucket and prefix labels of a Repository, with the same
// meaning as the REPOSITORY_PROVIDER/BUCKET/PREFIX variables a Job receives (one mapping:
// location.Backend). A REST URL that does not parse still gives its backend.
func backendLabels(b v1alpha1.Backend) (backend, bucket, prefix string) {
	info, err := location.Backend(&b)
	if err != nil {
		return info.Provider, "", ""
	}
	return info.Provider, info.Bucket, info.Prefix
}

// repository derives the metrics of one Repository from its status.
func (b *builder) repository(r *v1alpha1.Repository, verified *repov1alpha1.SnapshotVerification) {
	backend, bucket, prefix := backendLabels(r.Spec.Backend)
	labels := []string{r.Name, r.Namespace, backend, bucket, prefix}
	// No verification yet is no gauge: 0 would claim a failed one.
	if verified != nil {
		b.gauge(b.d.repoVerificationSuccess, boolValue(verified.Phase == repov1alpha1.VerificationPassed), labels)
		b.gauge(b.d.repoVerificationTime, float64(verified.Time.Unix()), labels)
	}
	// Integrity is unknown until the first check; 0 would claim a failed check.
	if r.Status.Integrity != nil {
		b.gauge(b.d.repoIntegrity, boolValue(*r.Status.Integrity), labels)
	}
	b.parsed(b.d.repoSize, r.Status.TotalSize, ParseBytes, labels, fmt.Sprintf("Repository %s/%s totalSize", r.Namespace, r.Name))
	b.gauge(b.d.repoSnapshotCount, float64(r.Status.SnapshotCount), labels)
	b.gauge(b.d.repoSnapshotCleaned, float64(r.Status.SnapshotsRemovedOnLastCleanup), labels)
}

func backupFinished(p v1beta1.BackupSessionPhase) bool {
	return p == v1beta1.BackupSessionSucceeded || p == v1beta1.BackupSessionFailed
}

// backupUnfinished is true for a session that has not ended yet: Skipped and Unknown sessions
// never run.
func backupUnfinished(p v1beta1.BackupSessionPhase) bool {
	return p == "" || p == v1beta1.BackupSessionPending || p == v1beta1.BackupSessionRunning
}

func restoreFinished(p v1beta1.RestorePhase) bool {
	return p == v1beta1.RestoreSucceeded || p == v1beta1.RestoreFailed
}

// invokerKey identifies the invoker of a BackupSession.
type invokerKey struct{ namespace, kind, name string }

func invokerOf(bs *v1beta1.BackupSession) invokerKey {
	return invokerKey{bs.Namespace, bs.Spec.Invoker.Kind, bs.Spec.Invoker.Name}
}

// newer orders sessions by creation, then by name: the name ends with the trigger's Unix time,
// which breaks ties between sessions created within the same second.
func newer(a, b *v1beta1.BackupSession) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	return a.Name > b.Name
}

// newest returns, for each invoker, its session whose phase keep accepts and that no other such
// session is before, sorted by namespace and name for a stable output.
func newest(sessions []v1beta1.BackupSession, keep func(v1beta1.BackupSessionPhase) bool, before func(a, b *v1beta1.BackupSession) bool) []*v1beta1.BackupSession {
	best := map[invokerKey]*v1beta1.BackupSession{}
	for i := range sessions {
		bs := &sessions[i]
		if !keep(bs.Status.Phase) {
			continue
		}
		k := invokerOf(bs)
		if cur, ok := best[k]; !ok || before(bs, cur) {
			best[k] = bs
		}
	}
	out := make([]*v1beta1.BackupSession, 0, len(best))
	for _, bs := range best {
		out = append(out, bs)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// latestFinished returns the newest Succeeded or Failed session of each invoker. Running,
// Pending and Skipped sessions never replace a finished one: the metrics describe the last
// outcome.
func latestFinished(sessions []v1beta1.BackupSession) []*v1beta1.BackupSession {
	return newest(sessions, backupFinished, newer)
}

// latestSucceeded returns the newest Succeeded session of each invoker.
func latestSucceeded(sessions []v1beta1.BackupSession) []*v1beta1.BackupSession {
	return newest(sessions, func(p v1beta1.BackupSessionPhase) bool { return p == v1beta1.BackupSessionSucceeded }, newer)
}

// oldestUnfinished returns the oldest Pending or Running session of each invoker.
func oldestUnfinished(sessions []v1beta1.BackupSession) []*v1beta1.BackupSession {
	return newest(sessions, backupUnfinished, func(a, b *v1beta1.BackupSession) bool { return newer(b, a) })
}

// latestVerifications is the most recent verification of each Repository's snapshots, by the
// Repository's namespace and name. A verification without a time is not counted.
func latestVerifications(snaps []repov1alpha1.Snapshot) map[[2]string]*repov1alpha1.SnapshotVerification {
	out := map[[2]string]*repov1alpha1.SnapshotVerification{}
	for i := range snaps {
		s := &snaps[i]
		v := s.Status.Verification
		if v == nil || v.Time == nil || s.Status.Repository == "" {
			continue
		}
		key := [2]string{s.Namespace, s.Status.Repository}
		if cur, ok := out[key]; !ok || v.Time.After(cur.Time.Time) {
			out[key] = v
		}
	}
	return out
}

// backupVerification derives whether a BackupVerification can run. One not yet reconciled has
// no condition and no gauge: 0 would claim a fault.
func (b *builder) backupVerification(bv *opsv1alpha1.BackupVerification) {
	c := meta.FindStatusCondition(bv.Status.Conditions, opsv1alpha1.ConditionVerificationReady)
	if c == nil || c.Status == metav1.ConditionUnknown {
		return
	}
	b.gauge(b.d.verificationReady, boolValue(c.Status == metav1.ConditionTrue), []string{bv.Name, bv.Namespace, bv.Spec.BackupConfiguration})
}

// binlogKey is a target whose binary logs are shipped into a Repository.
type binlogKey struct{ repository, namespace, target string }

// binlogGaps tells, for each target whose binary logs are shipped, whether a gap is open: the
// newest file shipped after a gap is newer than the target's newest dump. A dump taken after
// the gap starts a chain again, so later times are recoverable.
func binlogGaps(snaps []repov1alpha1.Snapshot) map[binlogKey]bool {
	lastGap, lastDump := map[binlogKey]time.Time{}, map[binlogKey]time.Time{}
	for i := range snaps {
		s := &snaps[i].Status
		if s.Target == "" || s.Repository == "" || s.Time == nil {
			continue
		}
		key := binlogKey{s.Repository, snaps[i].Namespace, s.Target}
		b, isBinlog := binlog.FromTags(s.Tags)
		switch {
		case isBinlog:
			if _, ok := lastGap[key]; !ok {
				lastGap[key] = time.Time{}
			}
			if b.Gap && s.Time.After(lastGap[key]) {
				lastGap[key] = s.Time.Time
			}
		case s.Time.After(lastDump[key]):
			lastDump[key] = s.Time.Time
		}
	}
	out := make(map[binlogKey]bool, len(lastGap))
	for key, gap := range lastGap {
		out[key] = !gap.IsZero() && gap.After(lastDump[key])
	}
	return out
}
