package restic

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestLineWriterBuffersPartialLines(t *testing.T) {
	var got []string
	w := &lineWriter{fn: func(l []byte) { got = append(got, string(l)) }}
	chunks := []string{"", "{\"a\":", "1}\n{\"b\"", ":2}\r\n\n", "{\"c\":3}\n{\"d\"", ":4}"}
	for _, c := range chunks {
		if n, err := w.Write([]byte(c)); err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if want := []string{`{"a":1}`, `{"b":2}`, ``, `{"c":3}`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("before Flush: %q, want %q", got, want)
	}
	w.Flush()
	if got[len(got)-1] != `{"d":4}` {
		t.Errorf("Flush passed %q", got[len(got)-1])
	}
}

func TestBackupMessageDecoding(t *testing.T) {
	// Lines as restic 0.19 prints them, split at every byte to prove the buffering.
	out := `{"message_type":"status","seconds_elapsed":2,"percent_done":0,"total_files":1,"bytes_done":1048576,"current_files":["/dumpfile.sql"]}
{"message_type":"error","error":{"message":"failed to save /dumpfile.sql: Fatal: command failed: exit status 2"},"during":"archival","item":"/dumpfile.sql"}
{"message_type":"summary","files_new":1,"files_changed":0,"files_unmodified":0,"dirs_new":0,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":3,"tree_blobs":1,"data_added":2927960,"data_added_packed":556000,"total_files_processed":1,"total_bytes_processed":2927599,"total_duration":0.68,"backup_start":"2026-01-01T00:00:00Z","backup_end":"2026-01-01T00:00:01Z","snapshot_id":"fb537ebe0123456789"}
`
	var statuses []BackupStatus
	var summary *BackupSummary
	var errs []string
	w := &lineWriter{fn: func(line []byte) {
		var m backupMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch m.MessageType {
		case "status":
			statuses = append(statuses, m.BackupStatus)
		case "summary":
			s := m.BackupSummary
			summary = &s
		case "error":
			errs = append(errs, m.Error.Message)
		}
	}}
	for i := 0; i < len(out); i++ {
		_, _ = w.Write([]byte{out[i]})
	}
	w.Flush()
	if len(statuses) != 1 || statuses[0].BytesDone != 1048576 || statuses[0].SecondsElapsed != 2 {
		t.Errorf("statuses = %+v", statuses)
	}
	if summary == nil || summary.SnapshotID != "fb537ebe0123456789" || summary.TotalBytesProcessed != 2927599 || summary.DataAdded != 2927960 || summary.FilesNew != 1 || summary.TotalDuration != 0.68 {
		t.Errorf("summary = %+v", summary)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "exit status 2") {
		t.Errorf("errors = %q", errs)
	}
}

func TestTailKeepsLastLines(t *testing.T) {
	tl := newTail(3)
	_, _ = tl.Write([]byte("one\ntwo\n\nthree\nfo"))
	_, _ = tl.Write([]byte("ur\nfive"))
	if got, want := tl.Lines(), []string{"three", "four", "five"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
}

func TestForgetHelpers(t *testing.T) {
	if !(ForgetOptions{}).Empty() {
		t.Error("zero policy is not empty")
	}
	if (ForgetOptions{KeepTags: []string{"x"}}).Empty() || (ForgetOptions{KeepYearly: 1}).Empty() {
		t.Error("policy with keep rules is empty")
	}
	var groups []ForgetGroup
	if err := json.Unmarshal([]byte(`[{"host":"h","tags":null,"paths":["/dumpfile.sql"],"keep":[{"id":"a"}],"remove":[{"id":"b"},{"id":"c"}]},{"host":"h2","remove":[{"id":"d"}]}]`), &groups); err != nil {
		t.Fatal(err)
	}
	if n := Removed(groups); n != 3 {
		t.Errorf("Removed = %d, want 3", n)
	}
}

func TestFilterFlags(t *testing.T) {
	f := Filter{Host: "host-0", Tags: []string{"namespace=demo", "target=AppBinding/db"}, Paths: []string{"/dumpfile.sql"}}
	want := []string{"--host", "host-0", "--tag", "namespace=demo,target=AppBinding/db", "--path", "/dumpfile.sql"}
	if got := f.flags(); !reflect.DeepEqual(got, want) {
		t.Errorf("flags = %q, want %q", got, want)
	}
}
