package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
	writers           int
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
	ship := func() error {
		_, err := b.addon("backup-mysql", r, dir, "--backup-mode=binlogs", "--target-kind=AppBinding", "--target-name=bench",
			"--invoker-kind=BackupConfiguration", "--invoker-name=binlogs")
		return err
	}
	// The first shipping creates the repository's files and ships the set-up's logs.
	if err := ship(); err != nil {
		return err
	}
	fmt.Printf("write-heavy workload: %d writers inserting rows of ~230 bytes for %s per phase; shipping every %s\n", writers, seconds, interval)

	base, err := b.binlogPhase(db, src, writers, seconds, 0, nil)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	shipping, err := b.binlogPhase(db, src, writers, seconds, interval, ship)
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

// binlogPhase runs the writers for the given time; with ship, it ships every interval and
// once more after the writers stop, so that every row's delay is known.
func (b *bench) binlogPhase(db *sql.DB, src *datapath.MariaDB, writers int, seconds, interval time.Duration, ship func() error) (*binlogPhase, error) {
	p := &binlogPhase{}
	ctx, cancel := context.WithTimeout(context.Background(), seconds)
	defer cancel()
	commits := make([][]time.Time, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	payload := strings.Repeat("x", 200)
	cpu0, err := procCPU(src.Cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	children0 := childrenCPU()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := db.ExecContext(context.Background(), "INSERT INTO bench.w (at, payload) VALUES (NOW(6), ?)", payload); err != nil {
					errs <- err
					return
				}
				commits[w] = append(commits[w], time.Now())
			}
		}()
	}
	// Each shipping covers the commits before it started (its FLUSH comes after): the delay
	// counted is an upper bound, up to the end of the first shipping that began after the commit.
	type shipping struct{ start, end time.Time }
	var ships []shipping
	if ship != nil {
		tick := time.NewTicker(interval)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-tick.C:
				s := time.Now()
				if err := ship(); err != nil {
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
	if ship != nil {
		s := time.Now()
		if err := ship(); err != nil {
			return nil, err
		}
		ships = append(ships, shipping{s, time.Now()})
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
		if ship == nil {
			continue
		}
		for _, c := range cs {
			i := sort.Search(len(ships), func(i int) bool { return ships[i].start.After(c) })
			if i < len(ships) {
				p.delays = append(p.delays, ships[i].end.Sub(c))
			}
		}
	}
	return p, nil
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
