// Package snapshotjob is what a repository's snapshots Job does (`hoard snapshots`): it
// forgets the snapshots whose Snapshot objects were deleted, and compares restic's list with
// the snapshots the operator keeps objects for. Its result must fit a termination message
// (4 KiB): it carries the ids that are gone, and as many unknown snapshots as fit, oldest
// first and packed (result.Pack), with More set when others remain. The operator records those and runs the Job
// again, which then reports the next ones (docs/design/0021-snapshots-as-objects.md).
package snapshotjob

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

// Options configure one run.
type Options struct {
	// Known are the short ids of the snapshots the operator keeps objects for.
	Known []string
	// Forget are the ids (whole or short) of the snapshots to forget.
	Forget []string
	// Prune deletes the data no remaining snapshot uses, after a forget.
	Prune bool
	// SoleWriter: no other process uses the repository; a lock in the way is removed.
	SoleWriter bool
	// Log gets one line per step and per removed lock; may be nil.
	Log func(format string, args ...any)
	// Limit is the most bytes the encoded result may take; zero means the termination
	// message's limit minus a margin.
	Limit int
}

// Run forgets, then lists and compares. It always returns a Result of kind snapshots.
func Run(ctx context.Context, r *restic.Restic, o Options) *result.Result {
	start := time.Now()
	res := &result.Result{Kind: result.KindSnapshots, Phase: result.PhaseSucceeded}
	if err := run(ctx, r, o, res); err != nil {
		res.Phase = result.PhaseFailed
		res.Error = err.Error()
	}
	res.Duration = result.FormatDuration(time.Since(start))
	return res
}

