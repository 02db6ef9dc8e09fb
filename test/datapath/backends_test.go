package datapath

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

// TestBackends backs up to and restores from every backend that runs here: a local
// directory, rest-server (with authentication) and versitygw (S3).
func TestBackends(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	mustExec(t, src, shopSQL)
	srcTarget, dstTarget := targetDir(t, src, DBPassword), targetDir(t, dst, DBPassword)

	cases := []struct {
		name  string
		repo  func(t *testing.T) *Repo
		extra []string
	}{
		{"local", func(t *testing.T) *Repo { r, _ := localRepo(t); return r }, nil},
		{"rest", func(t *testing.T) *Repo { r, _, _, _ := restRepo(t, "hoard", "rest-Pa55word"); return r }, []string{"--enable-cache=false"}},
		{"s3-versitygw", s3Repo, []string{"--max-connections=2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := tc.repo(t)
			termLog := filepath.Join(t.TempDir(), "termination-log")
			if err := os.WriteFile(termLog, nil, 0o644); err != nil {
				t.Fatal(err)
			}

			first := backup(t, repo, srcTarget, append(tc.extra, "--termination-log="+termLog)...)
			mustSucceed(t, first)
			r := first.Result
			if !reflect.DeepEqual(r.PreActions, []string{result.ActionInitializeRepository}) {
				t.Errorf("PreActions = %q", r.PreActions)
			}
			if !reflect.DeepEqual(r.PostActions, []string{result.ActionVerifyIntegrity, result.ActionSendMetrics}) {
				t.Errorf("PostActions = %q (no retention policy given)", r.PostActions)
			}
			if r.Kind != result.KindBackup || r.Hostname != "host-0" || r.Duration == "" || len(r.Snapshots) != 1 {
				t.Fatalf("result = %+v", r)
			}
			s := r.Snapshots[0]
			if len(s.Name) != 8 || s.Path != "dumpfile.sql" || s.TotalBytes < 100<<10 || s.TotalSize != result.FormatBytes(s.TotalBytes) ||
				s.ProcessingTime == "" || s.FileStats == nil || *s.FileStats.TotalFiles != 1 || *s.FileStats.NewFiles != 1 {
				t.Errorf("snapshot = %+v", s)
			}
			if rep := r.Repository; rep == nil || rep.Integrity == nil || !*rep.Integrity || rep.SnapshotCount != 1 || rep.SizeBytes <= 0 || rep.TotalSize != result.FormatBytes(rep.SizeBytes) {
				t.Errorf("repository = %+v", r.Repository)
			}
			progress := progressLines(t, first.Stdout)
			if last := progress[len(progress)-1]; last.PercentDone != 100 || last.BytesDone != s.TotalBytes {
				t.Errorf("last progress %+v, snapshot has %d bytes", last, s.TotalBytes)
			}
			term, err := os.ReadFile(termLog)
			if err != nil {
				t.Fatal(err)
			}
			if tr, err := result.Parse(term); err != nil || tr.Snapshots[0].Name != s.Name {
				t.Errorf("termination message %q: %v", term, err)
			}

			snaps := snapshots(t, repo)
			if len(snaps) != 1 || snaps[0].ShortID != s.Name || snaps[0].Hostname != "host-0" ||
				!reflect.DeepEqual(snaps[0].Paths, []string{"/dumpfile.sql"}) ||
				!reflect.DeepEqual(snaps[0].Tags, []string{"namespace=demo", "invoker=BackupConfiguration/nightly", "target=AppBinding/shop"}) {
				t.Errorf("snapshots = %+v", snaps)
			}

			mustExec(t, src, "UPDATE shop.customers SET note = 'changed' WHERE id <= 10; INSERT INTO shop.orders (customer_id, total) VALUES (1, 1.23)")
			want := tableChecksums(t, src, "shop")
			second := backup(t, repo, srcTarget, append(tc.extra, "--retention-keep-last=1", "--retention-prune=true")...)
			mustSucceed(t, second)
			r = second.Result
			if len(r.PreActions) != 0 || !slices.Contains(r.PostActions, result.ActionApplyRetention) {
				t.Errorf("actions: pre %q post %q", r.PreActions, r.PostActions)
			}
			if r.Repository.SnapshotsRemoved != 1 || r.Repository.SnapshotCount != 1 {
				t.Errorf("repository after retention = %+v", r.Repository)
			}
			if snaps := snapshots(t, repo); len(snaps) != 1 || snaps[0].ShortID != r.Snapshots[0].Name {
				t.Errorf("after keep-last=1: %+v", snaps)
			}
			assertHealthy(t, repo)

			mustExec(t, dst, "DROP DATABASE IF EXISTS shop")
			rr := restore(t, repo, dstTarget, tc.extra...)
			mustSucceed(t, rr)
			if rr.Result.Kind != result.KindRestore || rr.Result.Snapshots[0].Name != r.Snapshots[0].Name {
				t.Errorf("restore result %+v", rr.Result)
			}
			if got := tableChecksums(t, dst, "shop"); !reflect.DeepEqual(got, want) || len(got) != 2 {
				t.Errorf("restored %v, want %v", got, want)
			}
			progressLines(t, rr.Stdout)

			// Upstream Stash named snapshots <repository>-<short id>.
			mustExec(t, dst, "DROP DATABASE shop")
			mustSucceed(t, restore(t, repo, dstTarget, append(tc.extra, "--snapshot=my-repo-"+r.Snapshots[0].Name)...))
			if got := tableChecksums(t, dst, "shop"); !reflect.DeepEqual(got, want) {
				t.Errorf("restored by name %v, want %v", got, want)
			}
		})
	}
}

