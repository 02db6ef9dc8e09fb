package app

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/addon"
)

func newBackupCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &addon.BackupOptions{}
	out := &output{}
	cmd := &cobra.Command{
		Use:   "backup-mysql",
		Short: "Dump the database into a new restic snapshot, then apply retention and check the repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("failed to find this executable: %w", err)
			}
			o.Self = self
			o.Env = os.Environ()
			o.Stdout, o.Stderr = stdout, stderr
			res := addon.Backup(cmd.Context(), o)
			return out.write(res, stderr)
		},
	}
	fs := cmd.Flags()
	addCommonFlags(fs, &o.Common)
	out.addFlags(fs)
	addIgnoredFlags(fs)
	fs.StringVar(&o.MySQLArgs, "mysql-args", "--all-databases", "mysqldump arguments selecting what to dump (replace --all-databases)")
	fs.StringVar(&o.Mode, "backup-mode", addon.BackupModeDump, "what to back up: dump (the databases, with mysqldump) or binlogs (the binary logs the server closed since the last run, for point-in-time recovery)")
	fs.DurationVar(&o.ShipEvery, "ship-every", 0, "with --backup-mode=binlogs: stream the active binary log and ship its whole transactions at this interval (e.g. 5s); 0 ships closed files only")
	fs.DurationVar(&o.StreamFor, "stream-for", 50*time.Second, "with --ship-every: how long a run streams before it ends and frees the repository; a little under the schedule's interval")
	fs.DurationVar(&o.ScheduleInterval, "schedule-interval", 0, "the longest gap between two runs of the schedule (the operator sets it); binary log shipping needs the server to keep its logs twice as long")
	fs.String("backupsession", "", "BackupSession name (informational)")
	fs.StringVar(&o.InvokerKind, "invoker-kind", "", "kind of the invoker, tagged as invoker=<kind>/<name>")
	fs.StringVar(&o.InvokerName, "invoker-name", "", "name of the invoker")
	fs.StringVar(&o.TargetKind, "target-kind", "", "kind of the target, tagged as target=<kind>/<name>")
	fs.StringVar(&o.TargetName, "target-name", "", "name of the target")
	r := &o.Retention
	fs.IntVar(&r.KeepLast, "retention-keep-last", 0, "keep the last n snapshots")
	fs.IntVar(&r.KeepHourly, "retention-keep-hourly", 0, "keep the last n hourly snapshots")
	fs.IntVar(&r.KeepDaily, "retention-keep-daily", 0, "keep the last n daily snapshots")
	fs.IntVar(&r.KeepWeekly, "retention-keep-weekly", 0, "keep the last n weekly snapshots")
	fs.IntVar(&r.KeepMonthly, "retention-keep-monthly", 0, "keep the last n monthly snapshots")
	fs.IntVar(&r.KeepYearly, "retention-keep-yearly", 0, "keep the last n yearly snapshots")
	fs.StringSliceVar(&r.KeepTags, "retention-keep-tags", nil, "keep snapshots with these tags")
	fs.BoolVar(&r.Prune, "retention-prune", false, "prune data no snapshot uses any more")
	fs.BoolVar(&r.DryRun, "retention-dry-run", false, "only report what retention would remove")
	fs.StringVar(&o.CheckReadDataSubset, "check-read-data-subset", "", "also read this part of the data when checking, e.g. 5% or 1/10")
	return cmd
}
