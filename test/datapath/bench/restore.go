package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hoard-operator/hoard/test/datapath"
)

// benchRestore times restores of one snapshot of the bench database: Stash's
// `restic dump | mysql` against the addon's restore engine at 1, 2, one per CPU and two per
// CPU connections, into a server without and one with the binary log. Every measurement
// starts from an empty, settled destination; the order alternates between runs.
func (b *bench) benchRestore(sizeArg string, runs int, dump string, start func(name string, extra ...string) (*datapath.MariaDB, error)) error {
	binlog, err := start("dst-binlog", "--log-bin="+filepath.Join(b.work, "dst-binlog", "binlog"), "--server-id=1")
	if err != nil {
		return err
	}
	defer binlog.Kill()
	binlogOpt, binlogDir, err := b.connection(binlog)
	if err != nil {
		return err
	}
	r, err := b.newRepo("restore")
	if err != nil {
		return err
	}
	cache := "--cache-dir " + shq(filepath.Join(b.work, "bare-cache"))
	if _, err := b.shell(r.env, dump+" | "+shq(b.tools.Restic)+" backup --stdin --stdin-filename dumpfile.sql --host host-0 --quiet "+cache); err != nil {
		return err
	}
	dumpBytes, err := b.shell(r.env, shq(b.tools.Restic)+" dump --quiet "+cache+" latest /dumpfile.sql | wc -c")
	if err != nil {
		return err
	}

	conns := []int{1, 2}
	if n := runtime.NumCPU(); n > 2 {
		conns = append(conns, n)
	}
	conns = append(conns, 2*runtime.NumCPU())
	type server struct {
		name     string
		m        *datapath.MariaDB
		opt, dir string
	}
	servers := []server{{"binlog off", b.dst, b.dstOpt, b.dstDir}, {"binlog on", binlog, binlogOpt, binlogDir}}
	res := map[string][]time.Duration{}
	var names []string
	measure := func(name string, dst *datapath.MariaDB, f func() error) error {
		if err := settle(dst); err != nil {
			return err
		}
		syscall.Sync()
		d, err := timed(f)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, seen := res[name]; !seen {
			names = append(names, name)
		}
		res[name] = append(res[name], d)
		fmt.Printf("  %-52s %8.2fs\n", name, d.Seconds())
		return nil
	}
	stash := func(s server) string { return "stash restic dump | mysql, " + s.name }
	engine := func(s server, c int) string { return fmt.Sprintf("engine, %d connection(s), %s", c, s.name) }
	for i := 0; i < runs; i++ {
		fmt.Printf("run %d/%d\n", i+1, runs)
		var steps []func() error
		for _, s := range servers {
			steps = append(steps, func() error {
				return measure(stash(s), s.m, func() error {
					_, err := b.shell(r.env, shq(b.tools.Restic)+" dump --quiet "+cache+" latest /dumpfile.sql | "+b.loadCommand(s.opt))
					return err
				})
			})
			for _, c := range conns {
				steps = append(steps, func() error {
					return measure(engine(s, c), s.m, func() error {
						_, err := b.addon("restore-mysql", r, s.dir, "--connections="+strconv.Itoa(c))
						return err
					})
				})
			}
		}
		if i%2 == 1 {
			for l, h := 0, len(steps)-1; l < h; l, h = l+1, h-1 {
				steps[l], steps[h] = steps[h], steps[l]
			}
		}
		for _, f := range steps {
			if err := f(); err != nil {
				return err
			}
		}
	}
	med := func(n string) float64 { return median(res[n]).Seconds() }
	fmt.Printf("\nrestore results: SIZE=%s, dump %s bytes, %d CPUs, median of %d runs\n", sizeArg, strings.TrimSpace(dumpBytes), runtime.NumCPU(), runs)
	for _, n := range names {
		fmt.Printf("  %-52s %8.2fs\n", n, med(n))
	}
	for _, s := range servers {
		for _, c := range conns {
			fmt.Printf("  ratio engine/stash, %d connection(s), %-12s %8.3f\n", c, s.name, med(engine(s, c))/med(stash(s)))
		}
	}
	return nil
}