// TestRetention: forget only touches this host's snapshots; dry-run removes nothing.
func TestRetention(t *testing.T) {
	src := newServer(t)
	mustExec(t, src, shopSQL)
	target := targetDir(t, src, DBPassword)
	repo, _ := localRepo(t)
	sel := "--mysql-args=--databases shop"

	mustSucceed(t, backup(t, repo, target, sel, "--hostname=other-host"))
	for i := 0; i < 3; i++ {
		mustSucceed(t, backup(t, repo, target, sel))
	}
	run := backup(t, repo, target, sel, "--retention-keep-last=1", "--retention-dry-run=true")
	mustSucceed(t, run)
	if run.Result.Repository.SnapshotsRemoved != 0 || run.Result.Repository.SnapshotCount != 5 || len(snapshots(t, repo)) != 5 {
		t.Errorf("dry run removed snapshots: %+v", run.Result.Repository)
	}
	run = backup(t, repo, target, sel, "--retention-keep-last=2")
	mustSucceed(t, run)
	if run.Result.Repository.SnapshotsRemoved != 3 || run.Result.Repository.SnapshotCount != 3 {
		t.Errorf("keep-last=2: %+v", run.Result.Repository)
	}
	hosts := map[string]int{}
	for _, s := range snapshots(t, repo) {
		hosts[s.Hostname]++
	}
	if !reflect.DeepEqual(hosts, map[string]int{"host-0": 2, "other-host": 1}) {
		t.Errorf("snapshots per host after retention: %v", hosts)
	}
	assertHealthy(t, repo)

	// A restore of another host picks that host's latest snapshot.
	dst := newServer(t)
	rr := restore(t, repo, targetDir(t, dst, DBPassword), "--source-hostname=other-host")
	mustSucceed(t, rr)
	for _, s := range snapshots(t, repo) {
		if s.Hostname == "other-host" && s.ShortID != rr.Result.Snapshots[0].Name {
			t.Errorf("restored %s, other-host's snapshot is %s", rr.Result.Snapshots[0].Name, s.ShortID)
		}
	}
}

