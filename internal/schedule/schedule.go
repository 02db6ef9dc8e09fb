// Package schedule reads cron schedules as the BackupConfiguration's CronJob takes them.
package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

const (
	// scheduleSpan is how far ScheduleInterval looks: a week and a day covers every weekly
	// pattern (weekdays only, weekends off) with the wrap-around gap.
	scheduleSpan = 8 * 24 * time.Hour
	// scheduleMinFires makes monthly and yearly schedules, whose gaps exceed the span, still
	// compare two gaps.
	scheduleMinFires = 3
	// scheduleMaxFires bounds the work for schedules that fire every minute: a week of fires
	// every five minutes.
	scheduleMaxFires = 7 * 24 * 12
)

// Interval returns the longest gap between two fires of a cron schedule (5 fields or a
// macro, as the BackupConfiguration's CronJob takes it). An overdue alert must wait for the
// longest gap, or a weekday-only schedule pages every Monday.
func Interval(schedule string) (time.Duration, error) {
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return 0, fmt.Errorf("invalid schedule %q: %w", schedule, err)
	}
	// Fires are counted from a fixed Monday, so the interval of a schedule is a function of the
	// schedule alone, the same at every scrape.
	prev := s.Next(time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC))
	if prev.IsZero() {
		return 0, fmt.Errorf("schedule %q never fires", schedule)
	}
	var longest time.Duration
	end := prev.Add(scheduleSpan)
	for fires := 1; fires < scheduleMaxFires && (prev.Before(end) || fires < scheduleMinFires); fires++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	if longest == 0 {
		return 0, fmt.Errorf("schedule %q fires only once", schedule)
	}
	return longest, nil
}
