package names

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestShorten(t *testing.T) {
	short := "sample-mysql-backup-1795502040"
	if got := LabelValue(short); got != short {
		t.Errorf("LabelValue(%q) = %q, want it unchanged", short, got)
	}
	// A 63-character configuration name plus the trigger's "-<unix seconds>".
	long := strings.Repeat("a", 62) + "b-1795502040"
	other := strings.Repeat("a", 62) + "b-1795502041"
	a, b := LabelValue(long), LabelValue(other)
	if len(a) != MaxLabelValue {
		t.Errorf("len(LabelValue) = %d, want %d", len(a), MaxLabelValue)
	}
	if a == b {
		t.Errorf("two long names shortened to the same value %q", a)
	}
	if errs := validation.IsValidLabelValue(a); len(errs) > 0 {
		t.Errorf("LabelValue(%q) = %q is not a label value: %v", long, a, errs)
	}
	// Separators at the cut are trimmed so the value ends alphanumerically.
	dashed := strings.Repeat("x", 51) + "--------------------"
	if got := LabelValue(dashed); strings.Contains(got, "--") || len(validation.IsValidLabelValue(got)) > 0 {
		t.Errorf("LabelValue(%q) = %q", dashed, got)
	}
	name := strings.Repeat("n", 250) + "-1795502040"
	if got := Shorten(name, MaxObjectName); len(got) != MaxObjectName || len(validation.IsDNS1123Subdomain(got)) > 0 {
		t.Errorf("Shorten(%d chars, 253) = %d chars, valid: %v", len(name), len(got), validation.IsDNS1123Subdomain(got))
	}
}

func TestPushgatewayJob(t *testing.T) {
	if got := PushgatewayJob("BackupConfiguration", "demo", "mysql-backup"); got != "backupconfiguration-demo-mysql-backup" {
		t.Errorf("JobName = %q", got)
	}
	if got := PushgatewayJob("RestoreSession", "demo", "restore"); got != "restoresession-demo-restore" {
		t.Errorf("JobName = %q", got)
	}
}

// TestPrefixed pins the names of objects that outlive an operator upgrade: a change here would
// orphan the wipe Jobs and trigger CronJobs of long-named objects.
func TestPrefixed(t *testing.T) {
	cases := []struct {
		prefix, name string
		max          int
		want         string
	}{
		{"stash-wipe-", "repo", MaxLabelValue, "stash-wipe-repo"},
		{"stash-wipe-", strings.Repeat("r", 40) + "-----" + strings.Repeat("x", 20), MaxLabelValue,
			"stash-wipe-rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr-de87f33b"},
		{"stash-trigger-", strings.Repeat("b", 45), 52, "stash-trigger-bbbbbbbbbbbbbbbbbbbbbbbbbbbbb-47a12102"},
	}
	for _, tc := range cases {
		if got := Prefixed(tc.prefix, tc.name, tc.max); got != tc.want || len(got) > tc.max {
			t.Errorf("Prefixed(%q, %q, %d) = %q, want %q", tc.prefix, tc.name, tc.max, got, tc.want)
		}
	}
}
