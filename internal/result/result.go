// Package result is the contract between the Jobs that run a backup or restore and the
// operator that watches them. A Job's containers need no Kubernetes API access: each step
// writes its Result as JSON into its termination message (and into the Task's output
// directory, where the update-status step picks it up), and the operator reads it back from
// the pod status. Progress travels as single JSON lines on the container's stdout.
package result

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/scrub"
)

// Kind says which operation produced a Result.
type Kind string

const (
	KindBackup  Kind = "backup"
	KindRestore Kind = "restore"
	// KindSnapshots is a repository's snapshots Job: it forgets the snapshots whose objects
	// were deleted and reports how restic's list differs from the objects the operator keeps.
	KindSnapshots Kind = "snapshots"
)

// Phase is the outcome of one host's backup or restore.
type Phase string

const (
	PhaseSucceeded Phase = "Succeeded"
	PhaseFailed    Phase = "Failed"
)

// Actions around a backup, with upstream Stash's names. The addon reports them and the
// operator turns them into the session's conditions and events.
const (
	ActionInitializeRepository = "InitializeBackendRepository"
	ActionApplyRetention       = "ApplyRetentionPolicy"
	ActionVerifyIntegrity      = "VerifyRepositoryIntegrity"
	ActionSendMetrics          = "SendRepositoryMetrics"
)

// FileName is the file a step writes its Result to inside the Task's output directory.
const FileName = "output.json"

// TerminationMessagePath is where Kubernetes reads a container's termination message from by
// default. The kubelet truncates messages to MaxTerminationMessageBytes.
const (
	TerminationMessagePath     = "/dev/termination-log"
	MaxTerminationMessageBytes = 4096
)

// Result is what one backup or restore of one host produced.
type Result struct {
	Kind     Kind   `json:"kind"`
	Phase    Phase  `json:"phase"`
	Hostname string `json:"hostname,omitempty"`
	// Error is a one-paragraph, user-facing reason when Phase is Failed. It never holds secrets.
	Error string `json:"error,omitempty"`
	// Duration is a Go duration string, e.g. "12.345s".
	Duration string `json:"duration,omitempty"`

	Snapshots []Snapshot `json:"snapshots,omitempty"`

	// PreActions and PostActions name what ran around the backup, with upstream Stash's names
	// (InitializeBackendRepository, ApplyRetentionPolicy, VerifyRepositoryIntegrity,
	// SendRepositoryMetrics).
	PreActions  []string `json:"preActions,omitempty"`
	PostActions []string `json:"postActions,omitempty"`
	// FailedActions are the actions that were tried and failed, each with its reason. A
	// backup whose snapshot was created but whose retention, check or statistics failed
	// reports the snapshot in Snapshots and the failures here, so neither hides the other.
	FailedActions []ActionFailure `json:"failedActions,omitempty"`

	// Load says where a restore engine's failed load stopped.
	Load *LoadFailure `json:"load,omitempty"`
	// Verification is what a verifying restore compared with the backup's record.
	Verification *Verification `json:"verification,omitempty"`
	// Recovery is what a point-in-time restore replayed after the dump.
	Recovery *Recovery `json:"recovery,omitempty"`

	// Repository is the state of the restic repository after the backup, when it could be read.
	Repository *Repository `json:"repository,omitempty"`

	// Forgotten are the short ids of the snapshots this run removed from restic: by a
	// backup's retention policy, or by a snapshots Job that was asked to forget them.
	// ForgottenIncomplete says that more were removed than a termination message holds: the
	// operator then syncs the repository's snapshot list.
	Forgotten           []string `json:"forgotten,omitempty"`
	ForgottenIncomplete bool     `json:"forgottenIncomplete,omitempty"`
	// Gone, in a snapshots Job's result, are the short ids the operator listed as known that
	// restic does not have (forgotten by someone else). More says that restic has more
	// snapshots unknown to the operator than Snapshots holds: the operator runs the Job again
	// once it has recorded these.
	Gone []string `json:"gone,omitempty"`
	More bool     `json:"more,omitempty"`
	// Packed holds further snapshots compactly (Pack): a snapshots Job's page of unknown
	// snapshots, about three times as many as plain JSON fits. Parse moves them into Snapshots.
	Packed string `json:"packed,omitempty"`
}

