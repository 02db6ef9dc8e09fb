package app

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoard-operator/hoard/internal/addon"
)

func newRestoreCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &addon.RestoreOptions{}
	out := &output{}
	cmd := &cobra.Command{
		Use:   "restore-mysql",
		Short: "Load a snapshot's dump into the database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Env = os.Environ()
			o.Stdout, o.Stderr = stdout, stderr
			res := addon.Restore(cmd.Context(), o)
			return out.write(res, stderr)
		},
	}
	fs := cmd.Flags()
	addCommonFlags(fs, &o.Common)
	out.addFlags(fs)
	addIgnoredFlags(fs)
	fs.StringVar(&o.MySQLArgs, "mysql-args", "", "extra mysql arguments, e.g. a database to load into")
	fs.StringVar(&o.SourceHostname, "source-hostname", "", "host whose snapshot to restore (default: --hostname)")
	fs.StringVar(&o.Snapshot, "snapshot", "latest", "snapshot to restore: latest, a snapshot id or a snapshot name")
	fs.String("restoresession", "", "RestoreSession name (informational)")
	fs.String("invoker-kind", "", "ignored")
	fs.String("invoker-name", "", "ignored")
	fs.StringVar(&o.TargetKind, "target-kind", "", "kind of the restore's target: \"latest\" prefers the snapshots of <namespace>/<kind>/<name>")
	fs.StringVar(&o.TargetName, "target-name", "", "name of the restore's target")
	fs.StringVar(&o.Mode, "restore-mode", addon.ModeEngine, "how to load the dump: engine (several connections, secondary indexes after the rows) or pipe (restic dump | mysql, as Stash did; also used when --mysql-args are given)")
	fs.IntVar(&o.Connections, "connections", 0, "loading connections of the restore engine (0: one per CPU)")
	fs.BoolVar(&o.SkipBinlog, "skip-binlog", false, "the restore engine's sessions do not write the binary log (sql_log_bin=0): replicas do not get the restored data; needs the privilege to set it")
	fs.BoolVar(&o.KeepAccounts, "keep-accounts", false, "the restore engine leaves the server's mysql schema, and so its accounts, as they are: the dump's mysql schema and its account statements (CREATE USER, GRANT…) are skipped")
	fs.BoolVar(&o.Verify, "verify", false, "after the restore engine's load, compare every table's rows with the record the dump carries of them (written at backup time); for a restore into an empty scratch server")
	fs.StringVar(&o.VerifySQL, "verify-sql", "", "SQL assertions for --verify, run on the scratch server after the comparison in a read-only transaction: each statement must return a row whose first column is true (USE selects the database of those after it)")
	fs.StringVar(&o.Until, "until", "", "point-in-time recovery: load the newest dump taken before this time (RFC 3339, or \"YYYY-MM-DD HH:MM:SS\" in UTC), then replay the shipped binary logs up to it")
	fs.StringVar(&o.UntilGTID, "until-gtid", "", "point-in-time recovery to a transaction: load the newest dump before it, then replay the shipped binary logs up to its end (domain-server-sequence)")
	fs.BoolVar(&o.NoDeferIndexes, "no-defer-indexes", false, "the restore engine creates secondary indexes with their tables, not after the rows")
	fs.StringVar(&o.SourceTarget, "source-target", "", "restore \"latest\" of this target, <Kind>/<name> or <namespace>/<Kind>/<name> (the Task param sourceTarget)")
	return cmd
}
