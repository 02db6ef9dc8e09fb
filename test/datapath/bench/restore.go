package main

import (
	"fmt"
	"os"
	"os/exec"
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
// CPU connections, into a server without and one with the binary log. It then pins the
// server, restic, mysql and the addon to fewer CPUs (taskset) and times Stash's pipe and the
// engine with its default connections there: how the time scales with cores. Every
// measurement starts from an empty, settled destination; the order alternates between runs.
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

	cpus := runtime.NumCPU()
	conns := []int{1, 2}
	if cpus > 2 {
		conns = append(conns, cpus)
	}
	conns = append(conns, 2*cpus)
	// Fewer cores: 1, 2, 4… below the machine's.
	var fewer []int
	for c := 1; c < cpus; c *= 2 {
		fewer = append(fewer, c)
	}
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
	// pinned runs f with the server, and whatever f starts, on the first cores CPUs.
	pinned := func(s server, cores int, f func(taskset string) error) error {
		if cores >= cpus {
			return f("")
		}
		list := fmt.Sprintf("0-%d", cores-1)
		if err := pin(s.m.Proc.Cmd.Process.Pid, list); err != nil {
			return err
		}
		defer func() { _ = pin(s.m.Proc.Cmd.Process.Pid, fmt.Sprintf("0-%d", cpus-1)) }()
		return f("taskset -c " + list + " ")
	}
	stashName := func(s server, cores int) string {
		return "stash restic dump | mysql, " + s.name + coresLabel(cores, cpus)
	}
	engineName := func(s server, c, cores int) string {
		if c == 0 {
			return fmt.Sprintf("engine, default connections, %s%s", s.name, coresLabel(cores, cpus))
		}
		return fmt.Sprintf("engine, %d connection(s), %s", c, s.name)
	}
	stash := func(s server, cores int) func() error {
		return func() error {
			return pinned(s, cores, func(taskset string) error {
				return measure(stashName(s, cores), s.m, func() error {
					_, err := b.shell(r.env, taskset+shq(b.tools.Restic)+" dump --quiet "+cache+" latest /dumpfile.sql | "+taskset+b.loadCommand(s.opt))
					return err
				})
			})
		}
	}
	engine := func(s server, c, cores int) func() error {
		return func() error {
			return pinned(s, cores, func(taskset string) error {
				return measure(engineName(s, c, cores), s.m, func() error {
					_, err := b.addonPinned(taskset, "restore-mysql", r, s.dir, "--connections="+strconv.Itoa(c))
					return err
				})
			})
		}
	}
	for i := 0; i < runs; i++ {
		fmt.Printf("run %d/%d\n", i+1, runs)
		var steps []func() error
		for _, s := range servers {
			steps = append(steps, stash(s, cpus))
			for _, c := range conns {
				steps = append(steps, engine(s, c, cpus))
			}
		}
		for _, cores := range fewer {
			steps = append(steps, stash(servers[0], cores), engine(servers[0], 0, cores))
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
	fmt.Printf("\nrestore results: SIZE=%s, dump %s bytes, %d CPUs, median of %d runs\n", sizeArg, strings.TrimSpace(dumpBytes), cpus, runs)
	for _, n := range names {
		fmt.Printf("  %-52s %8.2fs\n", n, med(n))
	}
	for _, s := range servers {
		for _, c := range conns {
			fmt.Printf("  ratio engine/stash, %d connection(s), %-12s %8.3f\n", c, s.name, med(engineName(s, c, cpus))/med(stashName(s, cpus)))
		}
	}
	for _, cores := range fewer {
		s := servers[0]
		fmt.Printf("  ratio engine/stash, default connections, %s%s %8.3f\n", s.name, coresLabel(cores, cpus), med(engineName(s, 0, cores))/med(stashName(s, cores)))
	}
	if len(fewer) > 0 {
		// How each way scales from the fewest cores to all of them.
		s, least := servers[0], fewer[0]
		fmt.Printf("  stash speed-up, %d → %d cores %23.2f×\n", least, cpus, med(stashName(s, least))/med(stashName(s, cpus)))
		fmt.Printf("  engine speed-up, %d → %d cores (default connections vs %d) %5.2f×\n", least, cpus, 2*cpus, med(engineName(s, 0, least))/med(engineName(s, 2*cpus, cpus)))
	}
	return nil
}

// coresLabel names a pinned measurement; "" for all cores.
func coresLabel(cores, cpus int) string {
	if cores >= cpus {
		return ""
	}
	return fmt.Sprintf(", %d core(s)", cores)
}

// pin sets the CPUs of every thread of process pid (taskset -a).
func pin(pid int, list string) error {
	if out, err := exec.Command("taskset", "-a", "-p", "-c", list, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset %s of pid %d: %w: %s", list, pid, err, out)
	}
	return nil
}

// addonPinned runs the addon through taskset (a shell word prefix, "" for none).
func (b *bench) addonPinned(taskset, sub string, r *repo, target string, extra ...string) (*datapath.AddonRun, error) {
	if taskset == "" {
		return b.addon(sub, r, target, extra...)
	}
	wrapper := filepath.Join(b.work, "addon-pinned.sh")
	script := "#!/bin/sh\nexec " + taskset + shq(b.tools.Addon) + ` "$@"` + "\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return nil, err
	}
	t := *b.tools
	t.Addon = wrapper
	pb := *b
	pb.tools = &t
	return pb.addon(sub, r, target, extra...)
}
