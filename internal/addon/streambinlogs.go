package addon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/hoard-operator/hoard/internal/binlog"
	"github.com/hoard-operator/hoard/internal/mysql"
)

// stream follows the server's binary logs from file, the active one, for o.StreamFor: a
// replica connection copies them as the server writes them, and every o.ShipEvery the whole
// transactions copied since the last time are shipped, the start of a file still written to
// as a partial snapshot that the next supersedes (design 0043). What was copied when the
// stream ends is shipped too; the next run closes the file and ships it whole.
func (b *binlogShipping) stream(ctx context.Context, file string) error {
	o := b.o
	dir := filepath.Join(b.s.work, "stream")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create a directory for the binary log stream: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	argv := b.s.db.StreamBinlogsCommand(dir, file, streamServerID(o))
	cmd := exec.CommandContext(sctx, argv[0], argv[1:]...)
	cmd.Env = b.s.db.Env
	// SIGTERM first: a half-written last event is left out anyway (binlog.ReadComplete).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	tail := mysql.NewTail(4096)
	cmd.Stdout, cmd.Stderr = tail, tail
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to stream the binary logs: %w", mysql.RunError(argv, err, nil))
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// halt stops the stream when this side ends it: the client's exit then is only logged.
	halt := func() {
		stop()
		if err := <-exited; err != nil {
			b.s.log.Info("binary log stream stopped", "client", err.Error())
		}
	}
	b.s.log.Info("streaming the binary logs", "from", file, "shipEvery", o.ShipEvery.String(), "for", o.StreamFor.String())

	sent := map[string]streamedFile{}
	tick := time.NewTicker(o.ShipEvery)
	defer tick.Stop()
	end := time.NewTimer(o.StreamFor)
	defer end.Stop()
	var ended error
loop:
	for {
		select {
		case <-tick.C:
			if err := b.shipStreamed(ctx, dir, sent); err != nil {
				halt()
				return err
			}
		case err := <-exited:
			if err == nil {
				err = errors.New(argv[0] + " exited")
			} else {
				err = mysql.RunError(argv, err, tail.Lines())
			}
			ended = fmt.Errorf("the binary log stream from the server ended before its time (what it copied is shipped; the next run goes on from there): %w", err)
			break loop
		case <-end.C:
			halt()
			break loop
		case <-ctx.Done():
			halt()
			return ctx.Err()
		}
	}
	if err := b.shipStreamed(ctx, dir, sent); err != nil {
		return err
	}
	if ended != nil {
		return ended
	}
	b.s.log.Info("binary log stream ended", "files", len(sent), "for", o.StreamFor.String())
	return nil
}

// streamedFile is how much of a streamed file was shipped; a closed one shipped whole is not
// read again.
type streamedFile struct {
	size   int64
	closed bool
}

// shipStreamed ships, of each file in dir, the whole transactions copied since sent[file],
// oldest file first; a closed file whole and for good.
func (b *binlogShipping) shipStreamed(ctx context.Context, dir string, sent map[string]streamedFile) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("failed to list the streamed binary logs: %w", err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	sort.Slice(files, func(i, j int) bool { return binlogAfter(files[j], files[i]) })
	for _, f := range files {
		if sent[f].closed {
			continue
		}
		path := filepath.Join(dir, f)
		c, info, err := readStreamed(path, sent[f].size)
		if err != nil {
			return fmt.Errorf("streamed binary log %s: %w", f, err)
		}
		// Nothing new, or nothing to recover in it yet: no snapshot.
		if info == nil || !c.Closed && info.Transactions == 0 {
			continue
		}
		if err := b.ship(ctx, path, f, c.Size, !c.Closed, info); err != nil {
			return fmt.Errorf("failed to ship streamed binary log %s: %w", f, err)
		}
		sent[f] = streamedFile{size: c.Size, closed: c.Closed}
	}
	return nil
}

// readStreamed reads a streamed file's whole transactions, and what they hold when they reach
// past sent; info is nil when they do not.
func readStreamed(path string, sent int64) (binlog.Complete, *binlog.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return binlog.Complete{}, nil, err
	}
	defer f.Close()
	c, err := binlog.ReadComplete(bufio.NewReaderSize(f, 1<<20))
	if err != nil || c.Size <= sent {
		return c, nil, err
	}
	info, err := binlog.Read(bufio.NewReaderSize(io.NewSectionReader(f, 0, c.Size), 1<<20))
	return c, info, err
}

// streamServerID is the replica server id the stream connects with: one per target, so that
// two targets' streams from one server do not end each other's, and in the upper half of the
// ids, away from those of real replicas.
func streamServerID(o *BackupOptions) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(o.Target().String()))
	return h.Sum32() | 1<<31
}
