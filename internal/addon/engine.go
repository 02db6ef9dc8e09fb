package addon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/hoard-operator/hoard/internal/dumpfacts"
	"github.com/hoard-operator/hoard/internal/loader"
	"github.com/hoard-operator/hoard/internal/mysql"
	"github.com/hoard-operator/hoard/internal/pipe"
	"github.com/hoard-operator/hoard/internal/restic"
	"github.com/hoard-operator/hoard/internal/result"
)

// Restore modes (the Task param restoreMode).
const (
	// ModeEngine loads the dump over several connections (package loader).
	ModeEngine = "engine"
	// ModePipe is Stash's way: `restic dump | mysql`.
	ModePipe = "pipe"
)

// engineDB opens a pool for the restore engine on the target, with the same TLS rules as
// the option file of the mysql client.
func engineDB(t *mysql.Target, logTo io.Writer) (*sql.DB, error) {
	cfg := gomysql.NewConfig()
	cfg.User = t.Username
	cfg.Passwd = t.Password
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	cfg.AllowNativePasswords = true
	cfg.Timeout = 10 * time.Second
	// 0: the server's max_allowed_packet, as large a statement as the server takes.
	cfg.MaxAllowedPacket = 0
	cfg.Logger = log.New(logTo, "mysql driver: ", 0)
	switch {
	case t.CAFile != "" && !t.InsecureSkipVerify:
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read the database's CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("the database's CA bundle holds no PEM certificate")
		}
		cfg.TLS = &tls.Config{RootCAs: pool, ServerName: t.Host, MinVersion: tls.VersionTLS12}
	case t.InsecureSkipVerify:
		cfg.TLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the AppBinding asks for it
	}
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to configure the database connection: %w", err)
	}
	return sql.OpenDB(conn), nil
}

// dumpReader reads restic's output and, at its end, restic's outcome: a dump that failed
// is an error, never an EOF, so the engine never executes the statement it was cut in.
type dumpReader struct {
	r        *os.File
	progress *streamProgress
	n        int64
	result   func() error
	// facts, when verifying, looks for the dump's record of its rows.
	facts *dumpfacts.Finder
}

func (d *dumpReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if d.facts != nil {
		_, _ = d.facts.Write(p[:n])
	}
	done := d.n
	if total := d.progress.total.Load(); total > 0 {
		done = min(done, total)
	}
	d.progress.update(done)
	if errors.Is(err, io.EOF) {
		if derr := d.result(); derr != nil {
			return n, fmt.Errorf("the dump stream ended early: restic dump failed: %w", derr)
		}
	}
	return n, err
}

// waitResult is closed once result returns.
func waitResult(result func() error) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		_ = result()
		close(c)
	}()
	return c
}

// loadFailure is where the engine stopped, for the result.
func loadFailure(e *loader.Error) *result.LoadFailure {
	partly := slices.Sorted(slices.Values(e.Loading))
	return &result.LoadFailure{Line: e.Line, Table: e.Table, TablesCompleted: len(e.Completed),
		Completed:    e.Completed[max(0, len(e.Completed)-result.MaxLoadTables):],
		PartlyLoaded: partly[:min(len(partly), result.MaxLoadTables)]}
}

// tablesProgress is the engine's part of a progress report.
func tablesProgress(p loader.Progress) *result.Progress {
	r := &result.Progress{TablesDone: int64(p.TablesDone), RowsDone: p.Rows, Tables: make([]result.TableProgress, len(p.Loading))}
	names := make([]string, len(p.Loading))
	for i, t := range p.Loading {
		names[i] = t.Table
		r.Tables[i] = result.TableProgress{Table: t.Table, Rows: t.Rows, Bytes: t.Bytes}
	}
	r.Loading = strings.Join(names, ",")
	return r
}

// connectionsArg is the restoreConnections param for the log: 0 lets the engine choose.
func connectionsArg(n int) string {
	if n <= 0 {
		return "auto"
	}
	return strconv.Itoa(n)
}

// loadWithEngine streams the snapshot's file into the restore engine.
func (s *session) loadWithEngine(ctx context.Context, o *RestoreOptions, snap *restic.Snapshot, file string, progress *streamProgress, facts *dumpfacts.Finder) error {
	db, err := engineDB(s.target, s.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	r, w, err := pipe.New()
	if err != nil {
		return fmt.Errorf("failed to create a pipe for the dump: %w", err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		// restic exits with "locked" only when it could not take its lock, before it
		// writes anything: the engine has read nothing then, and the dump can run again.
		err := s.retryLocked(ctx, "dump", func(ctx context.Context) error {
			return s.restic.Dump(ctx, snap.ID, file, restic.Filter{}, w)
		})
		w.Close()
		done <- err
	}()
	var once sync.Once
	var dumpErr error
	dumpResult := func() error {
		once.Do(func() { dumpErr = <-done })
		return dumpErr
	}
	s.log.Info("loading with the restore engine", "connections", connectionsArg(o.Connections), "deferIndexes", !o.NoDeferIndexes, "skipBinlog", o.SkipBinlog, "keepAccounts", o.KeepAccounts)
	stats, loadErr := loader.Load(ctx, db, &dumpReader{r: r, progress: progress, result: dumpResult, facts: facts}, loader.Options{
		Connections: o.Connections, DeferIndexes: !o.NoDeferIndexes, SkipBinlog: o.SkipBinlog, KeepAccounts: o.KeepAccounts, Log: s.log,
		Progress: func(p loader.Progress) { progress.tables.Store(tablesProgress(p)) },
	})
	if ctx.Err() != nil {
		// The Job is being stopped: restic was interrupted by the same signal and must
		// remove its lock before it exits; a reader gone first would kill it with SIGPIPE
		// and leave the lock. What it still writes is read and dropped meanwhile.
		go func() { _, _ = io.Copy(io.Discard, r) }()
		select {
		case <-waitResult(dumpResult):
		case <-time.After(mysql.WriterGrace):
		}
	}
	// Whatever restic still writes goes nowhere: it stops on a broken pipe.
	r.Close()
	derr := dumpResult()
	done2 := result.FormatBytes(progress.done.Load())
	switch {
	case loadErr != nil && ctx.Err() != nil:
		err := loadErr
		if derr != nil {
			err = derr
		}
		return fmt.Errorf("the restore was stopped by a termination signal (pod deleted or deadline passed) after %s of the dump"+partlyRestored+": %w", done2, err)
	case loadErr != nil:
		return fmt.Errorf("restore failed after %s of the dump"+partlyRestored+": %w", done2, loadErr)
	case derr != nil && !restic.ReaderGone(derr):
		// The statements before the break were loaded.
		return fmt.Errorf("restore failed after %s of the dump%s: %w", done2, changedAfter(progress.done.Load()), derr)
	}
	s.log.Info("restore engine done", "statements", stats.Statements, "tables", stats.Tables, "deferredIndexTables", stats.DeferredTables, "connections", stats.Connections)
	switch {
	case o.KeepAccounts && stats.AccountStatements > 0:
		s.log.Info("the accounts were kept: statements of the mysql schema and on accounts were skipped", "skipped", stats.AccountStatements)
	case len(stats.SystemTables) > 0:
		s.log.Info("the dump's mysql schema was loaded: its accounts replace the server's (param keepAccounts=true keeps them)", "tables", strings.Join(stats.SystemTables, ","))
	}
	return nil
}
