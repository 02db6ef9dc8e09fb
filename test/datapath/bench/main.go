// Command bench times the MySQL addon against the bare tools it wraps, on a generated
// database: bare `mysqldump > /dev/null`, bare `mysqldump | restic backup --stdin`, the
// addon's backup, bare `restic dump | mysql` and the addon's restore, each the median of
// several runs. It also reports the repository's size after one backup and after a second
// backup of the unchanged database. Run it through `make bench-datapath SIZE=...`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/result"
	"github.com/hoard-operator/hoard/test/datapath"
)

const resticPassword = "bench-restic-password"

const bareFromAddonRepo = "bare restic dump | mysql (addon's repo)"

func main() {
	size := flag.String("size", "1GiB", "approximate size of the generated database's dump, e.g. 200MiB or 1GiB")
	runs := flag.Int("runs", 5, "runs per measurement; the median is reported")
	restore := flag.Bool("restore", false, "compare only restores: Stash's restic dump | mysql against the restore engine at several connection counts, binary log off and on")
	var bl binlogOptions
	flag.BoolVar(&bl.on, "binlog", false, "measure only binary log shipping on a write-heavy workload: extra CPU, throughput, commit → repository delay")
	flag.DurationVar(&bl.seconds, "binlog-duration", time.Minute, "with -binlog: how long each phase writes")
	flag.DurationVar(&bl.interval, "binlog-interval", 10*time.Second, "with -binlog: the shipping interval")
	flag.IntVar(&bl.writers, "binlog-writers", 4, "with -binlog: concurrent writers")
	flag.DurationVar(&bl.shipEvery, "binlog-ship-every", 0, "with -binlog: stream instead, shipping every this often (the Task param shipEvery); 0 ships every -binlog-interval")
	flag.Parse()
	if err := run(*size, *runs, *restore, bl); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	tools    *datapath.Tools
	work     string
	src, dst *datapath.MariaDB
	srcOpt   string // option file of src, for the bare tools
	dstOpt   string
	srcDir   string // target dirs, for the addon
	dstDir   string
}

