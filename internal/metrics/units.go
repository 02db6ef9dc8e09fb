package metrics

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sizeRe splits a human-readable size into its number and unit. Statuses hold sizes the way
// restic prints them ("6.815 MiB", "512 B"); older upstream Stash objects sometimes lack the
// space ("6.815MiB"), so the space is optional.
var sizeRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)$`)

// unitBytes returns how many bytes one unit (lower-cased) is. restic and Stash only write the
// binary (IEC) units; the decimal ones are accepted because users edit statuses of migrated
// objects by hand, and a metric off by a few percent beats no metric.
func unitBytes(unit string) (float64, bool) {
	switch unit {
	case "", "b", "byte", "bytes":
		return 1, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	case "pib":
		return 1 << 50, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "pb":
		return 1e15, true
	}
	return 0, false
}

// ParseBytes turns a human-readable size such as "6.815 MiB" into bytes.
func ParseBytes(s string) (float64, error) {
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult, ok := unitBytes(strings.ToLower(m[2]))
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, m[2])
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	return n * mult, nil
}

// ParseSeconds turns a duration from a status into seconds. Hoard writes Go durations
// ("20.1s", "1m2.5s"); restic's own summaries and some upstream Stash versions wrote clock
// durations ("0:03", "1:02:03") or bare seconds ("3.5"), which are accepted too so that
// statuses of migrated objects still produce metrics.
func ParseSeconds(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return d.Seconds(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return f, nil
	}
	if parts := strings.Split(s, ":"); len(parts) == 2 || len(parts) == 3 {
		var total float64
		for i, p := range parts {
			// Every field but the first is a two-digit 0–59 count; the first may be any size
			// ("125:03" is 125 minutes).
			if p == "" || (i > 0 && len(p) != 2 && !strings.Contains(p, ".")) {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || (i > 0 && f >= 60) {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			total = total*60 + f
		}
		return total, nil
	}
	return 0, fmt.Errorf("invalid duration %q", s)
}
