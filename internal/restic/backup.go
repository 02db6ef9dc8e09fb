package restic

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// BackupOptions configure a backup of a command's standard output.
type BackupOptions struct {
	// Host is stored as the snapshot's hostname (--host).
	Host string
	// Tags are added to the snapshot, each as one --tag.
	Tags []string
	// Filename is the name of the single file in the snapshot (--stdin-filename).
	Filename string
	// Command is run by restic; its stdout becomes the file. If it exits non-zero, restic
	// creates no snapshot.
	Command []string
}

// BackupStatus is restic's periodic "status" message.
type BackupStatus struct {
	SecondsElapsed uint64  `json:"seconds_elapsed"`
	PercentDone    float64 `json:"percent_done"`
	TotalBytes     uint64  `json:"total_bytes"`
	BytesDone      uint64  `json:"bytes_done"`
	ErrorCount     uint    `json:"error_count"`
}

// BackupSummary is restic's final "summary" message.
type BackupSummary struct {
	SnapshotID          string    `json:"snapshot_id"`
	FilesNew            uint      `json:"files_new"`
	FilesChanged        uint      `json:"files_changed"`
	FilesUnmodified     uint      `json:"files_unmodified"`
	DataBlobs           int       `json:"data_blobs"`
	TreeBlobs           int       `json:"tree_blobs"`
	DataAdded           uint64    `json:"data_added"`
	DataAddedPacked     uint64    `json:"data_added_packed"`
	TotalFilesProcessed uint      `json:"total_files_processed"`
	TotalBytesProcessed uint64    `json:"total_bytes_processed"`
	TotalDuration       float64   `json:"total_duration"`
	BackupStart         time.Time `json:"backup_start"`
	BackupEnd           time.Time `json:"backup_end"`
}

// backupMessage is any line of `restic backup --json`.
type backupMessage struct {
	MessageType string `json:"message_type"`
	BackupStatus
	BackupSummary
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
	During string `json:"during"`
	Item   string `json:"item"`
}

// BackupFromCommand runs `restic backup --stdin-from-command`, calling onStatus for each
// progress message (onStatus may be nil). A non-zero exit of the command, or of restic,
// returns an error and leaves no snapshot.
func (r *Restic) BackupFromCommand(ctx context.Context, o BackupOptions, onStatus func(BackupStatus)) (*BackupSummary, error) {
	if len(o.Command) == 0 {
		return nil, fmt.Errorf("no command to back up the output of")
	}
	return r.backupStdin(ctx, o, []string{"--stdin-from-command"}, append([]string{"--"}, o.Command...), nil, onStatus)
}

// BackupReader runs `restic backup --stdin` on in: a snapshot of one file, named
// o.Filename, with in's content (o.Command is not used).
func (r *Restic) BackupReader(ctx context.Context, o BackupOptions, in io.Reader) (*BackupSummary, error) {
	return r.backupStdin(ctx, o, []string{"--stdin"}, nil, in, nil)
}

func (r *Restic) backupStdin(ctx context.Context, o BackupOptions, source, args []string, in io.Reader, onStatus func(BackupStatus)) (*BackupSummary, error) {
	flags := append(source, "--stdin-filename", o.Filename)
	if o.Host != "" {
		flags = append(flags, "--host", o.Host)
	}
	for _, t := range o.Tags {
		flags = append(flags, "--tag", t)
	}
	var summary *BackupSummary
	var itemErrors []string
	lw := &lineWriter{fn: func(line []byte) {
		var m backupMessage
		if json.Unmarshal(line, &m) != nil {
			return
		}
		switch m.MessageType {
		case "status":
			if onStatus != nil {
				onStatus(m.BackupStatus)
			}
		case "summary":
			s := m.BackupSummary
			summary = &s
		case "error":
			if m.Error != nil {
				itemErrors = append(itemErrors, fmt.Sprintf("%s %s: %s", m.During, m.Item, m.Error.Message))
			}
		}
	}}
	err := r.run(ctx, call{command: "backup", json: true, flags: flags, args: args, stdout: lw, stdin: in})
	lw.Flush()
	if err != nil {
		return nil, err
	}
	if summary == nil || summary.SnapshotID == "" {
		return nil, fmt.Errorf("restic backup exited successfully but reported no snapshot (errors: %v)", itemErrors)
	}
	return summary, nil
}