func run(sizeArg string, runs int, restoreOnly bool, bl binlogOptions) error {
	size, err := parseSize(sizeArg)
	if err != nil {
		return err
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	t, err := datapath.FindTools(root)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "hoard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := t.BuildAddon(work); err != nil {
		return err
	}
	b := &bench{tools: t, work: work}
	template := filepath.Join(work, "template")
	if err := t.NewTemplate(template); err != nil {
		return err
	}
	if bl.on {
		return b.benchBinlog(template, bl)
	}
	// A production-like buffer pool; the last occurrence of an option wins.
	server := []string{"--innodb-buffer-pool-size=1G", "--innodb-log-file-size=256M"}
	if b.src, err = t.StartMariaDB(template, filepath.Join(work, "src"), server...); err != nil {
		return err
	}
	defer b.src.Kill()
	if b.dst, err = t.StartMariaDB(template, filepath.Join(work, "dst"), server...); err != nil {
		return err
	}
	defer b.dst.Kill()
	if b.srcOpt, b.srcDir, err = b.connection(b.src); err != nil {
		return err
	}
	if b.dstOpt, b.dstDir, err = b.connection(b.dst); err != nil {
		return err
	}

	start := time.Now()
	rows, err := b.generate(size)
	if err != nil {
		return err
	}
	dataBytes := b.queryInt("SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bench'")
	fmt.Printf("generated database bench: %d rows in %s, InnoDB size %s\n", rows, time.Since(start).Round(time.Second), result.FormatBytes(dataBytes))

	srcClient := &mysql.Client{MySQL: t.MySQL, MySQLDump: t.MySQLDump, OptionFile: b.srcOpt}
	dump := strings.Join(quoteAll(srcClient.DumpCommand([]string{"--databases", "bench"})), " ")
	if restoreOnly {
		return b.benchRestore(sizeArg, runs, dump, func(name string, extra ...string) (*datapath.MariaDB, error) {
			return t.StartMariaDB(template, filepath.Join(work, name), append(server, extra...)...)
		})
	}
	load := b.loadCommand(b.dstOpt)

	var dumpBytes int64
	res := map[string][]time.Duration{}
	measure := func(name string, f func() error) error {
		// Every measurement starts with the previous one's writes on disk.
		syscall.Sync()
		d, err := timed(f)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res[name] = append(res[name], d)
		fmt.Printf("  %-44s %8.2fs\n", name, d.Seconds())
		return nil
	}
	fmt.Printf("load average before: %s", loadavg())
	var lastRepo string
	for i := 0; i < runs; i++ {
		fmt.Printf("run %d/%d\n", i+1, runs)
		if err := measure("bare mysqldump > /dev/null", func() error {
			out, err := b.shell(nil, dump+" | wc -c")
			dumpBytes, _ = strconv.ParseInt(strings.TrimSpace(out), 10, 64)
			return err
		}); err != nil {
			return err
		}
		bareRepo, err := b.newRepo(fmt.Sprintf("bare-%d", i))
		if err != nil {
			return err
		}
		addonRepo, err := b.newRepo(fmt.Sprintf("addon-%d", i))
		if err != nil {
			return err
		}
		lastRepo = addonRepo.dir
		// Like the addon (--enable-cache=true), bare restic uses a cache, as it does by default.
		bareCache := "--cache-dir " + shq(filepath.Join(b.work, "bare-cache"))
		bareBackup := func() error {
			return measure("bare mysqldump | restic backup --stdin", func() error {
				_, err := b.shell(bareRepo.env, dump+" | "+shq(t.Restic)+" backup --stdin --stdin-filename dumpfile.sql --host host-0 --quiet "+bareCache)
				return err
			})
		}
		// addonRun measures one addon run as a whole and, from its log, the step between two
		// of its messages.
		addonRun := func(name, stepName, from, to, sub string, r *repo, target string, extra ...string) error {
			var step time.Duration
			err := measure(name, func() error {
				run, err := b.addon(sub, r, target, extra...)
				if err == nil {
					step, err = stepDuration(run.Stderr, from, to)
				}
				return err
			})
			res[stepName] = append(res[stepName], step)
			fmt.Printf("  %-44s %8.2fs\n", stepName, step.Seconds())
			return err
		}
		addonBackup := func() error {
			return addonRun("addon backup-mysql (whole run)", "addon backup-mysql (dump+upload step)", "backing up", "snapshot created",
				"backup-mysql", addonRepo, b.srcDir, "--mysql-args=--databases bench")
		}
		bareRestoreFrom := func(name string, r *repo) func() error {
			return func() error {
				if err := settle(b.dst); err != nil {
					return err
				}
				return measure(name, func() error {
					_, err := b.shell(r.env, shq(t.Restic)+" dump --quiet "+bareCache+" latest /dumpfile.sql | "+load)
					return err
				})
			}
		}
		// Both restores read the same snapshot, the bare backup's; a third, informational one
		// reads the addon's, to show whether the repositories differ.
		bareRestore := bareRestoreFrom("bare restic dump | mysql", bareRepo)
		bareRestoreAddonRepo := bareRestoreFrom(bareFromAddonRepo, addonRepo)
		addonRestore := func() error {
			if err := settle(b.dst); err != nil {
				return err
			}
			return addonRun("addon restore-mysql (whole run)", "addon restore-mysql (dump+load step)", "restoring", "restore succeeded",
				"restore-mysql", bareRepo, b.dstDir)
		}
		// Alternate which goes first, so that neither always meets warmer caches.
		order := []func() error{bareBackup, addonBackup, bareRestore, addonRestore, bareRestoreAddonRepo}
		if i%2 == 1 {
			order = []func() error{addonBackup, bareBackup, bareRestoreAddonRepo, addonRestore, bareRestore}
		}
		for _, f := range order {
			if err := f(); err != nil {
				return err
			}
		}
	}
	fmt.Printf("load average after: %s", loadavg())

	// Repository growth: a second backup of the unchanged database adds only metadata.
	first, err := duBytes(lastRepo)
	if err != nil {
		return err
	}
	growthRepo := &repo{dir: lastRepo, flags: []string{"--provider=local", "--bucket=" + lastRepo}, secret: filepath.Join(work, "secret-"+filepath.Base(lastRepo))}
	if _, err := b.addon("backup-mysql", growthRepo, b.srcDir, "--mysql-args=--databases bench"); err != nil {
		return err
	}
	second, err := duBytes(lastRepo)
	if err != nil {
		return err
	}

	med := func(n string) float64 { return median(res[n]).Seconds() }
	fmt.Printf("\nresults: SIZE=%s, dump %s, median of %d runs\n", sizeArg, result.FormatBytes(dumpBytes), runs)
	for _, n := range []string{"bare mysqldump > /dev/null", "bare mysqldump | restic backup --stdin", "addon backup-mysql (whole run)",
		"addon backup-mysql (dump+upload step)", "bare restic dump | mysql", "addon restore-mysql (whole run)", "addon restore-mysql (dump+load step)", bareFromAddonRepo} {
		fmt.Printf("  %-44s %8.2fs\n", n, med(n))
	}
	fmt.Printf("  ratio addon/bare backup  (whole run)       %8.3f\n", med("addon backup-mysql (whole run)")/med("bare mysqldump | restic backup --stdin"))
	fmt.Printf("  ratio addon/bare backup  (dump+upload)     %8.3f\n", med("addon backup-mysql (dump+upload step)")/med("bare mysqldump | restic backup --stdin"))
	fmt.Printf("  ratio addon/bare restore (whole run)       %8.3f\n", med("addon restore-mysql (whole run)")/med("bare restic dump | mysql"))
	fmt.Printf("  ratio addon/bare restore (dump+load)       %8.3f\n", med("addon restore-mysql (dump+load step)")/med("bare restic dump | mysql"))
	fmt.Printf("  repository after one backup                %s (%d bytes)\n", result.FormatBytes(first), first)
	fmt.Printf("  repository after a second, unchanged one   %s (%d bytes, +%d)\n", result.FormatBytes(second), second, second-first)
	return nil
}

