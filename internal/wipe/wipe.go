// Package wipe deletes a restic repository's data for `hoard wipe-repository`, the command
// the Repository controller runs in a Job when a Repository with wipeOut is deleted. Whether
// the Repository owns its location is the operator's decision; this package makes sure that
// only a restic repository, and only restic's own files in it, are deleted.
package wipe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hoard-operator/hoard/internal/restic"
)

// resticEntries are the entries restic creates in a repository directory, in the order they
// are deleted: the snapshots first, so that an interrupted wipe never leaves snapshots whose
// data is gone, and keys and config last, so that until then the directory stays
// recognisable as a repository and a second wipe can finish the job.
var resticEntries = []string{"snapshots", "index", "data", "locks", "keys", "config"}

// ErrNotRepository is a directory that is not a restic repository.
var ErrNotRepository = errors.New("not a restic repository")

// LocalReport is what a local wipe did.
type LocalReport struct {
	// Removed are restic's entries that were deleted.
	Removed []string
	// Left are the other entries of the directory, which were not touched.
	Left []string
}

// CheckLocal returns nil when dir is a restic repository: it has a non-empty config file and a
// keys directory holding at least one restic key file.
func CheckLocal(dir string) error {
	fi, err := os.Stat(filepath.Join(dir, "config"))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return fmt.Errorf("%s is %w: it has no restic config file", dir, ErrNotRepository)
	}
	keys, err := os.ReadDir(filepath.Join(dir, "keys"))
	if err != nil {
		return fmt.Errorf("%s is %w: it has no keys directory", dir, ErrNotRepository)
	}
	for _, k := range keys {
		if k.Type().IsRegular() && isKeyFile(filepath.Join(dir, "keys", k.Name())) {
			return nil
		}
	}
	return fmt.Errorf("%s is %w: its keys directory holds no restic key file", dir, ErrNotRepository)
}

// isKeyFile tells whether p is a restic key file: JSON with the key derivation's parameters.
func isKeyFile(p string) bool {
	b, err := os.ReadFile(p)
	if err != nil || len(b) > 64<<10 {
		return false
	}
	var k struct {
		KDF  string `json:"kdf"`
		Salt []byte `json:"salt"`
		Data []byte `json:"data"`
	}
	return json.Unmarshal(b, &k) == nil && k.KDF != "" && len(k.Salt) > 0 && len(k.Data) > 0
}

// LocalRepository deletes the restic repository in dir, the repository path of a local
// backend. It refuses a directory that is not a restic repository, deletes only restic's own
// entries, and reports the others, which it leaves in place. The directory itself stays: it
// is usually a volume's mount point.
func LocalRepository(dir string) (*LocalReport, error) {
	clean := filepath.Clean(dir)
	if !filepath.IsAbs(clean) || clean == "/" {
		return nil, fmt.Errorf("refusing to wipe %q: the local repository path must be an absolute path other than /", dir)
	}
	entries, err := os.ReadDir(clean)
	if err != nil {
		return nil, fmt.Errorf("failed to read repository directory %s: %w", clean, err)
	}
	if err := CheckLocal(clean); err != nil {
		return nil, fmt.Errorf("refusing to wipe: %w; nothing was deleted", err)
	}
	ours := map[string]bool{}
	for _, e := range resticEntries {
		ours[e] = true
	}
	rep := &LocalReport{}
	for _, e := range entries {
		if !ours[e.Name()] {
			rep.Left = append(rep.Left, e.Name())
		}
	}
	sort.Strings(rep.Left)
	for _, name := range resticEntries {
		p := filepath.Join(clean, name)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return rep, fmt.Errorf("failed to delete %s: %w", p, err)
		}
		rep.Removed = append(rep.Removed, name)
	}
	return rep, nil
}

// forgetBatch bounds the ids of one restic forget, to stay far below the argv limit.
const forgetBatch = 500

// RemoteOptions configure Remote.
type RemoteOptions struct {
	// SoleWriter says that no other process uses the repository: a lock that stops the wipe
	// is a leftover and is removed (restic unlock --remove-all), once.
	SoleWriter bool
	// Log gets one line per removed lock.
	Log func(format string, args ...any)
}

// Remote forgets every snapshot by id and prunes, which deletes all data packs; restic's
// config and keys stay, as restic cannot delete a repository itself. It returns how many
// snapshots were removed. Forgetting by id is the only way: a keep policy never removes the
// last snapshot of a group.
func Remote(ctx context.Context, r *restic.Restic, o RemoteOptions) (int, error) {
	var snaps []restic.Snapshot
	err := retryLocked(ctx, r, o, func() error {
		var err error
		snaps, err = r.Snapshots(ctx, restic.Filter{}, 0)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("failed to list snapshots: %w", err)
	}
	ids := make([]string, len(snaps))
	for i, s := range snaps {
		ids[i] = s.ID
	}
	for start := 0; start < len(ids); start += forgetBatch {
		end := min(start+forgetBatch, len(ids))
		// Prune once, with the last batch.
		prune := end == len(ids)
		err := retryLocked(ctx, r, o, func() error { return r.ForgetIDs(ctx, ids[start:end], prune) })
		if err != nil {
			return start, fmt.Errorf("failed to forget snapshots %d to %d of %d: %w", start+1, end, len(ids), err)
		}
	}
	return len(ids), nil
}

// Report is what Repository did.
type Report struct {
	// Provider is the repository's backend.
	Provider string
	// Dir and Local, for a local repository: its directory and what was deleted there.
	Dir   string
	Local *LocalReport
	// Forgotten, for the other backends: how many snapshots were forgotten.
	Forgotten int
}

// Done is the one line saying what was deleted. It never names a remote repository's URL,
// which for rest carries credentials.
func (r *Report) Done() string {
	if r.Local != nil {
		return fmt.Sprintf("deleted restic's entries %s from local repository %s", strings.Join(r.Local.Removed, ", "), r.Dir)
	}
	return fmt.Sprintf("forgot %d snapshot(s) and pruned the %s repository; restic keeps its config and keys files", r.Forgotten, r.Provider)
}

// Kept is the line naming what a local wipe left in place, not being restic's; "" when none.
func (r *Report) Kept() string {
	if r.Local == nil || len(r.Local.Left) == 0 {
		return ""
	}
	return "left in place, not restic's: " + strings.Join(r.Local.Left, ", ")
}

// Repository wipes the repository cfg names, the one decision between the two ways
// (design record 0005): a local repository is deleted in its directory (LocalRepository,
// bucket and prefix joined), any other by forgetting every snapshot and pruning (Remote,
// through the restic that open prepares; open is not called for a local repository).
func Repository(ctx context.Context, cfg restic.Config, open func() (*restic.Restic, error), o RemoteOptions) (*Report, error) {
	rep := &Report{Provider: cfg.Provider}
	if cfg.Provider == restic.ProviderLocal {
		rep.Dir = filepath.Join(cfg.Bucket, cfg.Prefix)
		local, err := LocalRepository(rep.Dir)
		rep.Local = local
		return rep, err
	}
	r, err := open()
	if err != nil {
		return rep, err
	}
	rep.Forgotten, err = Remote(ctx, r, o)
	return rep, err
}

func retryLocked(ctx context.Context, r *restic.Restic, o RemoteOptions, f func() error) error {
	return r.RetryAfterRemovingLocks(ctx, o.SoleWriter, o.Log, f)
}
