package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/hoard-operator/hoard/test/datapath"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU times.
const clockTicks = 100

// binlogOptions configure the binary log shipping bench.
type binlogOptions struct {
	on                bool
	seconds, interval time.Duration
	// shipEvery, when not zero, streams: one shipping run follows the active file for the
	// whole phase and ships every shipEvery (--ship-every).
	shipEvery time.Duration
	writers   int
}

// binlogPhase is one timed write workload.
type binlogPhase struct {
	rows      int64
	elapsed   time.Duration
	serverCPU time.Duration
	shipCPU   time.Duration // the shipping processes' (addon, restic, mysqlbinlog)
	ships     int
	delays    []time.Duration // commit → in the repository, per row
}

// benchBinlog measures binary log shipping on a write-heavy workload: writers insert rows as
// fast as they can for the given time, first without shipping (the baseline, binary logging
// on), then while the addon ships every interval. It prints the extra CPU, the throughput
// ratio, and the delay from a row's commit to the end of the shipping that stored it.
func (b *bench) benchBinlog(template string, o binlogOptions) error {
	seconds, interval, writers := o.seconds, o.interval, o.writers
	src, err := b.tools.StartMariaDB(template, filepath.Join(b.work, "binlog-src"),
		"--innodb-buffer-pool-size=1G", "--innodb-log-file-size=256M", "--log-bin=mysql-bin", "--server-id=7", "--binlog-format=ROW")
	if err != nil {
		return err
	}
	defer src.Kill()
	_, dir, err := b.connection(src)
	if err != nil {
		return err
	}
	if _, err := src.Exec("CREATE DATABASE bench; CREATE TABLE bench.w (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL, payload VARCHAR(255) NOT NULL) ENGINE=InnoDB"); err != nil {
		return err
	}
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = datapath.DBUser, datapath.DBPassword, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(src.Port))
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(writers)
	r, err := b.newRepo("binlog")
	if err != nil {
		return err
	}
	shipArgs := []string{"--backup-mode=binlogs", "--target-kind=AppBinding", "--target-name=bench", "--invoker-kind=BackupConfiguration", "--invoker-name=binlogs"}
	ship := func() error {
		_, err := b.addon("backup-mysql", r, dir, shipArgs...)
		return err
	}
	// The first shipping creates the repository's files and ships the set-up's logs.
	if err := ship(); err != nil {
		return err
	}
	var w binlogWork
	mode := fmt.Sprintf("shipping every %s", interval)
	if o.shipEvery > 0 {
		interval = o.shipEvery
		mode = fmt.Sprintf("one run streaming the binary logs and shipping every %s", o.shipEvery)
		w.gtids = true
		w.stream = func() (func() (string, error), error) {
			a, err := b.startAddon("backup-mysql", r, dir, append(shipArgs, "--ship-every="+o.shipEvery.String(), "--stream-for="+(seconds+2*o.shipEvery).String())...)
			if err != nil {
				return nil, err
			}
			return func() (string, error) {
				run, err := a.Wait()
				if err != nil {
					return "", err
				}
				if run.ExitCode != 0 {
					return "", fmt.Errorf("the streaming run failed: %s", run.Result.Error)
				}
				return run.Stderr, nil
			}, nil
		}
	} else {
		w.ship = ship
	}
	fmt.Printf("write-heavy workload: %d writers inserting rows of ~230 bytes for %s per phase; %s\n", writers, seconds, mode)

	base, err := b.binlogPhase(db, src, writers, seconds, 0, binlogWork{gtids: w.gtids})
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	shipping, err := b.binlogPhase(db, src, writers, seconds, interval, w)
	if err != nil {
		return fmt.Errorf("shipping: %w", err)
	}
	rate := func(p *binlogPhase) float64 { return float64(p.rows) / p.elapsed.Seconds() }
	perRow := func(cpu time.Duration, rows int64) float64 { return float64(cpu.Microseconds()) / float64(rows) }
	fmt.Printf("%-34s %12s %12s\n", "", "baseline", "shipping")
	fmt.Printf("%-34s %12.0f %12.0f\n", "rows/s", rate(base), rate(shipping))
	fmt.Printf("%-34s %12.1f %12.1f\n", "server CPU µs/row", perRow(base.serverCPU, base.rows), perRow(shipping.serverCPU, shipping.rows))
	fmt.Printf("%-34s %12s %12.1f\n", "shipping CPU µs/row", "-", perRow(shipping.shipCPU, shipping.rows))
	fmt.Printf("%-34s %12s %12d\n", "shippings", "-", shipping.ships)
	fmt.Printf("throughput with shipping / without: %.3f×\n", rate(shipping)/rate(base))
	total := func(p *binlogPhase) float64 { return perRow(p.serverCPU+p.shipCPU, p.rows) }
	fmt.Printf("CPU per row with shipping / without (server + shipping processes): %.3f×\n", total(shipping)/total(base))
	fmt.Printf("extra CPU of shipping: %.2f s per minute of writing (%.1f%% of one core)\n",
		shipping.shipCPU.Seconds()*60/shipping.elapsed.Seconds(), 100*shipping.shipCPU.Seconds()/shipping.elapsed.Seconds())
	d := shipping.delays
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d) == 0 {
		return fmt.Errorf("no row was shipped")
	}
	q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))].Round(10 * time.Millisecond) }
	fmt.Printf("commit → in the repository (%d rows): p50 %s, p99 %s, max %s (interval %s: the bound is the interval plus one shipping)\n",
		len(d), q(0.5), q(0.99), d[len(d)-1].Round(10*time.Millisecond), interval)
	return nil
}