// generate fills database bench with about size bytes of dump: rows of ~1 KiB mixing
// compressible text with random bytes, in 8 tables.
func (b *bench) generate(size int64) (int64, error) {
	const rowBytes = 1000
	const tables = 8
	rows := size / rowBytes
	if rows < tables {
		rows = tables
	}
	per := rows / tables
	if _, err := b.src.Exec("CREATE DATABASE bench"); err != nil {
		return 0, err
	}
	for i := 0; i < tables; i++ {
		if _, err := b.src.Exec(fmt.Sprintf("CREATE TABLE bench.t%d (id INT PRIMARY KEY, h CHAR(32), note VARCHAR(400), n INT, b VARBINARY(300), KEY (n)) ENGINE=InnoDB", i)); err != nil {
			return 0, err
		}
		for from := int64(1); from <= per; from += 100000 {
			to := min(from+99999, per)
			q := fmt.Sprintf("USE bench; INSERT INTO t%d SELECT seq, MD5(seq), CONCAT(REPEAT('lorem ipsum ', 10), SHA2(seq, 512), ' ', SHA2(seq + 1, 256)), seq %% 1000, RANDOM_BYTES(300) FROM seq_%d_to_%d", i, from, to)
			if _, err := b.src.Exec(q); err != nil {
				return 0, err
			}
		}
	}
	return per * tables, nil
}

// connection writes the target directory and the option file of server m.
func (b *bench) connection(m *datapath.MariaDB) (optFile, dir string, err error) {
	dir = filepath.Join(b.work, "target-"+strconv.Itoa(m.Port))
	if err := m.WriteTarget(dir, datapath.DBPassword); err != nil {
		return "", "", err
	}
	tg, err := mysql.LoadTarget(dir)
	if err != nil {
		return "", "", err
	}
	optFile, err = mysql.WriteOptionFile(b.work, tg)
	return optFile, dir, err
}

