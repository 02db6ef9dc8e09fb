// Package wipe deletes a restic repository's data for `hoard wipe-repository`, the command
// the Repository controller runs in a Job when a Repository with wipeOut is deleted.
package wipe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hoard-operator/hoard/internal/restic"
)

// LocalDir deletes everything inside dir, the mount path of a local backend, and returns how
// many entries it removed. The directory itself stays: it is usually a volume's mount point.
func LocalDir(dir string) (int, error) {
	clean := filepath.Clean(dir)
	if !filepath.IsAbs(clean) || clean == "/" {
		return 0, fmt.Errorf("refusing to wipe %q: the local repository path must be an absolute path other than /", dir)
	}
	entries, err := os.ReadDir(clean)
	if err != nil {
		return 0, fmt.Errorf("failed to read repository directory %s: %w", clean, err)
	}
	for i, e := range entries {
		if err := os.RemoveAll(filepath.Join(clean, e.Name())); err != nil {
			return i, fmt.Errorf("failed to delete %s: %w", filepath.Join(clean, e.Name()), err)
		}
	}
	return len(entries), nil
}

// Remote forgets every snapshot by id with --prune, which deletes all data packs; restic's
// config and keys stay, as restic cannot delete a repository itself. It returns how many
// snapshots were removed. Forgetting by id is the only way: a keep policy never removes
// the last snapshot of a group. internal/restic has no forget-by-id, so that one call is
// made here, with the same environment (credentials only in env, never in argv).
func Remote(ctx context.Context, r *restic.Restic, setup *restic.Setup, opts restic.Options) (int, error) {
	snaps, err := r.Snapshots(ctx, restic.Filter{}, 0)
	if err != nil {
		return 0, fmt.Errorf("failed to list snapshots: %w", err)
	}
	if len(snaps) == 0 {
		return 0, nil
	}
	args := append([]string{"forget"}, setup.Flags...)
	args = append(args, "--prune")
	for _, s := range snaps {
		args = append(args, s.ID)
	}
	bin := opts.Binary
	if bin == "" {
		bin = "restic"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = environ(opts.BaseEnv, setup, opts.TempDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := string(out)
		for _, secret := range setup.Secrets {
			msg = strings.ReplaceAll(msg, secret, "***")
		}
		return 0, fmt.Errorf("restic forget --prune failed: %w: %s", err, strings.TrimSpace(msg))
	}
	return len(snaps), nil
}

// environ is base without any RESTIC_* variable, plus the repository's own environment.
func environ(base []string, setup *restic.Setup, tmp string) []string {
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := setup.Env[k]; ours || strings.HasPrefix(k, "RESTIC_") || k == "TMPDIR" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, setup.Environ()...)
	if tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return env
}
