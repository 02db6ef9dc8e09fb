package mysql

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultBinlogTool is the binary log client of the MariaDB client packages (Debian's
// mariadb-client has no mysqlbinlog, which comes with the server).
const DefaultBinlogTool = "mariadb-binlog"

func (c *Client) mysqlbinlogBin() string {
	if c.MySQLBinlog == "" {
		return DefaultBinlogTool
	}
	return c.MySQLBinlog
}

// RunError describes a failed run of a client: its exit and last stderr lines, or why it did
// not start (not installed, for example).
func RunError(argv []string, err error, stderr []string) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("failed to run %s: %w", argv[0], err)
	}
	return NewServerError(filepath.Base(argv[0]), err, stderr)
}

// FetchBinlogsCommand is the mysqlbinlog argv that copies the server's binary log files,
// byte for byte, into dir over the replication protocol: the account needs REPLICATION
// SLAVE, and nothing on the server's disk is read.
func (c *Client) FetchBinlogsCommand(dir string, files []string) []string {
	argv := append(append([]string{}, c.Wrapper...), c.mysqlbinlogBin(), "--defaults-file="+c.OptionFile,
		"--read-from-remote-server", "--raw", "--result-file="+dir+"/")
	return append(argv, files...)
}

// StreamBinlogsCommand is the mysqlbinlog argv that copies the server's binary logs from
// file on into dir as they are written, until it is stopped: it connects as a replica with
// serverID, which must differ from every other replica's.
func (c *Client) StreamBinlogsCommand(dir, file string, serverID uint32) []string {
	return append(append([]string{}, c.Wrapper...), c.mysqlbinlogBin(), "--defaults-file="+c.OptionFile,
		"--read-from-remote-server", "--raw", "--stop-never", "--stop-never-slave-server-id="+strconv.FormatUint(uint64(serverID), 10),
		"--result-file="+dir+"/", file)
}

// ReplayCommand is the mysqlbinlog argv that turns binary log files into SQL: from offset
// start of the first file, up to the events stamped before until (when not zero), the
// seconds counted in UTC, or up to offset stop of the last file (when not zero). Run it with
// TZ=UTC (ReplayEnv): mysqlbinlog reads the stop time in its own time zone.
func (c *Client) ReplayCommand(start int64, until time.Time, stop int64, files []string) []string {
	argv := append(append([]string{}, c.Wrapper...), c.mysqlbinlogBin(), "--no-defaults",
		"--start-position="+strconv.FormatInt(start, 10))
	if !until.IsZero() {
		argv = append(argv, "--stop-datetime="+until.UTC().Format(time.DateTime))
	}
	if stop > 0 {
		argv = append(argv, "--stop-position="+strconv.FormatInt(stop, 10))
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