// LoadFailure is where a restore engine's load stopped: what the database holds.
type LoadFailure struct {
	// Line is the line of the dump the failed statement starts on; Table its table.
	Line  int    `json:"line,omitempty"`
	Table string `json:"table,omitempty"`
	// TablesCompleted counts the tables loaded completely; Completed names the last of
	// them, oldest first (MaxLoadTables at most), PartlyLoaded those being loaded.
	TablesCompleted int      `json:"tablesCompleted"`
	Completed       []string `json:"completed,omitempty"`
	PartlyLoaded    []string `json:"partlyLoaded,omitempty"`
}

// Recovery is the binary log replay of a point-in-time restore.
type Recovery struct {
	// Until is the time recovered to (RFC 3339): every transaction stamped before it. GTID,
	// instead, is the last transaction recovered.
	Until string `json:"until,omitempty"`
	GTID  string `json:"gtid,omitempty"`
	// From is the dump's position, "<file>:<offset>", where the replay started.
	From string `json:"from"`
	// Binlogs is the number of files replayed, First and Last their names.
	Binlogs int    `json:"binlogs"`
	First   string `json:"first,omitempty"`
	Last    string `json:"last,omitempty"`
}

// Verification is a restored database compared with the record its dump carries of itself
// (package dumpfacts): the rows of each table when the backup was taken.
type Verification struct {
	// Snapshot is the short id of the snapshot verified.
	Snapshot string `json:"snapshot"`
	// Tables are the tables the record holds; Compared those compared (the mysql schema is
	// not: the server maintains it), and Rows their rows.
	Tables   int   `json:"tables"`
	Rows     int64 `json:"rows"`
	Compared int   `json:"compared"`
	// Mismatches describe the tables that differ (MaxLoadTables at most), MismatchCount
	// counts them all.
	Mismatches    []string `json:"mismatches,omitempty"`
	MismatchCount int      `json:"mismatchCount,omitempty"`
	// NoRecord: the dump carries no record (upstream Stash's, or an older Hoard's), so only
	// that it restores was checked.
	NoRecord bool `json:"noRecord,omitempty"`
	// Checksums counts the tables whose rows' checksums were compared with the backup's;
	// ChecksumsSkipped says why none were, when so.
	Checksums        int    `json:"checksums,omitempty"`
	ChecksumsSkipped string `json:"checksumsSkipped,omitempty"`
	// Assertions counts the user's SQL assertions that ran (the param verifySQL);
	// FailedAssertions describe those that do not hold (a few), FailedAssertionCount counts
	// them all.
	Assertions           int      `json:"assertions,omitempty"`
	FailedAssertions     []string `json:"failedAssertions,omitempty"`
	FailedAssertionCount int      `json:"failedAssertionCount,omitempty"`
}

// AddMismatch counts a table that differs, and names it while fewer than MaxLoadTables are.
func (v *Verification) AddMismatch(problem string) {
	v.MismatchCount++
	if len(v.Mismatches) < MaxLoadTables {
		v.Mismatches = append(v.Mismatches, problem)
	}
}

// MaxLoadTables bounds the table names of a LoadFailure list: table names are long, and a
// termination message is short.
const MaxLoadTables = 10

