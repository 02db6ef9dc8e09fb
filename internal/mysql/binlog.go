package mysql

import (
	"strconv"
	"strings"
	"time"
)

func (c *Client) mysqlbinlogBin() string {
	if c.MySQLBinlog == "" {
		return "mysqlbinlog"
	}
	return c.MySQLBinlog
}

// FetchBinlogsCommand is the mysqlbinlog argv that copies the server's binary log files,
// byte for byte, into dir over the replication protocol: the account needs REPLICATION
// SLAVE, and nothing on the server's disk is read.
func (c *Client) FetchBinlogsCommand(dir string, files []string) []string {
	argv := append(append([]string{}, c.Wrapper...), c.mysqlbinlogBin(), "--defaults-file="+c.OptionFile,
		"--read-from-remote-server", "--raw", "--result-file="+dir+"/")
	return append(argv, files...)
}

// ReplayCommand is the mysqlbinlog argv that turns binary log files into SQL: from offset
// start of the first file, up to the events stamped before until (when not zero), the
// seconds counted in UTC. Run it with TZ=UTC (ReplayEnv): mysqlbinlog reads the stop time
// in its own time zone.
func (c *Client) ReplayCommand(start int64, until time.Time, files []string) []string {
	argv := append(append([]string{}, c.Wrapper...), c.mysqlbinlogBin(), "--no-defaults",
		"--start-position="+strconv.FormatInt(start, 10))
	if !until.IsZero() {
		argv = append(argv, "--stop-datetime="+until.UTC().Format(time.DateTime))
	}
	return append(argv, files...)
}

// ReplayEnv is the clients' environment with the UTC time zone, for ReplayCommand.
func (c *Client) ReplayEnv() []string {
	env := make([]string, 0, len(c.Env)+1)
	for _, kv := range c.Env {
		if !strings.HasPrefix(kv, "TZ=") {
			env = append(env, kv)
		}
	}
	return append(env, "TZ=UTC")
}
