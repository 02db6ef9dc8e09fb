package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/controller"
	"github.com/hoard-operator/hoard/internal/manager"
)

// The metrics test runs the operator exactly as `hoard run` wires it (internal/manager.New)
// with /metrics on a free port and a real Prometheus Pushgateway, then checks what a
// Prometheus would scrape from both.

// metricsFreeAddr returns a loopback address with a port that was free a moment ago.
func metricsFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startPushgateway runs the Debian prometheus-pushgateway binary (installed by
// `make pushgateway-bin`, a prerequisite of test-integration) and returns its base URL.
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HOARD_PUSHGATEWAY")
	if bin == "" {
		bin = "/usr/bin/prometheus-pushgateway"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Pushgateway binary %s: %v (run `make pushgateway-bin`, or set HOARD_PUSHGATEWAY)", bin, err)
	}
	addr := metricsFreeAddr(t)
	var logs bytes.Buffer
	// An empty persistence file keeps the Debian default (/var/lib/prometheus) out of the test.
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--persistence.file=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Pushgateway: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("Pushgateway output:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	pollUntil(t, 30*time.Second, "Pushgateway ready", func() error {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("Pushgateway exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
	return url
}

// startMetricsOperator starts the operator's manager with /metrics on metricsAddr and pushes
// to pushgatewayURL, and stops it when the test ends.
func startMetricsOperator(t *testing.T, metricsAddr, pushgatewayURL string) {
	t.Helper()
	mgr, err := manager.New(cfg, manager.Options{
		MetricsAddr: metricsAddr,
		ProbeAddr:   "0",
		Controllers: controller.Options{
			OperatorImage:  testOperatorImage,
			PushgatewayURL: pushgatewayURL,
			SessionTimeout: time.Hour,
		},
	})
	if err != nil {
		t.Fatalf("create manager: %v", err)
	}
	runManager(t, mgr)
}

// metricFamilies scrapes a Prometheus text endpoint.
func metricFamilies(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return fams, nil
}

// sampleValue returns the value of the one sample of name whose labels are exactly want
// (plus, for the Pushgateway, its job and instance labels when ignored lists them).
func sampleValue(fams map[string]*dto.MetricFamily, name string, want map[string]string, ignored ...string) (float64, error) {
	mf, ok := fams[name]
	if !ok {
		return 0, fmt.Errorf("no metric %s", name)
	}
	var seen []string
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for _, k := range ignored {
			delete(got, k)
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return m.GetGauge().GetValue(), nil
		}
		seen = append(seen, fmt.Sprint(got))
	}
	sort.Strings(seen)
	return 0, fmt.Errorf("no %s%v among %d series: %s", name, want, len(seen), strings.Join(seen, "; "))
}

