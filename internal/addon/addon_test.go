package addon

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"--all-databases", []string{"--all-databases"}},
		{"  --databases  shop\tcrm ", []string{"--databases", "shop", "crm"}},
		{`--databases 'odd db' "we\"ird" back\ slash`, []string{"--databases", "odd db", `we"ird`, "back slash"}},
		{`--where="id > 5"`, []string{"--where=id > 5"}},
		{`''`, []string{""}},
	}
	for _, tt := range tests {
		got, err := SplitArgs(tt.in)
		if err != nil {
			t.Errorf("SplitArgs(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `trailing\`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q) succeeded", bad)
		}
	}
}

func TestSnapshotID(t *testing.T) {
	tests := map[string]string{
		"":                       "latest",
		"latest":                 "latest",
		"4bc21d6f":               "4bc21d6f",
		"gcs-repo-4bc21d6f":      "4bc21d6f",
		strings.Repeat("ab", 32): strings.Repeat("ab", 32),
	}
	for in, want := range tests {
		got, err := snapshotID(in)
		if err != nil || got != want {
			t.Errorf("snapshotID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a,b", "last", "repo-xyz"} {
		if _, err := snapshotID(bad); err == nil {
			t.Errorf("snapshotID(%q) succeeded", bad)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.000 KiB", 7146045: "6.815 MiB",
		5 << 30: "5.000 GiB", 3 << 40: "3.000 TiB",
	}
	for in, want := range tests {
		if got := result.FormatBytes(in); got != want {
			t.Errorf("result.FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestDumpStatus(t *testing.T) {
	tests := []struct {
		st         DumpStatus
		failed     bool
		brokenPipe bool
		text       string
	}{
		{DumpStatus{}, false, false, "mysqldump exited with code 0"},
		// dump-exec was killed with restic: mysqldump's fault is not known.
		{DumpStatus{Running: true, ExitCode: 0}, false, false, "mysqldump did not finish"},
		{DumpStatus{ExitCode: 2, Stderr: []string{"mysqldump: Got error: 1045: Access denied"}}, true, false, "mysqldump exited with code 2: mysqldump: Got error: 1045: Access denied"},
		{DumpStatus{ExitCode: 141, Signal: "broken pipe"}, true, true, "mysqldump was killed (broken pipe)"},
		{DumpStatus{ExitCode: 5, Stderr: []string{"mysqldump: Got errno 32 on write"}}, true, true, "errno 32"},
		{DumpStatus{ExitCode: 127, StartError: "exec: \"mysqldump\": executable file not found in $PATH"}, true, false, "could not be started"},
	}
	for _, tt := range tests {
		if tt.st.Failed() != tt.failed || tt.st.BrokenPipe() != tt.brokenPipe || !strings.Contains(tt.st.String(), tt.text) {
			t.Errorf("%+v: failed=%v brokenPipe=%v %q", tt.st, tt.st.Failed(), tt.st.BrokenPipe(), tt.st.String())
		}
	}
}

func TestDumpStatusRoundTrip(t *testing.T) {
	p := t.TempDir() + "/status.json"
	st, err := ReadDumpStatus(p)
	if st != nil || err != nil {
		t.Fatalf("missing file: %v, %v", st, err)
	}
	want := &DumpStatus{ExitCode: 2, Stderr: []string{"x"}}
	if err := writeJSONFile(p, want); err != nil {
		t.Fatal(err)
	}
	st, err = ReadDumpStatus(p)
	if err != nil || !reflect.DeepEqual(st, want) {
		t.Errorf("read %+v, %v", st, err)
	}
}

func TestProgressPrinterThrottles(t *testing.T) {
	var out bytes.Buffer
	pp := newProgressPrinter(&out, time.Hour)
	for i := 0; i < 100; i++ {
		pp.report(result.Progress{BytesDone: int64(i)}, false)
	}
	pp.report(result.Progress{BytesDone: 100, TotalBytes: 100, PercentDone: 100}, true)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("printed %d lines, want the first and the final: %q", len(lines), lines)
	}
	p, ok := result.ParseProgress([]byte(lines[1]))
	if !ok || p.BytesDone != 100 || p.PercentDone != 100 || p.Elapsed == "" {
		t.Errorf("final line %q parsed as %+v, %v", lines[1], p, ok)
	}
}

func TestStreamProgress(t *testing.T) {
	var out bytes.Buffer
	p := &streamProgress{pp: newProgressPrinter(&out, time.Hour)}
	p.update(50)
	if got := p.progress(); got.BytesDone != 50 || got.PercentDone != 0 {
		t.Errorf("progress without a total = %+v", got)
	}
	p.total.Store(200)
	p.update(100)
	if got := p.progress(); got.BytesDone != 100 || got.PercentDone != 50 || got.TotalBytes != 200 {
		t.Errorf("progress = %+v", got)
	}
	// One line per interval: the second update came within the hour.
	if lines := strings.Count(out.String(), "\n"); lines != 1 {
		t.Errorf("%d progress lines, want 1:\n%s", lines, out.String())
	}
}

func TestTags(t *testing.T) {
	o := &BackupOptions{Common: Common{Namespace: "demo"}, InvokerKind: "BackupConfiguration", InvokerName: "nightly", TargetKind: "AppBinding", TargetName: "shop-db"}
	want := []string{"namespace=demo", "invoker=BackupConfiguration/nightly", "target=AppBinding/shop-db"}
	if got := o.Tags(); !reflect.DeepEqual(got, want) {
		t.Errorf("Tags = %q, want %q", got, want)
	}
	o = &BackupOptions{Common: Common{Namespace: "demo"}}
	if got := o.Tags(); !reflect.DeepEqual(got, []string{"namespace=demo"}) {
		t.Errorf("Tags without invoker/target = %q", got)
	}
}

func TestDescribeFailures(t *testing.T) {
	got := describeFailures([]result.ActionFailure{
		{Action: result.ActionApplyRetention, Error: "restic forget failed: locked"},
		{Action: result.ActionVerifyIntegrity, Error: "restic check failed: locked"},
	})
	want := "applying the retention policy failed: restic forget failed: locked; verifying the repository's integrity failed: restic check failed: locked"
	if got != want {
		t.Errorf("describeFailures = %q", got)
	}
}

// TestFailedBackupResultFits: a backup whose three maintenance steps failed with long
// messages still fits a termination message without its error being shortened.
func TestFailedBackupResultFits(t *testing.T) {
	long := strings.Repeat("restic check failed: repository is locked by another process (exit code 11): é ", 40)
	var failed []result.ActionFailure
	for _, a := range []string{result.ActionApplyRetention, result.ActionVerifyIntegrity, result.ActionSendMetrics} {
		failed = append(failed, result.ActionFailure{Action: a, Error: clip(long, maxActionError)})
	}
	one, six := int64(1), int64(6)
	res := &result.Result{
		Kind: result.KindBackup, Phase: result.PhaseFailed, Hostname: "host-0", Duration: "12.345s",
		Snapshots: []result.Snapshot{{Name: "4bc21d6f", Hostname: "host-0", Target: "a-long-namespace-name/AppBinding/" + strings.Repeat("n", 63),
			Time: "2026-01-01T00:00:00Z", Path: DumpFileName, TotalSize: "6.815 MiB", Uploaded: "1.000 KiB", TotalBytes: 7146045, UploadedBytes: 1024,
			ProcessingTime: "1.234s", FileStats: &result.FileStats{TotalFiles: &one, NewFiles: &one, ModifiedFiles: &six, UnmodifiedFiles: &six}}},
		PostActions:   []string{},
		FailedActions: failed,
		Repository:    &result.Repository{TotalSize: "1.000 GiB", SizeBytes: 1 << 30},
	}
	res.Error = "snapshot 4bc21d6f was created and is kept, but " + describeFailures(failed)
	b, err := result.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	back, err := result.Parse(b)
	if err != nil || back.Error != res.Error {
		t.Errorf("the error was shortened to fit (%d bytes): %q", len(b), back.Error)
	}
	if c := clip("ééé", 5); c != "é…" {
		t.Errorf("clip cut a rune: %q", c)
	}
}

func TestStorageTimeoutErrorNamesTheBackendsComplaint(t *testing.T) {
	xe := &restic.ExitError{Command: "unlock", Code: 130, Message: "Stat(<config/>) returned error, retrying after 1.2s: dial tcp 10.0.0.1:8000: connect: connection refused; " +
		"Stat(<config/>) returned error, retrying after 2.5s: dial tcp 10.0.0.1:8000: connect: connection refused; rest:http://10.0.0.1:8000/repo/"}
	err := &storageTimeoutError{location: "rest:http://10.0.0.1:8000/repo", timeout: 20 * time.Second, err: xe}
	want := "the repository rest:http://10.0.0.1:8000/repo did not respond within 20s; restic's last error: " +
		"Stat(<config/>) returned error, retrying after 2.5s: dial tcp 10.0.0.1:8000: connect: connection refused"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if lastError("nothing alike") != "nothing alike" {
		t.Error("without an error line, the whole message stays")
	}
}

// A position option of the user's own is left alone, before any connection is made.
func TestBinlogPositionLeavesUserOptions(t *testing.T) {
	s := &session{}
	for _, args := range [][]string{{"--master-data=1"}, {"--databases", "shop", "--dump-slave"}, {"--lock-all-tables"}, {"-x"}} {
		if ok, reason := s.binlogPosition(t.Context(), args); ok || !strings.Contains(reason, "the dump's arguments set") {
			t.Errorf("%v: position %v (%s), want the user's choice kept", args, ok, reason)
		}
	}
}

func TestCheckStreaming(t *testing.T) {
	for _, tc := range []struct {
		name              string
		mode              string
		shipEvery, stream time.Duration
		want              string
	}{
		{"not streaming", BackupModeDump, 0, 50 * time.Second, ""},
		{"streaming", BackupModeBinlogs, 5 * time.Second, 50 * time.Second, ""},
		{"a dump", BackupModeDump, 5 * time.Second, 50 * time.Second, "needs backupMode binlogs"},
		{"too often", BackupModeBinlogs, 100 * time.Millisecond, 50 * time.Second, "shorter than 1s"},
		{"a stream shorter than its interval", BackupModeBinlogs, 10 * time.Second, 5 * time.Second, "streamFor 5s is shorter than shipEvery 10s"},
	} {
		o := &BackupOptions{Mode: tc.mode, ShipEvery: tc.shipEvery, StreamFor: tc.stream}
		err := o.checkStreaming()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: checkStreaming = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestGlobalPrivileges(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string
		ok   bool
	}{
		{"GRANT RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `hoard`@`%` IDENTIFIED BY PASSWORD '*ABC'", "RELOAD|REPLICATION SLAVE|BINLOG MONITOR", true},
		{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION", "ALL PRIVILEGES", true},
		{"GRANT SELECT, INSERT ON `shop`.* TO `hoard`@`%`", "", true},
		{"GRANT SELECT (`id`) ON `shop`.`t` TO `hoard`@`%`", "", true},
		{"GRANT `reporting` TO `hoard`@`%`", "", false},
		{"SET DEFAULT ROLE `reporting` FOR `hoard`@`%`", "", false},
	} {
		privs, ok := globalPrivileges(tc.line)
		if got := strings.Join(privs, "|"); got != tc.want || ok != tc.ok {
			t.Errorf("globalPrivileges(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPipeChanged: a failed mysql of the pipe says it may have changed the database unless it
// failed before its first statement.
func TestPipeChanged(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		done int64
		want bool
	}{
		"a statement failed":             {&mysql.ServerError{Tool: "mysql", ExitCode: 1, Code: 1062, Stderr: []string{"ERROR 1062 (23000) at line 2574: Duplicate entry '1' for key 'PRIMARY'"}}, 1 << 20, true},
		"the database is unknown":        {&mysql.ServerError{Tool: "mysql", ExitCode: 1, Code: 1049, Stderr: []string{"ERROR 1049 (42000): Unknown database 'no_such_db'"}}, 65536, false},
		"killed while loading":           {&mysql.ServerError{Tool: "mysql", ExitCode: -1, Signal: "killed"}, 1 << 20, true},
		"killed before the dump reached": {&mysql.ServerError{Tool: "mysql", ExitCode: -1, Signal: "killed"}, 0, false},
	} {
		if got := pipeChanged(tc.err, tc.done) != ""; got != tc.want {
			t.Errorf("%s: partly restored %v, want %v", name, got, tc.want)
		}
	}
}
