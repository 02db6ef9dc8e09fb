// Package datapath holds the integration tests of the MySQL addon's data path and the
// harness they share with the benchmark: real MariaDB servers started on temporary data
// directories and loopback ports, real restic, and real storage servers (a local directory,
// restic's rest-server, versitygw for S3). Every process the harness starts is killed by PID.
package datapath

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hoard-operator/hoard/internal/result"
)

// DBUser and DBPassword are the account the addon uses. The password has every character
// that option files, shells and URLs treat specially.
const (
	DBUser     = "hoard"
	DBPassword = `Hx9"q#'\ z$;p@ss=%`
)

// Tools are the executables the harness runs.
type Tools struct {
	Root   string
	Restic string
	// Restic012 is restic 0.12.1, what upstream Stash shipped: it writes Stash-era repositories.
	Restic012  string
	RestServer string
	VersityGW  string
	Addon      string
	MariaDBD   string
	InstallDB  string
	MySQL      string
	MySQLDump  string
	// MySQLBinlog reads binary logs (mariadb-binlog), to replay them in tests of recovery.
	MySQLBinlog string
}

// FindTools locates the tools: pinned builds in <root>/bin (hack/tools.sh) and the Debian
// MariaDB packages. It fails with what to install.
func FindTools(root string) (*Tools, error) {
	t := &Tools{
		Root:       root,
		Restic:     filepath.Join(root, "bin", "restic"),
		Restic012:  filepath.Join(root, "bin", "restic-0.12"),
		RestServer: filepath.Join(root, "bin", "rest-server"),
		VersityGW:  filepath.Join(root, "bin", "versitygw"),
	}
	var missing []string
	for _, p := range []string{t.Restic, t.RestServer, t.VersityGW} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p+" (run: hack/tools.sh restic rest-server versitygw)")
		}
	}
	if _, err := os.Stat(t.Restic012); err != nil {
		missing = append(missing, t.Restic012+" (run: hack/tools.sh restic-0.12)")
	}
	for _, x := range []struct {
		dst  *string
		name string
	}{{&t.MariaDBD, "mariadbd"}, {&t.InstallDB, "mariadb-install-db"}, {&t.MySQL, "mysql"}, {&t.MySQLDump, "mysqldump"}, {&t.MySQLBinlog, "mysqlbinlog"}} {
		p, err := exec.LookPath(x.name)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
				if _, serr := os.Stat(filepath.Join(dir, x.name)); serr == nil {
					p, err = filepath.Join(dir, x.name), nil
				}
			}
		}
		if err != nil {
			missing = append(missing, x.name+" (run: hack/apt.sh mariadb-server mariadb-client)")
		}
		*x.dst = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing tools:\n  %s", strings.Join(missing, "\n  "))
	}
	return t, nil
}

// BuildAddon builds the addon binary into dir.
func (t *Tools) BuildAddon(dir string) error {
	out := filepath.Join(dir, "hoard-mysql-addon")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/mysql-addon")
	cmd.Dir = t.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to build the addon: %w\n%s", err, b)
	}
	t.Addon = out
	return nil
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a server process started by the harness.
type Proc struct {
	Cmd    *exec.Cmd
	Name   string
	exited chan struct{}
	err    error
	log    string
}

func startProc(name, logFile string, argv ...string) (*Proc, error) {
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Die with the test binary even if it is killed before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &Proc{Cmd: cmd, Name: name, exited: make(chan struct{}), log: logFile}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the process (by PID) and waits for it.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Kill()
	}
	<-p.exited
}

