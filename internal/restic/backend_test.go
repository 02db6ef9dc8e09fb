package restic

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeSecret(t *testing.T, kv map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewSetupProviders(t *testing.T) {
	const pw = "s3cr3t-restic"
	tests := []struct {
		name     string
		cfg      Config
		secret   map[string]string
		wantRepo string
		wantEnv  map[string]string
		wantOpt  string
	}{
		{
			name:     "local joins mount path and prefix",
			cfg:      Config{Provider: "local", Bucket: "/safe/data", Prefix: "demo/db"},
			wantRepo: "/safe/data/demo/db",
		},
		{
			name:     "local without prefix is the mount path",
			cfg:      Config{Provider: "local", Bucket: "/safe/data", MaxConnections: 2},
			wantRepo: "/safe/data",
			wantOpt:  "local.connections=2",
		},
		{
			name:     "s3 example from the reference",
			cfg:      Config{Provider: "s3", Endpoint: "s3.amazonaws.com", Bucket: "stash-demo", Prefix: "/backup/demo/deployment/stash-demo", Region: "us-west-1", MaxConnections: 4},
			secret:   map[string]string{"AWS_ACCESS_KEY_ID": "AKIA123", "AWS_SECRET_ACCESS_KEY": "topsecretkey\n"},
			wantRepo: "s3:s3.amazonaws.com/stash-demo/backup/demo/deployment/stash-demo",
			wantEnv:  map[string]string{"AWS_ACCESS_KEY_ID": "AKIA123", "AWS_SECRET_ACCESS_KEY": "topsecretkey", "AWS_DEFAULT_REGION": "us-west-1"},
			wantOpt:  "s3.connections=4",
		},
		{
			name:     "s3 endpoint keeps its scheme",
			cfg:      Config{Provider: "s3", Endpoint: "https://minio.example.svc/", Bucket: "stash-demo", Prefix: "backup/demo"},
			secret:   map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "key1"},
			wantRepo: "s3:https://minio.example.svc/stash-demo/backup/demo",
		},
		{
			name:     "s3 without endpoint is AWS, without prefix the bucket",
			cfg:      Config{Provider: "s3", Bucket: "b"},
			wantRepo: "s3:s3.amazonaws.com/b",
		},
		{
			name:     "gcs",
			cfg:      Config{Provider: "gcs", Bucket: "stash-demo", Prefix: "/demo/mysql/", MaxConnections: 5},
			secret:   map[string]string{"GOOGLE_PROJECT_ID": "proj-1", "GOOGLE_SERVICE_ACCOUNT_JSON_KEY": "{}"},
			wantRepo: "gs:stash-demo:/demo/mysql",
			wantEnv:  map[string]string{"GOOGLE_PROJECT_ID": "proj-1", "GOOGLE_APPLICATION_CREDENTIALS": "<dir>/GOOGLE_SERVICE_ACCOUNT_JSON_KEY"},
			wantOpt:  "gs.connections=5",
		},
		{
			name:     "gcs without prefix",
			cfg:      Config{Provider: "gcs", Bucket: "b"},
			secret:   map[string]string{"GOOGLE_PROJECT_ID": "p"},
			wantRepo: "gs:b:/",
		},
		{
			name:     "azure",
			cfg:      Config{Provider: "azure", Bucket: "container", Prefix: "demo", MaxConnections: 3},
			secret:   map[string]string{"AZURE_ACCOUNT_NAME": "acct", "AZURE_ACCOUNT_KEY": "azkey=="},
			wantRepo: "azure:container:/demo",
			wantEnv:  map[string]string{"AZURE_ACCOUNT_NAME": "acct", "AZURE_ACCOUNT_KEY": "azkey=="},
			wantOpt:  "azure.connections=3",
		},
		{
			name:     "swift",
			cfg:      Config{Provider: "swift", Bucket: "container", Prefix: "/a/b"},
			secret:   map[string]string{"ST_AUTH": "http://auth/v1.0", "ST_USER": "u", "ST_KEY": "swiftkey", "OS_REGION_NAME": "r1"},
			wantRepo: "swift:container:/a/b",
			wantEnv:  map[string]string{"ST_AUTH": "http://auth/v1.0", "ST_USER": "u", "ST_KEY": "swiftkey", "OS_REGION_NAME": "r1"},
		},
		{
			name:     "b2",
			cfg:      Config{Provider: "b2", Bucket: "bucket", Prefix: "demo", MaxConnections: 8},
			secret:   map[string]string{"B2_ACCOUNT_ID": "acc", "B2_ACCOUNT_KEY": "b2key"},
			wantRepo: "b2:bucket:/demo",
			wantEnv:  map[string]string{"B2_ACCOUNT_ID": "acc", "B2_ACCOUNT_KEY": "b2key"},
			wantOpt:  "b2.connections=8",
		},
		{
			name:     "rest puts credentials in the URL",
			cfg:      Config{Provider: "rest", Endpoint: "https://rest.example:8000/demo/repo", MaxConnections: 2},
			secret:   map[string]string{"REST_SERVER_USERNAME": "alice", "REST_SERVER_PASSWORD": "p@ss:/word"},
			wantRepo: "rest:https://alice:p%40ss%3A%2Fword@rest.example:8000/demo/repo",
			wantOpt:  "rest.connections=2",
		},
		{
			name:     "rest without credentials",
			cfg:      Config{Provider: "rest", Endpoint: "http://10.0.0.1:8000/"},
			wantRepo: "rest:http://10.0.0.1:8000/",
		},
		{
			name:     "rest with empty credential keys",
			cfg:      Config{Provider: "rest", Endpoint: "http://10.0.0.1:8000/"},
			secret:   map[string]string{"REST_SERVER_USERNAME": "", "REST_SERVER_PASSWORD": ""},
			wantRepo: "rest:http://10.0.0.1:8000/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{"RESTIC_PASSWORD": pw}
			for k, v := range tt.secret {
				kv[k] = v
			}
			dir := writeSecret(t, kv)
			cfg := tt.cfg
			cfg.SecretDir = dir
			s, err := NewSetup(cfg)
			if err != nil {
				t.Fatalf("NewSetup: %v", err)
			}
			if s.Repository != tt.wantRepo {
				t.Errorf("Repository = %q, want %q", s.Repository, tt.wantRepo)
			}
			if s.Env["RESTIC_REPOSITORY"] != tt.wantRepo {
				t.Errorf("RESTIC_REPOSITORY = %q, want %q", s.Env["RESTIC_REPOSITORY"], tt.wantRepo)
			}
			if s.Env["RESTIC_PASSWORD"] != pw {
				t.Errorf("RESTIC_PASSWORD = %q", s.Env["RESTIC_PASSWORD"])
			}
			for k, v := range tt.wantEnv {
				v = strings.ReplaceAll(v, "<dir>", dir)
				if s.Env[k] != v {
					t.Errorf("env %s = %q, want %q", k, s.Env[k], v)
				}
			}
			wantFlags := []string{"--no-cache"}
			if tt.wantOpt != "" {
				wantFlags = append(wantFlags, "-o", tt.wantOpt)
			}
			if !reflect.DeepEqual(s.Flags, wantFlags) {
				t.Errorf("Flags = %q, want %q", s.Flags, wantFlags)
			}
			for _, f := range s.Flags {
				for _, sec := range s.Secrets {
					if strings.Contains(f, sec) {
						t.Errorf("flag %q holds a secret", f)
					}
				}
			}
		})
	}
}