// Pack encodes snapshots for Result.Packed: their JSON, gzip-compressed (ids and trees are
// hex, and tags, paths and hosts repeat), in base64.
func Pack(snaps []Snapshot) (string, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", fmt.Errorf("failed to pack snapshots: %w", err)
	}
	if err := json.NewEncoder(zw).Encode(snaps); err != nil {
		return "", fmt.Errorf("failed to pack snapshots: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("failed to pack snapshots: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// maxPackedBytes bounds what a packed page may expand to: far more than 4 KiB of gzip can
// honestly hold, far less than would hurt.
const maxPackedBytes = 1 << 20

func unpack(s string) ([]Snapshot, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("failed to decode packed snapshots: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("failed to decode packed snapshots: %w", err)
	}
	var snaps []Snapshot
	if err := json.NewDecoder(io.LimitReader(zr, maxPackedBytes)).Decode(&snaps); err != nil {
		return nil, fmt.Errorf("failed to decode packed snapshots: %w", err)
	}
	return snaps, nil
}

// ActionFailure is one action that failed, with a user-facing reason free of secrets.
type ActionFailure struct {
	Action string `json:"action"`
	Error  string `json:"error"`
}

// Snapshot describes one restic snapshot a backup created or a restore read.
type Snapshot struct {
	// Name is the restic snapshot id (short form).
	Name string `json:"name"`
	// ID is the whole restic id, Tree the id of its root tree; Paths, Username, UID, GID
	// and Tags are restic's. They make the Snapshot object.
	ID       string   `json:"id,omitempty"`
	Tree     string   `json:"tree,omitempty"`
	Paths    []string `json:"paths,omitempty"`
	Username string   `json:"username,omitempty"`
	UID      int32    `json:"uid,omitempty"`
	GID      int32    `json:"gid,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	// Hostname is the snapshot's host, and Target the identity it belongs to,
	// "<namespace>/<kind>/<name>" from its tags; empty for snapshots without Hoard's tags
	// (written by upstream Stash). A restore reports both, so the session says whose data it
	// loaded.
	Hostname string `json:"hostname,omitempty"`
	Target   string `json:"target,omitempty"`
	// Time is when the snapshot was taken (RFC 3339), reported by restores.
	Time string `json:"time,omitempty"`
	// Path is the file name inside the snapshot, "dumpfile.sql" for MySQL.
	Path string `json:"path,omitempty"`
	// TotalSize and Uploaded are human readable ("6.815 MiB"), as upstream Stash reported them.
	TotalSize      string     `json:"totalSize,omitempty"`
	Uploaded       string     `json:"uploaded,omitempty"`
	TotalBytes     int64      `json:"totalBytes,omitempty"`
	UploadedBytes  int64      `json:"uploadedBytes,omitempty"`
	ProcessingTime string     `json:"processingTime,omitempty"`
	FileStats      *FileStats `json:"fileStats,omitempty"`
	// Binlog is the source's binary log position the dump is consistent with, when the
	// backup recorded one.
	Binlog *Binlog `json:"binlog,omitempty"`
}

// Binlog is a position in the source's binary logs: file and offset, and the GTID position
// at the same point when known.
type Binlog struct {
	File string `json:"file"`
	Pos  int64  `json:"pos"`
	GTID string `json:"gtid,omitempty"`
}

// FileStats counts files in a snapshot.
type FileStats struct {
	TotalFiles      *int64 `json:"totalFiles,omitempty"`
	NewFiles        *int64 `json:"newFiles,omitempty"`
	ModifiedFiles   *int64 `json:"modifiedFiles,omitempty"`
	UnmodifiedFiles *int64 `json:"unmodifiedFiles,omitempty"`
}

// Repository is the state of the restic repository seen by the Job.
type Repository struct {
	Integrity *bool `json:"integrity,omitempty"`
	// SizeBytes is the raw data size of the repository (restic stats --mode raw-data).
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// TotalSize is SizeBytes, human readable.
	TotalSize        string `json:"totalSize,omitempty"`
	SnapshotCount    int64  `json:"snapshotCount"`
	SnapshotsRemoved int64  `json:"snapshotsRemoved"`
}

// Progress is one live progress report, printed by the Job as a single JSON line on stdout.
type Progress struct {
	// Type is always "progress"; it tells these lines apart from log output.
	Type        string  `json:"type"`
	PercentDone float64 `json:"percentDone,omitempty"`
	BytesDone   int64   `json:"bytesDone,omitempty"`
	TotalBytes  int64   `json:"totalBytes,omitempty"`
	// Elapsed is a Go duration string.
	Elapsed string `json:"elapsed,omitempty"`
	// TablesDone and Loading are a restore engine's tables loaded so far and those it is
	// loading ("db.table", comma-separated).
	TablesDone int64  `json:"tablesDone,omitempty"`
	Loading    string `json:"loading,omitempty"`
	// RowsDone are the rows the restore engine has loaded, Tables the tables it is loading
	// with the rows and dump bytes of each so far.
	RowsDone int64           `json:"rowsDone,omitempty"`
	Tables   []TableProgress `json:"tables,omitempty"`
}

// TableProgress is one table the restore engine is loading.
type TableProgress struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// ProgressType is the value of Progress.Type.
const ProgressType = "progress"

// Scrub hides secrets and row data in r's messages, which quote the tools' output.
func (r *Result) Scrub(s *scrub.Scrubber) {
	r.Error = s.String(r.Error)
	for i := range r.FailedActions {
		r.FailedActions[i].Error = s.String(r.FailedActions[i].Error)
	}
	if r.Verification != nil {
		// A copy: Marshal scrubs a shallow copy of the result.
		v := *r.Verification
		v.Mismatches = make([]string, len(r.Verification.Mismatches))
		for i, m := range r.Verification.Mismatches {
			v.Mismatches[i] = s.String(m)
		}
		r.Verification = &v
	}
}

// Marshal encodes r compactly, its messages passed through the rules of package scrub that
// need no secret values (a Job scrubs the values it knows before). It keeps within
// MaxTerminationMessageBytes by shortening Error in its middle, because a truncated message
// would not parse: the start says what happened (e.g. "snapshot … was created and is kept,
// but"), the end the tool's last words. Scrubbing comes first, so no cut leaves half a
// secret.
func Marshal(r *Result) ([]byte, error) {
	c := *r
	c.FailedActions = append([]ActionFailure(nil), r.FailedActions...)
	c.Scrub(nil)
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("failed to encode result: %w", err)
	}
	// Forgotten ids go first: a sync finds them again, the error would be lost.
	for len(b) > MaxTerminationMessageBytes && len(c.Forgotten) > 0 {
		over := (len(b) - MaxTerminationMessageBytes) / 11 // an 8-hex id with quotes and comma
		c.Forgotten = c.Forgotten[:max(0, len(c.Forgotten)-max(1, over))]
		c.ForgottenIncomplete = true
		if b, err = json.Marshal(&c); err != nil {
			return nil, fmt.Errorf("failed to encode result: %w", err)
		}
	}
	if c.Load != nil && len(b) > MaxTerminationMessageBytes {
		// The error names the tables too; the lists go before it is cut.
		l := *c.Load
		l.Completed, l.PartlyLoaded = nil, nil
		c.Load = &l
		if b, err = json.Marshal(&c); err != nil {
			return nil, fmt.Errorf("failed to encode result: %w", err)
		}
	}
	if c.Verification != nil && len(c.Verification.Mismatches) > 0 && len(b) > MaxTerminationMessageBytes {
		// The error names the tables too.
		c.Verification.Mismatches = nil
		if b, err = json.Marshal(&c); err != nil {
			return nil, fmt.Errorf("failed to encode result: %w", err)
		}
	}
	for len(b) > MaxTerminationMessageBytes {
		// JSON escaping may make a byte of Error take more than one: the loop cuts again.
		keep := len(c.Error) - (len(b) - MaxTerminationMessageBytes) - len(elision)
		if keep < minErrorBytes {
			return nil, fmt.Errorf("result is %d bytes, more than a termination message holds (%d)", len(b), MaxTerminationMessageBytes)
		}
		head := keep / 2
		c.Error = strings.ToValidUTF8(c.Error[:head]+elision+c.Error[len(c.Error)-(keep-head):], "")
		if b, err = json.Marshal(&c); err != nil {
			return nil, fmt.Errorf("failed to encode result: %w", err)
		}
	}
	return b, nil
}

// elision marks where Marshal shortened an error; minErrorBytes is the least it keeps.
const (
	elision       = " … "
	minErrorBytes = 64
)

// Parse decodes a Result written by Marshal. It rejects anything that is not a Result, so
// that a container's free-form termination message is never mistaken for one.
func Parse(data []byte) (*Result, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty result")
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("failed to decode result: %w", err)
	}
	if r.Kind != KindBackup && r.Kind != KindRestore && r.Kind != KindSnapshots {
		return nil, fmt.Errorf("result has unknown kind %q", r.Kind)
	}
	if r.Phase != PhaseSucceeded && r.Phase != PhaseFailed {
		return nil, fmt.Errorf("result has unknown phase %q", r.Phase)
	}
	if r.Packed != "" {
		snaps, err := unpack(r.Packed)
		if err != nil {
			return nil, err
		}
		r.Snapshots, r.Packed = append(r.Snapshots, snaps...), ""
	}
	return &r, nil
}

// ParseProgress decodes one stdout line; ok is false for lines that are not progress reports.
func ParseProgress(line []byte) (p Progress, ok bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Progress{}, false
	}
	if err := json.Unmarshal(line, &p); err != nil || p.Type != ProgressType {
		return Progress{}, false
	}
	return p, true
}

// WriteFile writes r to dir/output.json, atomically so a reader never sees half a file.
func WriteFile(dir string, r *Result) error {
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".output-*.json")
	if err != nil {
		return fmt.Errorf("failed to write result into %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write result into %s: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write result into %s: %w", dir, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, FileName)); err != nil {
		return fmt.Errorf("failed to write result into %s: %w", dir, err)
	}
	return nil
}

// ReadFile reads the Result a previous step left in dir.
func ReadFile(dir string) (*Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("failed to read result: %w", err)
	}
	return Parse(b)
}

// WriteTerminationMessage writes r where the kubelet reads the termination message. Outside
// a pod the path does not exist and nothing is written.
func WriteTerminationMessage(path string, r *Result) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("failed to write termination message: %w", err)
	}
	return nil
}

// FormatDuration renders d the way session statuses show durations.
func FormatDuration(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}