func labels(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// labelSets names the label sets of the expectations, to keep the tables short.
type labelSets map[string]map[string]string

// wantSamples polls url until every expected sample (metric name → label-set name → value)
// has its value. ignored labels (the Pushgateway's job and instance) are not compared.
func wantSamples(t *testing.T, url, what string, sets labelSets, want map[string]map[string]float64, ignored ...string) {
	t.Helper()
	pollUntil(t, 30*time.Second, what, func() error {
		fams, err := metricFamilies(url)
		if err != nil {
			return err
		}
		var errs []error
		for name, byLabels := range want {
			for key, v := range byLabels {
				got, err := sampleValue(fams, name, sets[key], ignored...)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if math.Abs(got-v) > 1e-6*math.Max(1, math.Abs(v)) {
					errs = append(errs, fmt.Errorf("%s%v = %v, want %v", name, sets[key], got, v))
				}
			}
		}
		return errors.Join(errs...)
	})
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	pushgateway := startPushgateway(t)

	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-"}}
	if err := k8sClient.Create(ctx, nsObj); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	ns := nsObj.Name

	// What the controllers would have written by now: a configuration with two finished
	// sessions (an older failure, then a success), a finished restore and the Repository's
	// status after the backup. Written before the operator starts so no controller races
	// the test's status writes.
	mustCreateMetricsObj := func(o client.Object) {
		t.Helper()
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	writeStatus := func(o client.Object) {
		t.Helper()
		if err := k8sClient.Status().Update(ctx, o); err != nil {
			t.Fatalf("update status of %T %s: %v", o, o.GetName(), err)
		}
	}
	target := v1beta1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "sample-mysql"}

	repo := &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3-repo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			StorageSecretName: "s3-secret",
			S3:                &v1alpha1.S3Spec{Endpoint: "s3.amazonaws.com", Bucket: "stash-demo", Prefix: "/demo/mysql"},
		}},
	}
	mustCreateMetricsObj(repo)

	mustCreateMetricsObj(&v1beta1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mysql-bc"},
		Spec: v1beta1.BackupConfigurationSpec{
			Schedule:   "*/5 * * * *",
			Repository: v1beta1.RepositoryRef{Name: "s3-repo"},
			// No such Task: a session the operator starts for this configuration fails.
			Task:   v1beta1.TaskRef{Name: "no-such-task"},
			Target: &v1beta1.BackupTarget{Ref: target},
			// Keep every session: history pruning must not remove what the test looks at.
			BackupHistoryLimit: ptr.To[int32](10),
		},
	})

	newSession := func(name string) *v1beta1.BackupSession {
		bs := &v1beta1.BackupSession{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
				v1beta1.LabelInvokerType: "BackupConfiguration", v1beta1.LabelInvokerName: "mysql-bc",
			}},
			Spec: v1beta1.BackupSessionSpec{Invoker: v1beta1.BackupInvokerRef{APIGroup: "stash.appscode.com", Kind: "BackupConfiguration", Name: "mysql-bc"}},
		}
		mustCreateMetricsObj(bs)
		return bs
	}
	older := newSession("mysql-bc-1700000000")
	older.Status = v1beta1.BackupSessionStatus{
		Phase: v1beta1.BackupSessionFailed, SessionDuration: "3s",
		Targets: []v1beta1.BackupTargetStatus{{Ref: target, TotalHosts: ptr.To[int32](1), Phase: v1beta1.TargetBackupFailed,
			Stats: []v1beta1.HostBackupStats{{Hostname: "host-0", Phase: v1beta1.HostFailed, Error: "access denied"}}}},
	}
	writeStatus(older)
	// Creation timestamps have one-second resolution; within one second the operator orders
	// sessions by name, whose suffix is the trigger time, as `hoard trigger` names them.
	latest := newSession("mysql-bc-1700000300")
	latest.Status = v1beta1.BackupSessionStatus{
		Phase: v1beta1.BackupSessionSucceeded, SessionDuration: "20.5s",
		Targets: []v1beta1.BackupTargetStatus{{
			Ref: target, TotalHosts: ptr.To[int32](1), Phase: v1beta1.TargetBackupSucceeded,
			PreBackupActions:  []string{"InitializeBackendRepository"},
			PostBackupActions: []string{"ApplyRetentionPolicy", "VerifyRepositoryIntegrity", "SendRepositoryMetrics"},
			Stats: []v1beta1.HostBackupStats{{
				Hostname: "host-0", Phase: v1beta1.HostSucceeded, Duration: "12.25s",
				Snapshots: []v1beta1.SnapshotStats{{
					Name: "4fa1b2c3", Path: "dumpfile.sql", TotalSize: "6.500 MiB", Uploaded: "1.500 KiB", ProcessingTime: "3.5s",
					FileStats: v1beta1.FileStats{TotalFiles: ptr.To[int64](1), NewFiles: ptr.To[int64](0), ModifiedFiles: ptr.To[int64](1), UnmodifiedFiles: ptr.To[int64](0)},
				}},
			}},
		}},
	}
	writeStatus(latest)
	// The session controller records the backup in the Repository right after the session.
	repo.Status = v1alpha1.RepositoryStatus{
		Integrity: ptr.To(true), TotalSize: "1.500 GiB", SnapshotCount: 3, SnapshotsRemovedOnLastCleanup: 1,
		LastBackupTime: ptr.To(metav1.NewTime(time.Now().Truncate(time.Second))),
	}
	writeStatus(repo)
	finished := float64(latest.CreationTimestamp.Unix()) + 20.5

	restore := &v1beta1.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore"},
		Spec: v1beta1.RestoreSessionSpec{
			Task:       v1beta1.TaskRef{Name: "no-such-task"},
			Repository: v1beta1.RepositoryRef{Name: "s3-repo"},
			Target:     &v1beta1.RestoreTarget{Ref: target},
			Rules:      []v1beta1.Rule{{Snapshots: []string{"latest"}}},
		},
	}
	mustCreateMetricsObj(restore)
	restore.Status = v1beta1.RestoreSessionStatus{
		Phase: v1beta1.RestoreSucceeded, TotalHosts: ptr.To[int32](1), SessionDuration: "1m30s",
		Stats: []v1beta1.HostRestoreStats{{Hostname: "host-0", Phase: v1beta1.HostSucceeded, Duration: "1m20s"}},
	}
	writeStatus(restore)

	session := map[string]string{"invoker_kind": "BackupConfiguration", "invoker_name": "mysql-bc", "namespace": ns, "driver": "Restic", "repository": "s3-repo"}
	targetL := labels(session, "kind", "AppBinding", "group", "appcatalog.appscode.com", "name", "sample-mysql")
	restoreL := map[string]string{"invoker_kind": "RestoreSession", "invoker_name": "restore", "namespace": ns, "driver": "Restic", "repository": "s3-repo"}
	restoreTarget := labels(restoreL, "kind", "AppBinding", "group", "appcatalog.appscode.com", "name", "sample-mysql")
	sets := labelSets{
		"session": session, "target": targetL, "host": labels(targetL, "hostname", "host-0"),
		"restore": restoreL, "restoreTarget": restoreTarget, "restoreHost": labels(restoreTarget, "hostname", "host-0"),
		"repo": {"name": "s3-repo", "namespace": ns, "backend": "s3", "bucket": "stash-demo", "prefix": "/demo/mysql"},
	}
	backupWant := map[string]map[string]float64{
		"stash_backup_session_success":                   {"session": 1},
		"stash_backup_session_duration_seconds":          {"session": 20.5},
		"stash_backup_last_success_time_seconds":         {"session": finished},
		"stash_backup_target_count_total":                {"session": 1},
		"stash_backup_target_success":                    {"target": 1},
		"stash_backup_target_host_count_total":           {"target": 1},
		"stash_backup_target_last_success_time_seconds":  {"target": finished},
		"stash_backup_host_backup_success":               {"host": 1},
		"stash_backup_host_backup_duration_seconds":      {"host": 12.25},
		"stash_backup_host_data_size_bytes":              {"host": 6.5 * (1 << 20)},
		"stash_backup_host_data_uploaded_bytes":          {"host": 1536},
		"stash_backup_host_data_processing_time_seconds": {"host": 3.5},
		"stash_backup_host_files_total":                  {"host": 1},
		"stash_backup_host_files_new":                    {"host": 0},
		"stash_backup_host_files_modified":               {"host": 1},
		"stash_backup_host_files_unmodified":             {"host": 0},
	}
	restoreWant := map[string]map[string]float64{
		"stash_restore_session_success":               {"restore": 1},
		"stash_restore_session_duration_seconds":      {"restore": 90},
		"stash_restore_target_count_total":            {"restore": 1},
		"stash_restore_target_success":                {"restoreTarget": 1},
		"stash_restore_target_host_count_total":       {"restoreTarget": 1},
		"stash_restore_host_restore_success":          {"restoreHost": 1},
		"stash_restore_host_restore_duration_seconds": {"restoreHost": 80},
	}
	repoWant := map[string]map[string]float64{
		"stash_repository_integrity":        {"repo": 1},
		"stash_repository_size_bytes":       {"repo": 1.5 * (1 << 30)},
		"stash_repository_snapshot_count":   {"repo": 3},
		"stash_repository_snapshot_cleaned": {"repo": 1},
	}

	metricsAddr := metricsFreeAddr(t)
	startMetricsOperator(t, metricsAddr, pushgateway)
	metricsURL := "http://" + metricsAddr + "/metrics"
	pushedURL := pushgateway + "/metrics"
	// The Pushgateway adds job and instance to every pushed series.
	pushed := []string{"job", "instance"}

	t.Run("operator /metrics", func(t *testing.T) {
		wantSamples(t, metricsURL, "session metrics on /metrics", sets, backupWant)
		wantSamples(t, metricsURL, "restore metrics on /metrics", sets, restoreWant)
		wantSamples(t, metricsURL, "repository metrics on /metrics", sets, repoWant)
		// Only the operator knows the schedule: "*/5 * * * *" promises a backup every 300 s.
		wantSamples(t, metricsURL, "the schedule interval on /metrics", sets,
			map[string]map[string]float64{"stash_backup_schedule_interval_seconds": {"session": 300}})
		// controller-runtime's own health metrics are served next to them.
		fams, err := metricFamilies(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"controller_runtime_reconcile_total", "controller_runtime_active_workers", "workqueue_depth"} {
			if _, ok := fams[name]; !ok {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if _, err := sampleValue(fams, "controller_runtime_reconcile_total", map[string]string{"controller": "backupsession-metrics", "result": "success"}); err != nil {
			t.Errorf("the metrics pusher's reconciles are not counted: %v", err)
		}
	})

	t.Run("Pushgateway", func(t *testing.T) {
		// The operator pushes the latest finished session of each invoker once it sees it;
		// the older failed session must not overwrite it.
		wantSamples(t, pushedURL, "backup session metrics on the Pushgateway", sets, backupWant, pushed...)
		wantSamples(t, pushedURL, "restore session metrics on the Pushgateway", sets, restoreWant, pushed...)
		fams, err := metricFamilies(pushedURL)
		if err != nil {
			t.Fatal(err)
		}
		wantJob := func(name string, l map[string]string, job string) {
			t.Helper()
			if _, err := sampleValue(fams, name, labels(l, "job", job, "instance", "")); err != nil {
				t.Errorf("not under job %s: %v", job, err)
			}
		}
		backupJob := "backupconfiguration-" + ns + "-mysql-bc"
		restoreJob := "restoresession-" + ns + "-restore"
		wantJob("stash_backup_session_success", session, backupJob)
		wantJob("stash_backup_host_data_size_bytes", sets["host"], backupJob)
		wantJob("stash_repository_snapshot_count", sets["repo"], backupJob)
		wantJob("stash_restore_session_success", restoreL, restoreJob)
		wantJob("stash_repository_integrity", sets["repo"], restoreJob)
	})

	t.Run("a session finishing while the operator runs is pushed", func(t *testing.T) {
		// The operator starts this session and fails it (its Task does not exist). The test
		// also writes Failed itself, so it does not depend on how the session controller
		// words the failure; both writes agree.
		bs := newSession(fmt.Sprintf("mysql-bc-%d", time.Now().Unix()))
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(bs), bs); err != nil {
				return err
			}
			if bs.Status.Phase == v1beta1.BackupSessionFailed {
				return nil
			}
			bs.Status.Phase = v1beta1.BackupSessionFailed
			return k8sClient.Status().Update(ctx, bs)
		}); err != nil {
			t.Fatalf("fail the session: %v", err)
		}

		failed := map[string]map[string]float64{"stash_backup_session_success": {"session": 0}}
		wantSamples(t, metricsURL, "the failure on /metrics", sets, failed)
		wantSamples(t, pushedURL, "the failure on the Pushgateway", sets, failed, pushed...)
		// A failure sets only *_success: the Pushgateway keeps the last success time, which
		// upstream dashboards use to alert on backups that are overdue.
		wantSamples(t, pushedURL, "the last success time kept on the Pushgateway", sets,
			map[string]map[string]float64{"stash_backup_last_success_time_seconds": {"session": finished}}, pushed...)
		// /metrics keeps it as well, so an overdue alert counts from the last success whichever
		// it reads.
		wantSamples(t, metricsURL, "the last success time kept on /metrics", sets,
			map[string]map[string]float64{"stash_backup_last_success_time_seconds": {"session": finished}})
		fams, err := metricFamilies(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sampleValue(fams, "stash_backup_session_duration_seconds", session); err == nil {
			t.Errorf("/metrics still reports a duration for an invoker whose latest session failed")
		}
	})
}