func (o *Options) log(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

func run(ctx context.Context, r *restic.Restic, o Options, res *result.Result) error {
	var snaps []restic.Snapshot
	err := r.RetryAfterRemovingLocks(ctx, o.SoleWriter, o.Log, func() error {
		var err error
		snaps, err = r.Snapshots(ctx, restic.Filter{}, 0)
		return err
	})
	switch {
	case errors.Is(err, restic.ErrNoRepository):
		// Nothing was ever backed up: every known and every asked-for snapshot is gone.
		o.log("the repository does not exist (yet): it has no snapshots")
		snaps = nil
	case err != nil:
		return fmt.Errorf("failed to list the repository's snapshots: %w", err)
	}

	// Ids asked for that restic does not have are forgotten already (by retention, by hand).
	var present []string
	forgotten := map[string]bool{}
	for _, id := range o.Forget {
		if i := slices.IndexFunc(snaps, func(s restic.Snapshot) bool { return strings.HasPrefix(s.ID, id) }); i >= 0 {
			present = append(present, snaps[i].ID)
			forgotten[snaps[i].ID] = true
		}
		res.Forgotten = append(res.Forgotten, restic.ShortID(id))
	}
	if len(present) > 0 {
		o.log("forgetting %d snapshot(s)%s", len(present), map[bool]string{true: " and pruning", false: ""}[o.Prune])
		if err := r.RetryAfterRemovingLocks(ctx, o.SoleWriter, o.Log, func() error { return r.ForgetIDs(ctx, present, o.Prune) }); err != nil {
			res.Forgotten = nil
			return fmt.Errorf("failed to forget snapshot(s) %s: %w", shortIDs(present), err)
		}
	}

	known := map[string]bool{}
	for _, id := range o.Known {
		known[id] = true
	}
	have := map[string]bool{}
	var unknown []restic.Snapshot
	for _, s := range snaps {
		if forgotten[s.ID] {
			continue
		}
		short := restic.ShortID(s.ID)
		have[short] = true
		if !known[short] {
			unknown = append(unknown, s)
		}
	}
	for _, id := range o.Known {
		if !have[id] && !slices.Contains(res.Forgotten, id) {
			res.Gone = append(res.Gone, id)
		}
	}
	sort.Strings(res.Gone)
	if len(res.Gone) > maxGone {
		// The rest are reported by the next page, once the operator no longer knows these.
		o.log("%d known snapshot(s) are gone: this page reports %d", len(res.Gone), maxGone)
		res.Gone, res.More = res.Gone[:maxGone], true
	}
	sort.SliceStable(unknown, func(i, j int) bool { return unknown[i].Time.Before(unknown[j].Time) })
	o.log("restic has %d snapshot(s): %d unknown to the operator, %d known ones are gone", len(have), len(unknown), len(res.Gone))
	return fill(res, unknown, o.Limit)
}

// maxGone is the most gone ids one result reports (11 bytes each in JSON): with 250, a page
// keeps about a quarter of a termination message for the rest.
const maxGone = 250

// margin leaves room in a termination message for what Run adds after fill (duration) and
// for an error.
const margin = 256

// fill packs as many unknown snapshots, oldest first, as keep res's encoding within limit
// (result.Pack, found by bisection), and sets More when some did not fit.
func fill(res *result.Result, unknown []restic.Snapshot, limit int) error {
	if limit <= 0 {
		limit = result.MaxTerminationMessageBytes - margin
	}
	if len(unknown) == 0 {
		return nil
	}
	all := make([]result.Snapshot, len(unknown))
	for i := range unknown {
		all[i] = Describe(&unknown[i])
	}
	fits := func(n int) (string, bool) {
		packed, err := result.Pack(all[:n])
		if err != nil {
			return "", false
		}
		c := *res
		c.Packed = packed
		b, err := result.Marshal(&c)
		return packed, err == nil && len(b) <= limit
	}
	// The largest n that fits: fits(lo) holds, fits(hi+1) does not.
	lo, hi := 0, len(all)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if _, ok := fits(mid); ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0 {
		return fmt.Errorf("snapshot %s does not fit a termination message (%d tags)", restic.ShortID(unknown[0].ID), len(unknown[0].Tags))
	}
	res.Packed, _ = fits(lo)
	res.More = res.More || lo < len(all)
	return nil
}

// Describe is a snapshot as a result reports it: restic's fields, compactly.
func Describe(s *restic.Snapshot) result.Snapshot {
	out := result.Snapshot{
		Name:     restic.ShortID(s.ID),
		ID:       s.ID,
		Tree:     s.Tree,
		Paths:    s.Paths,
		Hostname: s.Hostname,
		Username: s.Username,
		UID:      int32(s.UID), //nolint:gosec // restic's uid is a process's, well below 2^31
		GID:      int32(s.GID), //nolint:gosec // as above
		Tags:     s.Tags,
	}
	if !s.Time.IsZero() {
		out.Time = s.Time.UTC().Format(time.RFC3339)
	}
	if s.Summary != nil {
		out.TotalBytes = int64(s.Summary.TotalBytesProcessed) //nolint:gosec // sizes are far below 2^63
	}
	return out
}

func shortIDs(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = restic.ShortID(id)
	}
	return strings.Join(out, ", ")
}

// KnownKey is the key, in the Secret the operator writes for a snapshots Job, of the short ids
// it keeps objects for (EncodeKnown). A Secret, not the command line: one argument may hold
// 128 KiB, about 14,000 ids, while a Secret holds 1 MiB of these, about 200,000.
const KnownKey = "known.gz"

// EncodeKnown packs short ids compactly: sorted, one a line, gzip. Random 8-hex ids take
// about 4.6 bytes each (hex is 4 bits a character).
func EncodeKnown(ids []string) ([]byte, error) {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	for _, id := range slices.Compact(sorted) {
		if strings.ContainsAny(id, "\n,") || id == "" {
			return nil, fmt.Errorf("invalid snapshot id %q", id)
		}
		if _, err := io.WriteString(zw, id+"\n"); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeKnown reads what EncodeKnown wrote.
func DecodeKnown(r io.Reader) ([]string, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("the known snapshot ids are not gzip: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("failed to read the known snapshot ids: %w", err)
	}
	return strings.Fields(string(b)), nil
}
