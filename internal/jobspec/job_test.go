package jobspec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/hoard-operator/hoard/api/stash/v1alpha1"
	"github.com/hoard-operator/hoard/api/stash/v1beta1"
	"github.com/hoard-operator/hoard/internal/location"
	"github.com/hoard-operator/hoard/test/tasksfile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// upstreamFunctions are the MySQL Functions as the addon chart ships them (tasks/), plus
// upstream Stash's update-status step, which upstream-shaped Tasks name and Hoard drops.
func upstreamFunctions() map[string]*v1beta1.Function {
	out := map[string]*v1beta1.Function{}
	for _, name := range []string{"mysql-backup-8.0.21", "mysql-restore-8.0.21"} {
		fn, err := tasksfile.Function(name)
		if err != nil {
			panic(err)
		}
		out[name] = fn
	}
	mount := []corev1.VolumeMount{{Name: "${secretVolume}", MountPath: "/etc/repository/secret"}}
	out["update-status"] = &v1beta1.Function{ObjectMeta: metav1.ObjectMeta{Name: "update-status"}, Spec: v1beta1.FunctionSpec{
		Image: "ghcr.io/hoard-operator/hoard:dev", VolumeMounts: mount, Args: []string{
			"update-status", "--namespace=${NAMESPACE:=default}", "--backupsession=${BACKUP_SESSION:=}",
			"--restoresession=${RESTORE_SESSION:=}", "--repository=${REPOSITORY_NAME:=}",
			"--invoker-kind=${INVOKER_KIND:=}", "--invoker-name=${INVOKER_NAME:=}",
			"--target-kind=${TARGET_KIND:=}", "--target-name=${TARGET_NAME:=}", "--output-dir=${outputDir:=}",
		}}}
	return out
}

func upstreamTask(name, step string) *v1beta1.Task {
	params := []v1beta1.Param{{Name: "outputDir", Value: "/tmp/output"}, {Name: "secretVolume", Value: "secret-volume"}}
	return &v1beta1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1beta1.TaskSpec{
			Steps: []v1beta1.FunctionRef{{Name: step, Params: params}, {Name: "update-status", Params: params}},
			Volumes: []corev1.Volume{{Name: "secret-volume", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: "${REPOSITORY_SECRET_NAME}"}}}},
		},
	}
}

func gcsRepository() *v1alpha1.Repository {
	return &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "gcs-repo", Namespace: "demo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			StorageSecretName: "gcs-secret",
			GCS:               &v1alpha1.GCSSpec{Bucket: "appscode-qa", Prefix: "/demo/mysql/sample-mysql", MaxConnections: 4},
		}},
	}
}

func backupInput() *Input {
	return &Input{
		Kind:        KindBackup,
		Namespace:   "demo",
		SessionName: "sample-mysql-backup-1561974001",
		Invoker:     Invoker{Kind: "BackupConfiguration", Name: "sample-mysql-backup"},
		Task:        upstreamTask("mysql-backup-8.0.21", "mysql-backup-8.0.21"),
		Functions:   upstreamFunctions(),
		Repository:  gcsRepository(),
		Target: Target{Ref: v1beta1.TargetRef{
			APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: "AppBinding", Name: "sample-mysql"}},
		RetentionPolicy:       v1alpha1.RetentionPolicy{Name: "keep-last-5", KeepLast: 5, KeepTags: []string{"a", "b"}, Prune: true},
		ScheduleInterval:      90 * time.Minute,
		TargetSecretName:      "stash-backup-sample-mysql-backup-1561974001-target",
		PushgatewayURL:        "http://hoard-pushgateway.hoard-system.svc:9091",
		ActiveDeadlineSeconds: 3600,
		LocationKey:           "5f0c8e2d9a7b6c4e1d3f",
		SoleWriter:            true,
		RuntimeSettings: v1beta1.RuntimeSettings{Container: &v1beta1.ContainerRuntimeSettings{
			Nice:   &v1beta1.NiceSettings{Adjustment: ptr.To(int32(5))},
			IONice: &v1beta1.IONiceSettings{Class: ptr.To(int32(2)), ClassData: ptr.To(int32(4))},
		}},
	}
}

