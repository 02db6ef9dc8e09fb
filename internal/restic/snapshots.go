package restic

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"
)

// Snapshot is one entry of `restic snapshots --json`.
type Snapshot struct {
	ID       string           `json:"id"`
	ShortID  string           `json:"short_id"`
	Time     time.Time        `json:"time"`
	Paths    []string         `json:"paths"`
	Hostname string           `json:"hostname"`
	Username string           `json:"username"`
	UID      uint32           `json:"uid"`
	GID      uint32           `json:"gid"`
	Tree     string           `json:"tree"`
	Tags     []string         `json:"tags"`
	Summary  *SnapshotSummary `json:"summary,omitempty"`
}

// SnapshotSummary is the backup summary restic ≥ 0.17 stores in a snapshot.
type SnapshotSummary struct {
	TotalFilesProcessed uint   `json:"total_files_processed"`
	TotalBytesProcessed uint64 `json:"total_bytes_processed"`
}

// Filter selects snapshots. Tags must all be present (restic's comma-joined --tag).
type Filter struct {
	Host  string
	Tags  []string
	Paths []string
}

func (f Filter) flags() []string {
	var out []string
	if f.Host != "" {
		out = append(out, "--host", f.Host)
	}
	if len(f.Tags) > 0 {
		out = append(out, "--tag", strings.Join(f.Tags, ","))
	}
	for _, p := range f.Paths {
		out = append(out, "--path", p)
	}
	return out
}

// Snapshots lists the snapshots matching f; latest > 0 keeps only the newest n per group, and
// ids, when given, restrict the list to those snapshots.
func (r *Restic) Snapshots(ctx context.Context, f Filter, latest int, ids ...string) ([]Snapshot, error) {
	flags := f.flags()
	if latest > 0 {
		flags = append(flags, "--latest", strconv.Itoa(latest))
	}
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "snapshots", json: true, flags: flags, args: ids, stdout: &out}); err != nil {
		return nil, err
	}
	var snaps []Snapshot
	if err := decodeJSON("snapshots", out.Bytes(), &snaps); err != nil {
		return nil, err
	}
	return snaps, nil
}

// ShortID is restic's short form of a snapshot id: its first 8 hex digits.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