// binlogWork is how a phase ships: a run at each interval (ship), one streaming run for the
// whole phase (stream: it starts the run and returns a wait for its log), or not at all.
type binlogWork struct {
	ship   func() error
	stream func() (func() (string, error), error)
	// gtids: the writers read each commit's GTID (@@last_gtid), which the stream's delays need.
	gtids bool
}

// shippedLine is the log line of a shipped binary log: when it was in the repository, and the
// last transaction in it.
var shippedLine = regexp.MustCompile(`^time=(\S+) level=INFO msg="binary log shipped" .* gtid=\d+-\d+-(\d+) `)

// streamDelays are the delays from each commit to the end of the first shipping that held it,
// read from the streaming run's log.
func streamDelays(log string, commits [][]commit) ([]time.Duration, int, error) {
	type shipped struct {
		at  time.Time
		seq uint64
	}
	var ships []shipped
	for _, l := range strings.Split(log, "\n") {
		m := shippedLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			return nil, 0, err
		}
		seq, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			return nil, 0, err
		}
		ships = append(ships, shipped{at, seq})
	}
	var d []time.Duration
	for _, cs := range commits {
		for _, c := range cs {
			i := sort.Search(len(ships), func(i int) bool { return ships[i].seq >= c.seq })
			if i < len(ships) {
				d = append(d, ships[i].at.Sub(c.at))
			}
		}
	}
	return d, len(ships), nil
}

// commit is one writer's commit: when it returned, and its transaction's sequence number.
type commit struct {
	at  time.Time
	seq uint64
}

// binlogPhase runs the writers for the given time while w ships: every interval and once more
// after the writers stop, so that every row's delay is known; or in one streaming run.
func (b *bench) binlogPhase(db *sql.DB, src *datapath.MariaDB, writers int, seconds, interval time.Duration, w binlogWork) (*binlogPhase, error) {
	p := &binlogPhase{}
	cpu0, err := procCPU(src.Cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	children0 := childrenCPU()
	var waitStream func() (string, error)
	if w.stream != nil {
		if waitStream, err = w.stream(); err != nil {
			return nil, err
		}
		// The run ships the closed files first, then streams.
		time.Sleep(2 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), seconds)
	defer cancel()
	commits := make([][]commit, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	payload := strings.Repeat("x", 200)
	start := time.Now()
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := write(ctx, db, payload, w.gtids, &commits[i]); err != nil {
				errs <- err
			}
		}()
	}
	// Each shipping covers the commits before it started (its FLUSH comes after): the delay
	// counted is an upper bound, up to the end of the first shipping that began after the commit.
	type shipping struct{ start, end time.Time }
	var ships []shipping
	if w.ship != nil {
		tick := time.NewTicker(interval)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-tick.C:
				s := time.Now()
				if err := w.ship(); err != nil {
					tick.Stop()
					return nil, err
				}
				ships = append(ships, shipping{s, time.Now()})
			}
		}
		tick.Stop()
	}
	wg.Wait()
	p.elapsed = time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if w.ship != nil {
		s := time.Now()
		if err := w.ship(); err != nil {
			return nil, err
		}
		ships = append(ships, shipping{s, time.Now()})
	}
	var log string
	if waitStream != nil {
		if log, err = waitStream(); err != nil {
			return nil, err
		}
	}
	cpu1, err := procCPU(src.Cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	p.serverCPU = cpu1 - cpu0
	p.shipCPU = childrenCPU() - children0
	p.ships = len(ships)
	for _, cs := range commits {
		p.rows += int64(len(cs))
		if w.ship == nil {
			continue
		}
		for _, c := range cs {
			i := sort.Search(len(ships), func(i int) bool { return ships[i].start.After(c.at) })
			if i < len(ships) {
				p.delays = append(p.delays, ships[i].end.Sub(c.at))
			}
		}
	}
	if waitStream != nil {
		if p.delays, p.ships, err = streamDelays(log, commits); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// write inserts rows on one connection until ctx ends, and notes each commit (with its GTID's
// sequence number when gtids).
func write(ctx context.Context, db *sql.DB, payload string, gtids bool, out *[]commit) error {
	conn, err := db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	for ctx.Err() == nil {
		if _, err := conn.ExecContext(context.Background(), "INSERT INTO bench.w (at, payload) VALUES (NOW(6), ?)", payload); err != nil {
			return err
		}
		c := commit{at: time.Now()}
		if gtids {
			var g string
			if err := conn.QueryRowContext(context.Background(), "SELECT @@last_gtid").Scan(&g); err != nil {
				return err
			}
			f := strings.Split(g, "-")
			if c.seq, err = strconv.ParseUint(f[len(f)-1], 10, 64); err != nil {
				return fmt.Errorf("@@last_gtid %q: %w", g, err)
			}
		}
		*out = append(*out, c)
	}
	return nil
}

// procCPU is the user and system CPU time of process pid so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// childrenCPU is the CPU time of this process's finished children and their descendants:
// the addon runs, with the restic and mysqlbinlog processes they waited for.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