// TestUnreachableProvidersAcceptedByRestic: gcs, azure, swift and b2 cannot be reached from
// here, so their mapping is proven by restic itself: it parses the repository string and gets
// as far as authenticating or connecting. An invalid string is the control.
func TestUnreachableProvidersAcceptedByRestic(t *testing.T) {
	swiftPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		cfg    restic.Config
		secret map[string]string
		repo   string
		want   string
	}{
		{"gcs", restic.Config{Provider: "gcs", Bucket: "hoard-bucket", Prefix: "/demo/mysql", MaxConnections: 2},
			map[string]string{"GOOGLE_PROJECT_ID": "hoard-project", "GOOGLE_SERVICE_ACCOUNT_JSON_KEY": `{"type": "service_account"}`},
			"gs:hoard-bucket:/demo/mysql", "storage/v1/b/hoard-bucket/o/demo%2Fmysql%2Fconfig"},
		{"azure", restic.Config{Provider: "azure", Bucket: "hoard-container", Prefix: "demo/mysql", MaxConnections: 2},
			map[string]string{"AZURE_ACCOUNT_NAME": "hoardaccount", "AZURE_ACCOUNT_KEY": "aG9hcmQta2V5"},
			"azure:hoard-container:/demo/mysql", "azure:hoard-container:/demo/mysql"},
		{"swift", restic.Config{Provider: "swift", Bucket: "hoard-container", Prefix: "demo/mysql"},
			map[string]string{"ST_AUTH": fmt.Sprintf("http://127.0.0.1:%d/auth/v1.0", swiftPort), "ST_USER": "u", "ST_KEY": "swift-key"},
			"swift:hoard-container:/demo/mysql", "conn.Authenticate"},
		{"b2", restic.Config{Provider: "b2", Bucket: "hoard-bucket", Prefix: "demo/mysql", MaxConnections: 2},
			map[string]string{"B2_ACCOUNT_ID": "hoard-id", "B2_ACCOUNT_KEY": "b2-key"},
			"b2:hoard-bucket:/demo/mysql", "b2"},
	}
	t.Run("control: an invalid repository string is rejected", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "RESTIC_PASSWORD"), []byte(resticPassword), 0o600); err != nil {
			t.Fatal(err)
		}
		setup, err := restic.NewSetup(restic.Config{Provider: "local", Bucket: "/x", SecretDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		setup.Env["RESTIC_REPOSITORY"] = "gsx:hoard-bucket:/demo"
		if msg := resticOpenError(t, setup); !strings.Contains(msg, "invalid backend") {
			t.Errorf("an invalid string passed: %s", msg)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secret := map[string]string{"RESTIC_PASSWORD": resticPassword}
			for k, v := range tc.secret {
				secret[k] = v
			}
			dir := t.TempDir()
			for k, v := range secret {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := tc.cfg
			cfg.SecretDir = dir
			setup, err := restic.NewSetup(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if setup.Repository != tc.repo {
				t.Fatalf("repository %q, want %q", setup.Repository, tc.repo)
			}
			msg := resticOpenError(t, setup)
			for _, bad := range []string{"parsing repository location failed", "invalid backend", "invalid format", "unknown option"} {
				if strings.Contains(msg, bad) {
					t.Errorf("restic rejected %s: %s", tc.repo, msg)
				}
			}
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, strings.SplitN(tc.repo, ":", 2)[0]+":") {
				t.Errorf("restic did not get to the %s backend: %s", tc.name, msg)
			}
		})
	}
}

// resticOpenError runs `restic snapshots` against an unreachable repository and returns
// restic's error message; backends that retry are interrupted after a few seconds.
func resticOpenError(t *testing.T, setup *restic.Setup) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := restic.New(setup, restic.Options{Binary: tools.Restic, BaseEnv: os.Environ(), TempDir: t.TempDir(), GracePeriod: 10 * time.Second})
	_, err := r.Snapshots(ctx, restic.Filter{}, 0)
	var xe *restic.ExitError
	if !errors.As(err, &xe) {
		t.Fatalf("restic snapshots: %v, want a restic exit error", err)
	}
	return xe.Message
}
