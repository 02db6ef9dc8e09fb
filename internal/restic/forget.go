package restic

import (
	"bytes"
	"context"
	"strconv"
)

// ForgetOptions is a retention policy, applied to the snapshots selected by Filter.
type ForgetOptions struct {
	Filter
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly int
	// KeepTags keeps every snapshot that has any one of these tags.
	KeepTags      []string
	Prune, DryRun bool
}

// Empty reports whether the policy keeps nothing explicitly, in which case restic would
// refuse to run (and upstream Stash skipped retention).
func (o ForgetOptions) Empty() bool {
	return o.KeepLast <= 0 && o.KeepHourly <= 0 && o.KeepDaily <= 0 && o.KeepWeekly <= 0 &&
		o.KeepMonthly <= 0 && o.KeepYearly <= 0 && len(o.KeepTags) == 0
}

// ForgetGroup is one group of `restic forget --json`.
type ForgetGroup struct {
	Host   string     `json:"host"`
	Tags   []string   `json:"tags"`
	Paths  []string   `json:"paths"`
	Keep   []Snapshot `json:"keep"`
	Remove []Snapshot `json:"remove"`
}

func forgetCall(o ForgetOptions) call {
	flags := o.Filter.flags()
	for _, k := range []struct {
		flag string
		n    int
	}{
		{"--keep-last", o.KeepLast}, {"--keep-hourly", o.KeepHourly}, {"--keep-daily", o.KeepDaily},
		{"--keep-weekly", o.KeepWeekly}, {"--keep-monthly", o.KeepMonthly}, {"--keep-yearly", o.KeepYearly},
	} {
		if k.n > 0 {
			flags = append(flags, k.flag, strconv.Itoa(k.n))
		}
	}
	// One --keep-tag per tag: restic reads a comma-joined list as "has all of them".
	for _, t := range o.KeepTags {
		flags = append(flags, "--keep-tag", t)
	}
	if o.Prune {
		flags = append(flags, "--prune")
	}
	if o.DryRun {
		flags = append(flags, "--dry-run")
	}
	return call{command: "forget", json: true, flags: flags}
}

// Forget applies the policy and returns restic's decision per group. With DryRun nothing is
// removed. When the filter selects no snapshot, restic prints nothing and there are no groups.
func (r *Restic) Forget(ctx context.Context, o ForgetOptions) ([]ForgetGroup, error) {
	c := forgetCall(o)
	var out bytes.Buffer
	c.stdout = &out
	if err := r.run(ctx, c); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(out.Bytes())) == 0 {
		return nil, nil
	}
	var groups []ForgetGroup
	if err := decodeJSON("forget", out.Bytes(), &groups); err != nil {
		return nil, err
	}
	return groups, nil
}

// ForgetIDs removes the snapshots with these ids, whatever any policy says, and with prune
// deletes the data no remaining snapshot uses.
func (r *Restic) ForgetIDs(ctx context.Context, ids []string, prune bool) error {
	c := forgetIDsCall(ids, prune)
	return r.run(ctx, c)
}

func forgetIDsCall(ids []string, prune bool) call {
	var flags []string
	if prune {
		flags = append(flags, "--prune")
	}
	return call{command: "forget", flags: flags, args: append([]string{"--"}, ids...)}
}

// Removed counts the snapshots a forget run removed (or would remove, with DryRun).
func Removed(groups []ForgetGroup) int {
	n := 0
	for _, g := range groups {
		n += len(g.Remove)
	}
	return n
}