func restoreInput() *Input {
	in := backupInput()
	in.Kind = KindRestore
	in.SessionName = "sample-mysql-restore"
	in.Invoker = Invoker{Kind: "RestoreSession", Name: "sample-mysql-restore"}
	in.Task = upstreamTask("mysql-restore-8.0.21", "mysql-restore-8.0.21")
	in.RetentionPolicy = v1alpha1.RetentionPolicy{}
	in.RuntimeSettings = v1beta1.RuntimeSettings{}
	in.TargetSecretName = "stash-restore-sample-mysql-restore-target"
	in.Target.Alias = "primary"
	in.UserParams = []v1beta1.Param{{Name: "args", Value: "--one-database demo"}}
	in.RestoreRule = SelectRule(nil, []v1beta1.Rule{{Snapshots: []string{"latest"}}}, "primary")
	return in
}

func localInput() *Input {
	in := backupInput()
	in.Repository = &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "local-repo", Namespace: "demo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			StorageSecretName: "local-secret",
			Local: &v1alpha1.LocalSpec{MountPath: "/safe/data", SubPath: "demo",
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "backup-pvc"}}},
		}},
	}
	in.Target.Alias = "primary"
	in.Target.Args = []string{"--databases", "demo"}
	in.TempDir = v1beta1.EmptyDirSettings{Medium: corev1.StorageMediumMemory, DisableCaching: true}
	in.RetentionPolicy = v1alpha1.RetentionPolicy{Name: "daily", KeepDaily: 7, DryRun: true}
	in.PushgatewayURL = ""
	in.RuntimeSettings = v1beta1.RuntimeSettings{Pod: &v1beta1.PodRuntimeSettings{
		ServiceAccountName: "backup-sa", NodeSelector: map[string]string{"disk": "ssd"},
	}}
	return in
}

func TestBuildGolden(t *testing.T) {
	cases := map[string]*Input{
		"backup-gcs":   backupInput(),
		"restore-gcs":  restoreInput(),
		"backup-local": localInput(),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			job, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(job)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("Job differs from %s (-want +got):\n%s", path, d)
			}
			if strings.Contains(string(got), "${") {
				t.Errorf("Job still holds a placeholder")
			}
		})
	}
}