// loadCommand is Stash's load, `mysql` with the addon's options, as a shell word list.
func (b *bench) loadCommand(optFile string) string {
	c := &mysql.Client{MySQL: b.tools.MySQL, OptionFile: optFile}
	return strings.Join(quoteAll(c.LoadCommand(nil)), " ")
}

// settle gives every restore the same start: no bench database on the destination, and
// InnoDB done writing out the previous restore's pages, which would otherwise slow whichever
// restore runs second.
func settle(dst *datapath.MariaDB) error {
	if _, err := dst.Exec("DROP DATABASE IF EXISTS bench; SET GLOBAL innodb_max_dirty_pages_pct = 0"); err != nil {
		return err
	}
	defer func() { _, _ = dst.Exec("SET GLOBAL innodb_max_dirty_pages_pct = DEFAULT") }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		rows, err := dst.Query("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'")
		if err != nil {
			return err
		}
		if len(rows) == 1 && rows[0][0] == "0" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the destination server still has dirty pages after 5 minutes: %v", rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *bench) queryInt(q string) int64 {
	rows, err := b.src.Query(q)
	if err != nil || len(rows) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(rows[0][0], 10, 64)
	return n
}

type repo struct {
	dir    string
	flags  []string
	secret string
	env    []string
}

// newRepo creates and initializes a local repository, outside any timing.
func (b *bench) newRepo(name string) (*repo, error) {
	r := &repo{dir: filepath.Join(b.work, "repo-"+name), secret: filepath.Join(b.work, "secret-repo-"+name)}
	r.flags = []string{"--provider=local", "--bucket=" + r.dir}
	r.env = []string{"RESTIC_REPOSITORY=" + r.dir, "RESTIC_PASSWORD=" + resticPassword}
	if err := os.MkdirAll(r.secret, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.secret, "RESTIC_PASSWORD"), []byte(resticPassword), 0o600); err != nil {
		return nil, err
	}
	_, err := b.shell(r.env, shq(b.tools.Restic)+" init --quiet")
	return r, err
}

func (b *bench) addon(sub string, r *repo, target string, extra ...string) (*datapath.AddonRun, error) {
	run, err := b.tools.RunAddon(filepath.Join(b.work, "out"), b.addonArgs(sub, r, target, extra...)...)
	if err != nil {
		return nil, err
	}
	if run.ExitCode != 0 {
		return nil, fmt.Errorf("addon %s failed: %s", sub, run.Result.Error)
	}
	return run, nil
}

// startAddon starts the addon without waiting for it.
func (b *bench) startAddon(sub string, r *repo, target string, extra ...string) (*datapath.Addon, error) {
	return b.tools.StartAddon(filepath.Join(b.work, "out"), b.addonArgs(sub, r, target, extra...)...)
}

func (b *bench) addonArgs(sub string, r *repo, target string, extra ...string) []string {
	args := append([]string{sub}, r.flags...)
	args = append(args, "--secret-dir="+r.secret, "--scratch-dir="+filepath.Join(b.work, "scratch"), "--target-dir="+target,
		"--namespace=bench", "--termination-log=/nonexistent")
	return append(args, extra...)
}

// shell runs a pipeline with pipefail, so that any failing stage fails it.
func (b *bench) shell(env []string, script string) (string, error) {
	cmd := exec.Command("bash", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out.String(), nil
}

var logTime = regexp.MustCompile(`^time=(\S+) level=\S+ msg="?([^"=]+?)"?( \w+=|$)`)

// stepDuration reads the time between two of the addon's log messages.
func stepDuration(stderr, from, to string) (time.Duration, error) {
	var a, z time.Time
	for _, l := range strings.Split(stderr, "\n") {
		m := logTime.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		switch m[2] {
		case from:
			a = ts
		case to:
			z = ts
		}
	}
	if a.IsZero() || z.IsZero() {
		return 0, fmt.Errorf("no %q and %q in the addon's log", from, to)
	}
	return z.Sub(a), nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown\n"
	}
	return string(b)
}

func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func duBytes(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("size %q: want e.g. 200MiB or 1GiB", s)
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("size %q: want e.g. 200MiB or 1GiB", s)
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = shq(a)
	}
	return out
}
