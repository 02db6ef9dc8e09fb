package restic

import (
	"bytes"
	"context"
	"strconv"
	"strings"
)

// ForgetOptions is a retention policy, applied to the snapshots selected by Filter.
type ForgetOptions struct {
	Filter
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly int
	KeepTags                                                             []string
	Prune, DryRun                                                        bool
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

// Forget applies the policy and returns restic's decision per group. With DryRun nothing is
// removed.
func (r *Restic) Forget(ctx context.Context, o ForgetOptions) ([]ForgetGroup, error) {
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
	if len(o.KeepTags) > 0 {
		flags = append(flags, "--keep-tag", strings.Join(o.KeepTags, ","))
	}
	if o.Prune {
		flags = append(flags, "--prune")
	}
	if o.DryRun {
		flags = append(flags, "--dry-run")
	}
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "forget", json: true, flags: flags, stdout: &out}); err != nil {
		return nil, err
	}
	var groups []ForgetGroup
	if err := decodeJSON("forget", out.Bytes(), &groups); err != nil {
		return nil, err
	}
	return groups, nil
}

// Removed counts the snapshots a forget run removed (or would remove, with DryRun).
func Removed(groups []ForgetGroup) int {
	n := 0
	for _, g := range groups {
		n += len(g.Remove)
	}
	return n
}