func TestNewSetupFlagsOrder(t *testing.T) {
	dir := writeSecret(t, map[string]string{"RESTIC_PASSWORD": "pw", "CA_CERT_DATA": "-----BEGIN CERTIFICATE-----"})
	s, err := NewSetup(Config{Provider: "s3", Bucket: "b", SecretDir: dir, CacheDir: "/tmp/cache", RetryLock: 90 * time.Second, MaxConnections: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--cacert", filepath.Join(dir, "CA_CERT_DATA"), "--cache-dir", "/tmp/cache", "--retry-lock", "1m30s", "-o", "s3.connections=3"}
	if !reflect.DeepEqual(s.Flags, want) {
		t.Errorf("Flags = %q, want %q", s.Flags, want)
	}
}

func TestNewSetupPasswordIsUsedRaw(t *testing.T) {
	// Repositories made by upstream Stash used the Secret's bytes as they are.
	dir := writeSecret(t, map[string]string{"RESTIC_PASSWORD": "pw with newline\n"})
	s, err := NewSetup(Config{Provider: "local", Bucket: "/r", SecretDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Env["RESTIC_PASSWORD"]; got != "pw with newline\n" {
		t.Errorf("RESTIC_PASSWORD = %q", got)
	}
}

func TestNewSetupErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		secret  map[string]string
		wantErr []string
	}{
		{"missing restic password", Config{Provider: "local", Bucket: "/r"}, map[string]string{}, []string{"no key RESTIC_PASSWORD"}},
		{"empty restic password", Config{Provider: "local", Bucket: "/r"}, map[string]string{"RESTIC_PASSWORD": ""}, []string{"RESTIC_PASSWORD", "empty"}},
		{"s3 half a key pair", Config{Provider: "s3", Bucket: "b"}, map[string]string{"RESTIC_PASSWORD": "x", "AWS_ACCESS_KEY_ID": "id"}, []string{"no key AWS_SECRET_ACCESS_KEY"}},
		{"s3 other half", Config{Provider: "s3", Bucket: "b"}, map[string]string{"RESTIC_PASSWORD": "x", "AWS_SECRET_ACCESS_KEY": "k"}, []string{"no key AWS_ACCESS_KEY_ID"}},
		{"gcs project", Config{Provider: "gcs", Bucket: "b"}, map[string]string{"RESTIC_PASSWORD": "x"}, []string{"no key GOOGLE_PROJECT_ID"}},
		{"azure name", Config{Provider: "azure", Bucket: "c"}, map[string]string{"RESTIC_PASSWORD": "x", "AZURE_ACCOUNT_KEY": "k"}, []string{"no key AZURE_ACCOUNT_NAME"}},
		{"azure key", Config{Provider: "azure", Bucket: "c"}, map[string]string{"RESTIC_PASSWORD": "x", "AZURE_ACCOUNT_NAME": "n"}, []string{"no key AZURE_ACCOUNT_KEY"}},
		{"swift auth", Config{Provider: "swift", Bucket: "c"}, map[string]string{"RESTIC_PASSWORD": "x", "ST_USER": "u"}, []string{"ST_AUTH", "OS_AUTH_URL"}},
		{"b2 id", Config{Provider: "b2", Bucket: "b"}, map[string]string{"RESTIC_PASSWORD": "x", "B2_ACCOUNT_KEY": "k"}, []string{"no key B2_ACCOUNT_ID"}},
		{"b2 key", Config{Provider: "b2", Bucket: "b"}, map[string]string{"RESTIC_PASSWORD": "x", "B2_ACCOUNT_ID": "i"}, []string{"no key B2_ACCOUNT_KEY"}},
		{"rest password", Config{Provider: "rest", Endpoint: "http://h:8000/"}, map[string]string{"RESTIC_PASSWORD": "x", "REST_SERVER_USERNAME": "u"}, []string{"no key REST_SERVER_PASSWORD"}},
		{"rest url", Config{Provider: "rest", Endpoint: "h:8000"}, map[string]string{"RESTIC_PASSWORD": "x"}, []string{"not an absolute"}},
		{"unknown provider", Config{Provider: "ftp"}, map[string]string{"RESTIC_PASSWORD": "x"}, []string{`unknown repository provider "ftp"`}},
		{"local without path", Config{Provider: "local"}, map[string]string{"RESTIC_PASSWORD": "x"}, []string{"mount path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeSecret(t, tt.secret)
			cfg := tt.cfg
			cfg.SecretDir = dir
			_, err := NewSetup(cfg)
			if err == nil {
				t.Fatal("NewSetup succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(tt.wantErr[0], "no key") && !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the secret directory", err)
			}
		})
	}
	if _, err := NewSetup(Config{Provider: "local", Bucket: "/r", SecretDir: "/does/not/exist"}); err == nil || !strings.Contains(err.Error(), "/does/not/exist") {
		t.Errorf("missing secret dir: got %v", err)
	}
}

func TestReadSecretDirFollowsKubernetesLayout(t *testing.T) {
	// Kubernetes mounts key -> ..data/key -> ..2024_01_01/key.
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2024_01_01")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "RESTIC_PASSWORD"), []byte("pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2024_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/RESTIC_PASSWORD", filepath.Join(dir, "RESTIC_PASSWORD")); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSecretDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.data) != 1 || s.data["RESTIC_PASSWORD"] != "pw" {
		t.Errorf("data = %v", s.data)
	}
}

func TestArgvHoldsNoSecrets(t *testing.T) {
	dir := writeSecret(t, map[string]string{
		"RESTIC_PASSWORD": "restic-pw-123", "REST_SERVER_USERNAME": "user", "REST_SERVER_PASSWORD": "rest-pw-456",
		"CA_CERT_DATA": "pem",
	})
	s, err := NewSetup(Config{Provider: "rest", Endpoint: "http://127.0.0.1:1/repo", SecretDir: dir, CacheDir: "/c", RetryLock: time.Minute, MaxConnections: 2})
	if err != nil {
		t.Fatal(err)
	}
	r := New(s, Options{BaseEnv: []string{"RESTIC_PASSWORD=inherited", "RESTIC_REPOSITORY=other", "PATH=/bin", "TMPDIR=/x"}, TempDir: "/scratch/tmp"})
	calls := []call{
		{command: "backup", json: true, flags: []string{"--stdin-from-command", "--host", "h"}, args: []string{"--", "mysqldump"}},
		{command: "snapshots", json: true}, {command: "forget", json: true}, {command: "check", json: true},
		{command: "stats", json: true}, {command: "unlock"}, {command: "init", json: true}, {command: "dump", args: []string{"latest", "/dumpfile.sql"}},
	}
	for _, c := range calls {
		argv := r.argv(c)
		if argv[0] != c.command {
			t.Errorf("argv %q does not start with the subcommand", argv)
		}
		for _, a := range argv {
			for _, sec := range []string{"restic-pw-123", "rest-pw-456"} {
				if strings.Contains(a, sec) {
					t.Errorf("restic %s argv %q holds a secret", c.command, argv)
				}
			}
		}
	}
	env := strings.Join(r.env, "\n")
	for _, want := range []string{"RESTIC_PASSWORD=restic-pw-123", "RESTIC_REPOSITORY=rest:http://user:rest-pw-456@127.0.0.1:1/repo", "PATH=/bin", "TMPDIR=/scratch/tmp", "RESTIC_PROGRESS_FPS=1"} {
		if !strings.Contains(env, want+"\n") && !strings.HasSuffix(env, want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	for _, bad := range []string{"RESTIC_PASSWORD=inherited", "RESTIC_REPOSITORY=other", "TMPDIR=/x"} {
		if strings.Contains(env, bad) {
			t.Errorf("env still has inherited %s", bad)
		}
	}
	// The same argv twice: the order is stable.
	if a, b := r.argv(calls[0]), r.argv(calls[0]); !reflect.DeepEqual(a, b) {
		t.Errorf("argv not stable: %q vs %q", a, b)
	}
	want := []string{"backup", "--json", "--cacert", filepath.Join(dir, "CA_CERT_DATA"), "--cache-dir", "/c", "--retry-lock", "1m0s", "-o", "rest.connections=2", "--stdin-from-command", "--host", "h", "--", "mysqldump"}
	if got := r.argv(calls[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("argv = %q\nwant   %q", got, want)
	}
}
