package schedule

import (
	"testing"
	"time"
)

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		want     time.Duration
	}{
		{"*/5 * * * *", 5 * time.Minute},
		{"* * * * *", time.Minute},
		{"@hourly", time.Hour},
		{"@daily", 24 * time.Hour},
		{"30 2 * * *", 24 * time.Hour},
		// Twice a day at uneven hours: the longer gap counts.
		{"0 6,9 * * *", 21 * time.Hour},
		// Weekdays only: Friday to Monday.
		{"0 2 * * 1-5", 72 * time.Hour},
		{"@weekly", 7 * 24 * time.Hour},
		// The longest month of the ones looked at.
		{"0 0 1 * *", 31 * 24 * time.Hour},
		{"@every 90m", 90 * time.Minute},
	} {
		got, err := Interval(tc.schedule)
		if err != nil || got != tc.want {
			t.Errorf("Interval(%q) = %v, %v; want %v", tc.schedule, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "not a schedule", "61 * * * *"} {
		if got, err := Interval(bad); err == nil {
			t.Errorf("Interval(%q) = %v, want an error", bad, got)
		}
	}
}