// LogTail returns the end of the process's log, for error messages.
func (p *Proc) LogTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitFor polls ready until it succeeds, the process exits, or timeout passes.
func (p *Proc) waitFor(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before it was ready (%w):\n%s", p.Name, p.err, p.LogTail())
		}
		if time.Now().After(deadline) {
			p.Kill()
			return fmt.Errorf("%s not ready after %s: %w\n%s", p.Name, timeout, err, p.LogTail())
		}
		select {
		case <-p.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tcpReady(port int) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// MariaDB is a mariadbd the harness started.
type MariaDB struct {
	*Proc
	Dir    string
	Socket string
	Port   int
	tools  *Tools
}

func (t *Tools) serverArgs(dir string) []string {
	a := []string{
		t.MariaDBD, "--no-defaults",
		"--datadir=" + filepath.Join(dir, "data"),
		"--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0",
		"--performance-schema=OFF", "--skip-log-bin", "--skip-name-resolve",
		// Scheduled events must not change data between backup and comparison.
		"--event-scheduler=OFF",
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		"--max-allowed-packet=64M",
	}
	if os.Geteuid() == 0 {
		a = append(a, "--user=root")
	}
	return a
}

// NewTemplate creates a data directory with the addon's account, which StartMariaDB copies:
// mariadb-install-db runs once per test run instead of once per server.
func (t *Tools) NewTemplate(dir string) error {
	data := filepath.Join(dir, "data")
	for _, d := range []string{data, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	args := []string{t.InstallDB, "--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--innodb-log-file-size=16M"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if b, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db failed: %w\n%s", err, b)
	}
	p, err := startProc("mariadbd (template)", filepath.Join(dir, "error.log"), append(t.serverArgs(dir), "--skip-networking")...)
	if err != nil {
		return err
	}
	m := &MariaDB{Proc: p, Dir: dir, Socket: filepath.Join(dir, "mysqld.sock"), tools: t}
	defer p.Kill()
	if err := p.waitFor(60*time.Second, func() error { _, err := m.Exec("SELECT 1"); return err }); err != nil {
		return err
	}
	q := sqlString(DBPassword)
	if _, err := m.Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY %s; GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION;", DBUser, q, DBUser)); err != nil {
		return err
	}
	if _, err := m.Exec("SHUTDOWN"); err != nil {
		return err
	}
	<-p.exited
	return nil
}

// StartMariaDB starts a server on a copy of the template in dir, on a free loopback port.
func (t *Tools) StartMariaDB(template, dir string, extra ...string) (*MariaDB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if b, err := exec.Command("cp", "-a", filepath.Join(template, "data"), filepath.Join(template, "tmp"), dir+"/").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("failed to copy the template: %w: %s", err, b)
	}
	var lastErr error
	// A port found free can be taken before mariadbd binds it; try another then.
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := append(t.serverArgs(dir), "--port="+strconv.Itoa(port), "--bind-address=127.0.0.1")
		args = append(args, extra...)
		p, err := startProc("mariadbd", filepath.Join(dir, "error.log"), args...)
		if err != nil {
			return nil, err
		}
		m := &MariaDB{Proc: p, Dir: dir, Socket: filepath.Join(dir, "mysqld.sock"), Port: port, tools: t}
		lastErr = p.waitFor(60*time.Second, func() error {
			if err := tcpReady(port)(); err != nil {
				return err
			}
			_, err := m.Exec("SELECT 1")
			return err
		})
		if lastErr == nil {
			return m, nil
		}
		p.Kill()
		if !strings.Contains(lastErr.Error(), "already in use") {
			break
		}
	}
	return nil, lastErr
}

// Exec runs SQL as root over the socket and returns the batch output.
func (m *MariaDB) Exec(sql string) (string, error) {
	cmd := exec.Command(m.tools.MySQL, "--no-defaults", "--socket="+m.Socket, "--user=root",
		"--default-character-set=utf8mb4", "--batch", "--skip-column-names", "--max-allowed-packet=256M")
	cmd.Stdin = strings.NewReader(sql)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		s := sql
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		e := strings.TrimSpace(stderr.String())
		if len(e) > 600 {
			e = "…" + e[len(e)-600:]
		}
		return "", fmt.Errorf("mysql on %s failed: %w: %s (SQL: %s)", m.Dir, err, e, s)
	}
	return out.String(), nil
}

// Query runs SQL and splits the batch output into rows and columns.
func (m *MariaDB) Query(sql string) ([][]string, error) {
	out, err := m.Exec(sql)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "\t"))
		}
	}
	return rows, nil
}

// WriteTarget writes the connection files the operator would mount at --target-dir.
func (m *MariaDB) WriteTarget(dir, password string) error {
	return WriteTarget(dir, "127.0.0.1", m.Port, DBUser, password)
}

