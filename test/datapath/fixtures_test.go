package datapath

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoard-operator/hoard/internal/result"
)

// shopSQL is a small database for the backend and fault tests.
const shopSQL = `CREATE DATABASE shop CHARACTER SET utf8mb4; USE shop;
CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(50), note TEXT);
CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), FOREIGN KEY (customer_id) REFERENCES shop.customers (id));
INSERT INTO shop.customers SELECT seq, CONCAT('customer ', seq, ' 😀'), REPEAT('n', seq % 50) FROM seq_1_to_500;
INSERT INTO shop.orders (customer_id, total) SELECT 1 + seq % 500, seq / 7 FROM seq_1_to_3000;`

// bigSQL makes a database whose dump streams ~80 MiB of hex before it reaches z_locked, so a
// test can block the dump on z_locked after restic has uploaded pack files.
const bigSQL = `CREATE DATABASE big; USE big;
CREATE TABLE big.a_big (id INT PRIMARY KEY, b BLOB);
INSERT INTO big.a_big SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_40960;
CREATE TABLE big.z_locked (id INT PRIMARY KEY, v VARCHAR(10));
INSERT INTO big.z_locked VALUES (1, 'last');`

// lockTable holds LOCK TABLES ... WRITE in a session of its own until release is called: a
// dump that reaches the table waits, which lets a test act while every process is running.
func lockTable(t *testing.T, m *MariaDB, table string) (release func()) {
	t.Helper()
	cmd := exec.Command(tools.MySQL, "--no-defaults", "--socket="+m.Socket, "--user=root", "--batch", "--skip-column-names", "--unbuffered")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(stdin, "LOCK TABLES %s WRITE; SELECT 'locked';\n", table); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("failed to lock %s: %q, %v", table, line, err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		_, _ = io.WriteString(stdin, "UNLOCK TABLES;\n")
		stdin.Close()
		if err := cmd.Wait(); err != nil && !m.Exited() {
			t.Errorf("lock session: %v", err)
		}
	}
	t.Cleanup(release)
	return release
}

// waitDumpBlocked waits until a dump waits for the lock of lockTable.
func waitDumpBlocked(t *testing.T, m *MariaDB, a *Addon) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rows, err := m.Query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for % metadata lock'")
		if err == nil && rows[0][0] != "0" {
			return
		}
		if a.Cmd.ProcessState != nil || processGone(a.Cmd.Process.Pid) {
			t.Fatal("the addon ended before its dump reached the locked table")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dump never reached the locked table (last error %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// A zombie has finished.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// proc is one process found under /proc.
type proc struct {
	pid, ppid int
	argv      []string
}

func (p proc) name() string {
	if len(p.argv) == 0 {
		return ""
	}
	n := filepath.Base(p.argv[0])
	if n == "hoard-mysql-addon" && len(p.argv) > 1 {
		n += " " + p.argv[1]
	}
	return n
}

// processes lists every process; raw cmdlines are returned as well for secret scans.
func processes() (map[int]proc, map[int]string) {
	out, raw := map[int]proc{}, map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		ppid, _ := strconv.Atoi(f[1])
		raw[pid] = string(cmdline)
		out[pid] = proc{pid: pid, ppid: ppid, argv: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
	}
	return out, raw
}

// descendants returns the processes below root, by name.
func descendants(all map[int]proc, root int) map[string]proc {
	out := map[string]proc{}
	for _, p := range all {
		for q, ok := p, true; ok && q.ppid != 0; q, ok = all[q.ppid] {
			if q.ppid == root {
				out[p.name()] = p
				break
			}
		}
	}
	return out
}

// killAtCleanup kills, by PID, processes an addon left behind (after its restic was killed).
func killAtCleanup(t *testing.T, procs map[string]proc) {
	t.Cleanup(func() {
		for _, p := range procs {
			if !processGone(p.pid) {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
	})
}

// htpasswdSHA is an htpasswd line rest-server accepts ({SHA}, base64 of SHA-1).
func htpasswdSHA(user, password string) string {
	sum := sha1.Sum([]byte(password))
	return user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
}

// restRepo starts a rest-server with authentication and returns a repository on it.
func restRepo(t *testing.T, user, password string) (*Repo, *Proc, string, int) {
	t.Helper()
	base := t.TempDir()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "rest-data")
	p, err := tools.StartRestServer(data, port, htpasswdSHA(user, password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	url := fmt.Sprintf("http://127.0.0.1:%d/demo-repo", port)
	r, err := NewRepo(filepath.Join(base, "secret"), []string{"--provider=rest", "--endpoint=" + url, "--bucket=127.0.0.1"},
		map[string]string{"RESTIC_PASSWORD": resticPassword, "REST_SERVER_USERNAME": user, "REST_SERVER_PASSWORD": password},
		fmt.Sprintf("RESTIC_REPOSITORY=rest:http://%s:%s@127.0.0.1:%d/demo-repo", user, password, port))
	if err != nil {
		t.Fatal(err)
	}
	return r, p, data, port
}

// s3Repo starts versitygw and returns a repository in a bucket on it.
func s3Repo(t *testing.T) *Repo {
	t.Helper()
	base := t.TempDir()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	const access, secret = "hoardaccess", "hoard-s3-Secret-Key"
	p, err := tools.StartVersityGW(filepath.Join(base, "s3-data"), port, access, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	r, err := NewRepo(filepath.Join(base, "secret"),
		[]string{"--provider=s3", "--endpoint=" + endpoint, "--bucket=hoard-backups", "--path=/demo/mysql/", "--region=us-east-1"},
		map[string]string{"RESTIC_PASSWORD": resticPassword, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret},
		"RESTIC_REPOSITORY=s3:"+endpoint+"/hoard-backups/demo/mysql", "AWS_ACCESS_KEY_ID="+access, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// progressLines checks that stdout holds only progress lines and returns them.
func progressLines(t *testing.T, stdout string) []result.Progress {
	t.Helper()
	var out []result.Progress
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if l == "" {
			continue
		}
		p, ok := result.ParseProgress([]byte(l))
		if !ok {
			t.Errorf("stdout line is not a progress report: %q", l)
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Error("no progress on stdout")
	}
	return out
}
