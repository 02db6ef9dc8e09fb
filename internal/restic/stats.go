package restic

import (
	"bytes"
	"context"
)

// Stats is the output of `restic stats --json`.
type Stats struct {
	TotalSize             uint64  `json:"total_size"`
	TotalUncompressedSize uint64  `json:"total_uncompressed_size"`
	CompressionRatio      float64 `json:"compression_ratio"`
	TotalBlobCount        uint64  `json:"total_blob_count"`
	TotalFileCount        uint64  `json:"total_file_count"`
	SnapshotsCount        int     `json:"snapshots_count"`
}

// StatsOptions configure `restic stats`.
type StatsOptions struct {
	// Mode is restic's --mode (raw-data is what the repository stores, after deduplication
	// and compression); restic's default when empty.
	Mode string
	// NoLock reads without a repository lock, so that it can run next to a process holding
	// an exclusive one (e.g. check). A concurrent prune can then make it fail.
	NoLock bool
}

// Stats reports the repository's size over all snapshots.
func (r *Restic) Stats(ctx context.Context, o StatsOptions) (*Stats, error) {
	var flags []string
	if o.Mode != "" {
		flags = append(flags, "--mode", o.Mode)
	}
	if o.NoLock {
		flags = append(flags, "--no-lock")
	}
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "stats", json: true, flags: flags, stdout: &out}); err != nil {
		return nil, err
	}
	var s Stats
	if err := decodeJSON("stats", out.Bytes(), &s); err != nil {
		return nil, err
	}
	return &s, nil
}