// WriteTarget writes a target directory.
func WriteTarget(dir, host string, port int, user, password string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, v := range map[string]string{"host": host, "port": strconv.Itoa(port), "username": user, "password": password} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// Ident quotes an SQL identifier.
func Ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// StartRestServer starts rest-server on dataDir. With htpasswd content, it requires auth.
func (t *Tools) StartRestServer(dataDir string, port int, htpasswd string) (*Proc, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	args := []string{t.RestServer, "--path", dataDir, "--listen", "127.0.0.1:" + strconv.Itoa(port)}
	if htpasswd == "" {
		args = append(args, "--no-auth")
	} else {
		f := filepath.Join(filepath.Dir(dataDir), "htpasswd-"+strconv.Itoa(port))
		if err := os.WriteFile(f, []byte(htpasswd), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--htpasswd-file", f)
	}
	p, err := startProc("rest-server", dataDir+".log", args...)
	if err != nil {
		return nil, err
	}
	return p, p.waitFor(30*time.Second, tcpReady(port))
}

// StartVersityGW starts versitygw serving dataDir over S3.
func (t *Tools) StartVersityGW(dataDir string, port int, access, secret string) (*Proc, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	p, err := startProc("versitygw", dataDir+".log", t.VersityGW, "--port", "127.0.0.1:"+strconv.Itoa(port),
		"--access", access, "--secret", secret, "--quiet", "posix", dataDir)
	if err != nil {
		return nil, err
	}
	return p, p.waitFor(30*time.Second, tcpReady(port))
}

// Repo is a repository as the addon's flags and a storage Secret describe it, plus the
// environment to inspect it with restic directly.
type Repo struct {
	Flags     []string
	SecretDir string
	Env       []string
}

// NewRepo writes the storage Secret into secretDir and returns the repository.
func NewRepo(secretDir string, flags []string, secret map[string]string, env ...string) (*Repo, error) {
	if err := os.MkdirAll(secretDir, 0o700); err != nil {
		return nil, err
	}
	for k, v := range secret {
		if err := os.WriteFile(filepath.Join(secretDir, k), []byte(v), 0o600); err != nil {
			return nil, err
		}
	}
	r := &Repo{Flags: append(flags, "--secret-dir="+secretDir), SecretDir: secretDir}
	r.Env = append([]string{"RESTIC_PASSWORD=" + secret["RESTIC_PASSWORD"]}, env...)
	return r, nil
}

// Restic runs restic on the repository and returns stdout.
func (r *Repo) Restic(ctx context.Context, t *Tools, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, t.Restic, append(args, "--no-cache")...)
	cmd.Env = append(os.Environ(), r.Env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("restic %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// Snapshot is what the tests read from `restic snapshots --json`.
type Snapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags"`
}

// Snapshots lists all snapshots of the repository.
func (r *Repo) Snapshots(ctx context.Context, t *Tools) ([]Snapshot, error) {
	out, err := r.Restic(ctx, t, "snapshots", "--json")
	if err != nil {
		return nil, err
	}
	var s []Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, fmt.Errorf("failed to decode snapshots: %w: %s", err, out)
	}
	return s, nil
}

// AddonRun is one finished run of the addon.
type AddonRun struct {
	Result *result.Result
	// Output is output.json as written.
	Output   []byte
	Stdout   string
	Stderr   string
	ExitCode int
	Duration time.Duration
}

// Addon is a running addon process.
type Addon struct {
	Cmd       *exec.Cmd
	outputDir string
	stdout    bytes.Buffer
	stderr    bytes.Buffer
	start     time.Time
}

// StartAddon starts the addon with args plus --output-dir and --restic.
func (t *Tools) StartAddon(outputDir string, args ...string) (*Addon, error) {
	a := &Addon{outputDir: outputDir, start: time.Now()}
	args = append(args, "--output-dir="+outputDir, "--restic="+t.Restic)
	a.Cmd = exec.Command(t.Addon, args...)
	a.Cmd.Stdout, a.Cmd.Stderr = &a.stdout, &a.stderr
	a.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start the addon: %w", err)
	}
	return a, nil
}

// Wait waits for the addon and reads its result.
func (a *Addon) Wait() (*AddonRun, error) {
	err := a.Cmd.Wait()
	run := &AddonRun{Stdout: a.stdout.String(), Stderr: a.stderr.String(), Duration: time.Since(a.start)}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return run, err
	}
	run.ExitCode = a.Cmd.ProcessState.ExitCode()
	b, rerr := os.ReadFile(filepath.Join(a.outputDir, result.FileName))
	if rerr != nil {
		return run, fmt.Errorf("addon exited %d without a result (%w)\nstderr:\n%s", run.ExitCode, rerr, run.Stderr)
	}
	res, rerr := result.Parse(b)
	if rerr != nil {
		return run, rerr
	}
	run.Output, run.Result = b, res
	return run, nil
}

// RunAddon runs the addon to its end.
func (t *Tools) RunAddon(outputDir string, args ...string) (*AddonRun, error) {
	a, err := t.StartAddon(outputDir, args...)
	if err != nil {
		return nil, err
	}
	return a.Wait()
}