func TestBuildFailsCleanly(t *testing.T) {
	missingFn := backupInput()
	delete(missingFn.Functions, "update-status")

	unresolved := backupInput()
	unresolved.Task.Spec.Steps[0].Params = nil // secretVolume gone

	unresolvedVolume := backupInput()
	unresolvedVolume.Task.Spec.Volumes[0].Secret.SecretName = "${storageSecret}"

	noSteps := backupInput()
	noSteps.Task.Spec.Steps = nil

	cases := map[string]struct {
		in   *Input
		want string
	}{
		"missing function":     {missingFn, `Task "mysql-backup-8.0.21" step 1: Function "update-status" not found`},
		"unresolved in args":   {unresolved, `Function "mysql-backup-8.0.21" (step 0): no value for placeholder(s) ${secretVolume}`},
		"unresolved in volume": {unresolvedVolume, `Task "mysql-backup-8.0.21" volume "secret-volume": no value for placeholder(s) ${storageSecret}`},
		"no steps":             {noSteps, "task has no steps"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			job, err := Build(tc.in)
			if err == nil {
				t.Fatalf("Build succeeded: %v", job.Spec.Template.Spec.Containers)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestImplicitVariables(t *testing.T) {
	in := backupInput()
	b, err := location.Backend(&in.Repository.Spec.Backend)
	if err != nil {
		t.Fatal(err)
	}
	v := Variables(in, b, v1beta1.FunctionRef{Params: []v1beta1.Param{{Name: "NAMESPACE", Value: "step-says"}, {Name: "args", Value: "step"}}})
	want := map[string]string{
		"NAMESPACE":                  "demo", // implicit beats step params
		"args":                       "step",
		"BACKUP_SESSION":             "sample-mysql-backup-1561974001",
		"REPOSITORY_NAME":            "gcs-repo",
		"REPOSITORY_PROVIDER":        "gcs",
		"REPOSITORY_SECRET_NAME":     "gcs-secret",
		"REPOSITORY_BUCKET":          "appscode-qa",
		"REPOSITORY_PREFIX":          "/demo/mysql/sample-mysql",
		"REPOSITORY_ENDPOINT":        "",
		"REPOSITORY_REGION":          "",
		"REPOSITORY_SOLE_WRITER":     "true",
		"MAX_CONNECTIONS":            "4",
		"HOSTNAME":                   "host-0",
		"TARGET_NAME":                "sample-mysql",
		"TARGET_KIND":                "AppBinding",
		"TARGET_NAMESPACE":           "demo",
		"TARGET_API_VERSION":         "appcatalog.appscode.com/v1alpha1",
		"TARGET_PATHS":               "",
		"INVOKER_KIND":               "BackupConfiguration",
		"INVOKER_NAME":               "sample-mysql-backup",
		"RETENTION_KEEP_LAST":        "5",
		"RETENTION_KEEP_TAGS":        "a,b",
		"RETENTION_PRUNE":            "true",
		"SCHEDULE_INTERVAL":          "5400s",
		"ENABLE_CACHE":               "true",
		"PROMETHEUS_PUSHGATEWAY_URL": "http://hoard-pushgateway.hoard-system.svc:9091",
		"PROMETHEUS_JOB_NAME":        "backupconfiguration-demo-sample-mysql-backup",
		"NICE_ADJUSTMENT":            "5",
		"IONICE_CLASS":               "2",
		"IONICE_CLASS_DATA":          "4",
	}
	if d := cmp.Diff(want, v); d != "" {
		t.Errorf("variables (-want +got):\n%s", d)
	}

	in.UserParams = []v1beta1.Param{{Name: "args", Value: "user"}}
	if got := Variables(in, b, v1beta1.FunctionRef{Params: []v1beta1.Param{{Name: "args", Value: "step"}}})["args"]; got != "user" {
		t.Errorf("user params must beat step params: args = %q", got)
	}
}

func TestSelectRule(t *testing.T) {
	deprecated := []v1beta1.Rule{{SourceHost: "old", Snapshots: []string{"abc"}}}
	target := []v1beta1.Rule{
		{TargetHosts: []string{"other"}, SourceHost: "x"},
		{TargetHosts: []string{"primary"}, Snapshots: []string{"s1", "s2"}, Paths: []string{"/dumpfile.sql"}},
	}
	if r := SelectRule(nil, deprecated, "host-0"); r.SourceHost != "old" || r.Snapshots[0] != "abc" {
		t.Errorf("deprecated spec.rules must apply when target.rules is empty: %+v", r)
	}
	if r := SelectRule(target, deprecated, "primary"); r.SourceHost != "primary" || strings.Join(r.Snapshots, ",") != "s1,s2" {
		t.Errorf("target.rules must win and match the host: %+v", r)
	}
	if r := SelectRule(nil, nil, "host-0"); r.SourceHost != "host-0" || r.Snapshots[0] != "latest" {
		t.Errorf("defaults: %+v", r)
	}
}

func TestJobName(t *testing.T) {
	if got := JobName(KindBackup, "short-1"); got != "stash-backup-short-1" {
		t.Errorf("got %q", got)
	}
	long := JobName(KindBackup, strings.Repeat("a", 70)+"-1700000000")
	if len(long) > 63 || !strings.HasPrefix(long, "stash-backup-aaaa") {
		t.Errorf("long name %q (%d chars)", long, len(long))
	}
	if long == JobName(KindBackup, strings.Repeat("a", 70)+"-1700000001") {
		t.Error("distinct sessions must get distinct Job names")
	}
}

// A 63-character configuration name makes a 74-character session name; every label of the
// Job must still be a valid label value.
func TestLongNamesMakeValidLabels(t *testing.T) {
	in := backupInput()
	in.Invoker.Name = strings.Repeat("c", 63)
	in.SessionName = in.Invoker.Name + "-1700000000"
	job, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, labels := range []map[string]string{job.Labels, job.Spec.Template.Labels} {
		for k, v := range labels {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("label %s=%q: %v", k, v, errs)
			}
		}
	}
	if job.Labels[location.LabelKey] != in.LocationKey || job.Spec.Template.Labels[location.LabelKey] != in.LocationKey {
		t.Errorf("the Job and its pod must carry the repository location: %v", job.Labels)
	}
	if errs := validation.IsDNS1123Label(job.Name); len(errs) > 0 {
		t.Errorf("Job name %q: %v", job.Name, errs)
	}
}
