// Package loader executes a SQL dump over several connections: the restore engine. It reads
// the statements exactly as the mysql client would send them (package sqldump) and keeps
// their order wherever it matters:
//
//   - the statements of one table (DROP, CREATE, its rows, ALTER ... KEYS) keep their order,
//     except that the row INSERTs of a table, which depend on nothing but the table, run on
//     any connection;
//   - different tables load side by side;
//   - any other statement (databases, views, routines, triggers, events, grants, anything not
//     recognised) waits for everything before it and runs alone, on the control connection,
//     before anything after it: dump order;
//   - session settings (SET) apply on the control connection at once and on every other
//     connection before its next statement, so each statement runs in the session the
//     dump set up for it.
//
// An InnoDB table's secondary indexes can be created after its rows (see
// sqldump.CreateTableStmt.DeferKeys). Each connection sets foreign_key_checks=0 for its own
// session, as tables that refer to each other load side by side (and sql_log_bin=0 when
// asked); unique_checks is what the dump sets (mysqldump's header turns it off). No
// server-wide setting is changed.
package loader

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/hoard-operator/hoard/internal/sqldump"
)

// Options configure a load.
type Options struct {
	// Connections is the number of connections that load tables; when 0, the engine sizes
	// it (see DefaultConnections).
	Connections int
	// DeferIndexes creates the deferrable secondary indexes of InnoDB tables after their rows.
	DeferIndexes bool
	// SkipBinlog sets sql_log_bin=0 on every connection: replicas do not get the data.
	SkipBinlog bool
	// KeepAccounts leaves the server's accounts as they are: the statements on the tables of
	// the mysql schema, on the schema itself, and those that create, change or remove
	// accounts and privileges are skipped (see keepsAccounts).
	KeepAccounts bool
	// Log gets one line per table loaded; nil for none.
	Log *slog.Logger
	// Progress is called when a table starts or ends loading and after each INSERT, with
	// the engine's lock held (it must only record what it gets); nil for none.
	Progress func(Progress)
}

// Progress is how far a load has come.
type Progress struct {
	// TablesDone counts the tables loaded completely; Rows the rows loaded, of all tables.
	TablesDone int
	Rows       int64
	// Loading are the tables being loaded, by name.
	Loading []TableProgress
}

// TableProgress is a table being loaded: its rows loaded so far and the bytes of its
// statements executed.
type TableProgress struct {
	Table       string
	Rows, Bytes int64
}

// maxConnections bounds the loading connections the engine picks itself.
const maxConnections = 16

// DefaultConnections is the number of loading connections for a server with serverCPUs
// processors (0: unknown): two per CPU of this process or of the server, whichever has more,
// at most maxConnections. Two per CPU, as a connection also waits (for its next statement,
// for the server's answer): on 2 cores, 4 connections loaded the bench's dump faster than 2
// (design 0024).
func DefaultConnections(serverCPUs int) int {
	return max(2, min(2*max(runtime.GOMAXPROCS(0), serverCPUs), maxConnections))
}

// serverCPUs asks the server how many processors it has: MariaDB's thread_pool_size is the
// server's CPU count unless set (it exists whether or not the pool is in use). 0 when the
// server does not say (MySQL has no such variable).
func serverCPUs(ctx context.Context, c *sql.Conn) int {
	var n int
	if err := c.QueryRowContext(ctx, "SELECT @@GLOBAL.thread_pool_size").Scan(&n); err != nil || n < 0 {
		return 0
	}
	return n
}

// Stats describe a load.
type Stats struct {
	Statements int64
	Tables     int
	// Rows is the number of rows the INSERTs of tables loaded (as the dump counts them).
	Rows int64
	// DeferredTables is the number of tables whose indexes were built after their rows;
	// Deferred their names and the keys, in the order they were added.
	DeferredTables int
	Deferred       map[string][]string
	Connections    int
	// AccountStatements are the statements skipped to keep the accounts (KeepAccounts), and
	// SystemTables the tables of the mysql schema the dump loaded, by name (without it).
	AccountStatements int
	SystemTables      []string
}

// Error is a failed load: where it stopped and what was done.
type Error struct {
	// Line is the line of the dump the failed statement starts on (0: not a statement).
	Line int
	// Table is the table of the failed statement, "" when it was not a table's.
	Table string
	// Completed are the tables loaded completely, in the order they finished.
	Completed []string
	// Loading are the tables that were being loaded.
	Loading []string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	var me *gomysql.MySQLError
	switch {
	case errors.As(e.Err, &me) && e.Line > 0:
		// The server's own message, as the mysql client prints it.
		fmt.Fprintf(&b, "ERROR %d (%s) at line %d: %s", me.Number, me.SQLState[:], e.Line, me.Message)
		if e.Table != "" {
			fmt.Fprintf(&b, " (table %s)", e.Table)
		}
	case e.Line > 0:
		fmt.Fprintf(&b, "the statement at line %d of the dump", e.Line)
		if e.Table != "" {
			fmt.Fprintf(&b, " (table %s)", e.Table)
		}
		if errors.Is(e.Err, gomysql.ErrInvalidConn) || errors.Is(e.Err, driver.ErrBadConn) {
			fmt.Fprintf(&b, " failed: the connection to the server was lost (%v): was the server stopped or restarted?", e.Err)
		} else {
			fmt.Fprintf(&b, " failed: %v", e.Err)
		}
	default:
		b.WriteString(e.Err.Error())
	}
	fmt.Fprintf(&b, "; %d tables were loaded completely", len(e.Completed))
	if n := len(e.Completed); n > 0 {
		b.WriteString(" (")
		if n > 5 {
			b.WriteString("…, ")
		}
		b.WriteString(strings.Join(e.Completed[max(0, n-5):], ", "))
		b.WriteString(")")
	}
	if len(e.Loading) > 0 {
		fmt.Fprintf(&b, "; partly loaded: %s", strings.Join(e.Loading, ", "))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Load executes the dump read from r on the server of db. r must report an incomplete
// stream as an error rather than io.EOF: the last statement of a stream without a final
// delimiter is executed only after a clean end.
func Load(ctx context.Context, db *sql.DB, r io.Reader, o Options) (*Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e := &engine{ctx: ctx, cancel: cancel, o: o, split: sqldump.NewSplitter(r), units: map[string]*task{},
		loading: map[string]*unit{}}
	db.SetMaxOpenConns(maxConnections + 1)
	var err error
	if e.control, err = e.open(db); err != nil {
		return nil, err
	}
	defer func() { _ = e.control.Close() }()
	n := o.Connections
	if n <= 0 {
		cpus := serverCPUs(ctx, e.control)
		n = DefaultConnections(cpus)
		if o.Log != nil {
			o.Log.Info("loading connections chosen", "connections", n, "cpus", runtime.GOMAXPROCS(0), "serverCPUs", cpus)
		}
	}
	e.queue = make(chan *task, 2*n)
	e.stats.Connections = n
	db.SetMaxOpenConns(n + 1)
	db.SetMaxIdleConns(n + 1)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := e.open(db)
		if err != nil && o.Connections <= 0 && i > 0 && tooManyConnections(err) {
			// The server or the account allows fewer connections than the engine chose:
			// it loads with those it has rather than fail a restore for want of speed.
			if o.Log != nil {
				o.Log.Info("the server refused more connections: loading with fewer", "connections", i, "error", err)
			}
			n = i
			e.stats.Connections = n
			break
		}
		if err != nil {
			close(e.queue)
			wg.Wait()
			return nil, err
		}
		w := &worker{e: e, conn: c}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = c.Close() }()
			w.run()
		}()
	}
	runErr := e.run()
	close(e.queue)
	wg.Wait()
	if runErr == nil {
		runErr = e.failure()
	}
	if runErr != nil {
		return &e.stats, runErr
	}
	return &e.stats, nil
}

// tooManyConnections tells whether the server refused a connection for its number:
// max_connections (ER_CON_COUNT_ERROR), or the account's limits (ER_TOO_MANY_USER_CONNECTIONS,
// and ER_USER_LIMIT_REACHED, which MariaDB returns for max_user_connections).
func tooManyConnections(err error) bool {
	var me *gomysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1040 || me.Number == 1203 || me.Number == 1226)
}

// open opens a connection with the session settings of a bulk load.
func (e *engine) open(db *sql.DB) (*sql.Conn, error) {
	c, err := db.Conn(e.ctx)
	if err != nil {
		return nil, fmt.Errorf("the restore engine failed to connect to the database (the Task param restoreMode: pipe restores with the mysql client instead): %w", err)
	}
	if err := e.sessionSettings(c); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (e *engine) sessionSettings(c *sql.Conn) error {
	q := "SET SESSION foreign_key_checks=0"
	if e.o.SkipBinlog {
		q += ", sql_log_bin=0"
	}
	if _, err := c.ExecContext(e.ctx, q); err != nil {
		return fmt.Errorf("failed to set the session for a bulk load (%s): %w", q, err)
	}
	return nil
}

type engine struct {
	ctx    context.Context
	cancel context.CancelFunc
	o      Options
	split  *sqldump.Splitter
	// control runs session settings as they come and every statement that is not a
	// table's, in dump order.
	control *sql.Conn
	queue   chan *task
	// inflight counts the tasks queued and not done.
	inflight sync.WaitGroup

	// db is the session's database (USE).
	db string
	// cur is the table whose statements are being read; units the last task of each table
	// seen since the last barrier.
	cur   *unit
	units map[string]*task
	// serial: from now on every statement runs on the control connection (see
	// sqldump.Class.Serial); controlLocks: until UNLOCK TABLES (LOCK TABLES of a table
	// whose rows cannot be spread).
	serial       bool
	controlLocks bool

	mu sync.Mutex
	// log holds the session statements, in dump order.
	log       []string
	err       *Error
	completed []string
	loading   map[string]*unit
	stats     Stats
}

// unit is one table's run of statements.
type unit struct {
	name    string
	db      string
	table   string
	innodb  bool
	skipped bool // its LOCK TABLES was not sent
	hasRows bool // an INSERT was queued
	// rows and bytes: what its executed statements loaded (under engine.mu).
	rows, bytes int64
	defer_      *sqldump.Deferred
	last        *task
	inserts     []*task
}

type task struct {
	text   string
	logLen int
	deps   []*task
	done   chan struct{}
	line   int
	unit   *unit
	// closes: the unit's last task.
	closes bool
	// retry: an INSERT that InnoDB rolled back as a deadlock victim runs again.
	retry bool
	// rows an INSERT loads.
	rows int64
}

func (e *engine) run() error {
	for {
		if err := e.failure(); err != nil {
			return err
		}
		st, err := e.split.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return e.fail(0, nil, err)
		}
		if err := e.handle(st); err != nil {
			return err
		}
	}
	e.closeUnit()
	e.inflight.Wait()
	return e.failure()
}

func (e *engine) handle(st sqldump.Statement) error {
	if st.Kind == sqldump.Use {
		e.db = st.DB
		return e.session("USE "+sqldump.QuoteIdent(st.DB), st.Line)
	}
	text := string(st.Text)
	c := sqldump.Classify(st.Text)
	if e.o.KeepAccounts && e.keepsAccounts(st.Text, c) {
		e.stats.AccountStatements++
		return nil
	}
	if c.Serial {
		e.serial = true
	}
	if e.serial || e.controlLocks {
		if c.Role == sqldump.UnlockTables {
			e.controlLocks = false
		}
		if c.Role == sqldump.Session {
			return e.session(text, st.Line)
		}
		return e.barrier(text, st.Line)
	}
	switch c.Role {
	case sqldump.Session:
		return e.session(text, st.Line)
	case sqldump.Other:
		return e.barrier(text, st.Line)
	case sqldump.UnlockTables:
		if e.cur != nil && e.cur.skipped {
			e.cur.skipped = false
			return nil
		}
		return e.barrier(text, st.Line)
	}
	db := c.DB
	if db == "" {
		db = e.db
	}
	name := sqldump.QuoteIdent(c.Table)
	if db != "" {
		name = sqldump.QuoteIdent(db) + "." + name
	}
	if e.cur == nil || e.cur.name != name {
		e.closeUnit()
		e.cur = &unit{name: name, db: db, table: c.Table, last: e.units[name]}
		e.mu.Lock()
		e.loading[name] = e.cur
		e.mu.Unlock()
		e.progress()
	}
	u := e.cur
	switch c.Role {
	case sqldump.CreateTable:
		if db == sqldump.SystemSchema {
			e.stats.SystemTables = append(e.stats.SystemTables, c.Table)
		}
		if ct, err := sqldump.ParseCreateTable(st.Text); err == nil {
			u.innodb = ct.InnoDB
			if e.o.DeferIndexes && db != "" {
				if d := ct.DeferKeys(); d != nil {
					u.defer_ = d
					text = string(d.Create)
				}
			}
		}
		e.sync(u, text, st.Line)
	case sqldump.LockTable:
		if u.innodb {
			// Rows spread over connections cannot load under one connection's lock, and
			// InnoDB gains nothing from it: the lock is not taken.
			u.skipped = true
			return nil
		}
		e.closeUnit()
		e.controlLocks = true
		return e.barrier(text, st.Line)
	case sqldump.Insert:
		if !u.hasRows {
			// Into an empty table with both checks off, InnoDB loads one statement under a
			// table lock (and sorts its indexes): the first one runs alone, the others can
			// then spread over the connections.
			u.hasRows = true
			e.sync(u, text, st.Line)
			u.last.retry, u.last.rows = true, c.Rows
			return nil
		}
		t := e.newTask(text, st.Line, u, u.last)
		t.retry, t.rows = true, c.Rows
		u.inserts = append(u.inserts, t)
		e.enqueue(t)
	default:
		e.sync(u, text, st.Line)
	}
	return nil
}

// keepsAccounts tells whether KeepAccounts skips a statement: any statement of the mysql
// schema (its tables, its views, the schema's own CREATE or DROP DATABASE) but a USE or a
// session setting, and any statement on accounts or privileges wherever it is. The whole
// schema, not only its grant tables: what else it holds (time zones, plugins, servers) is the
// target server's own as much as its accounts are.
func (e *engine) keepsAccounts(text []byte, c sqldump.Class) bool {
	if c.Role == sqldump.Session {
		return false
	}
	if sqldump.IsAccountStatement(text) {
		return true
	}
	if db, ok := sqldump.DatabaseStatement(text); ok {
		return db == sqldump.SystemSchema
	}
	db := c.DB
	if db == "" {
		db = e.db
	}
	return db == sqldump.SystemSchema
}

func (e *engine) newTask(text string, line int, u *unit, deps ...*task) *task {
	e.mu.Lock()
	n := len(e.log)
	e.mu.Unlock()
	t := &task{text: text, logLen: n, done: make(chan struct{}), line: line, unit: u}
	for _, d := range deps {
		if d != nil {
			t.deps = append(t.deps, d)
		}
	}
	return t
}

// sync queues a statement of u that runs after all of u's statements before it.
func (e *engine) sync(u *unit, text string, line int) {
	t := e.newTask(text, line, u, append([]*task{u.last}, u.inserts...)...)
	u.last, u.inserts = t, nil
	e.enqueue(t)
}

func (e *engine) enqueue(t *task) {
	e.inflight.Add(1)
	atomic.AddInt64(&e.stats.Statements, 1)
	select {
	case e.queue <- t:
	case <-e.ctx.Done():
		close(t.done)
		e.inflight.Done()
	}
}

// closeUnit ends the current table: its deferred indexes are created after all its rows.
func (e *engine) closeUnit() {
	u := e.cur
	if u == nil {
		return
	}
	e.cur = nil
	text := ""
	if u.defer_ != nil {
		text = u.defer_.AlterTable(u.db, u.table)
	}
	t := e.newTask(text, 0, u, append([]*task{u.last}, u.inserts...)...)
	t.closes = true
	u.last, u.inserts = t, nil
	e.units[u.name] = t
	e.enqueue(t)
}

// session runs a session setting on the control connection and records it for the others.
func (e *engine) session(text string, line int) error {
	if _, err := e.control.ExecContext(e.ctx, text); err != nil {
		return e.fail(line, nil, err)
	}
	e.mu.Lock()
	e.log = append(e.log, text)
	e.mu.Unlock()
	return e.afterControl(text, line)
}

// afterControl follows what a statement on the control connection changed for the reading
// of the rest: the sql_mode decides how the client reads backslashes and double quotes.
func (e *engine) afterControl(text string, line int) error {
	lower := strings.ToLower(text)
	if strings.Contains(lower, "sql_log_bin") && e.o.SkipBinlog {
		if _, err := e.control.ExecContext(e.ctx, "SET SESSION sql_log_bin=0"); err != nil {
			return e.fail(line, nil, err)
		}
	}
	if !strings.Contains(lower, "sql_mode") {
		return nil
	}
	var mode string
	if err := e.control.QueryRowContext(e.ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return e.fail(line, nil, fmt.Errorf("failed to read the session's sql_mode: %w", err))
	}
	mode = "," + strings.ToUpper(mode) + ","
	e.split.AnsiQuotes = strings.Contains(mode, ",ANSI_QUOTES,")
	e.split.NoBackslashEscapes = strings.Contains(mode, ",NO_BACKSLASH_ESCAPES,")
	return nil
}

// barrier runs a statement after everything before it, alone.
func (e *engine) barrier(text string, line int) error {
	e.closeUnit()
	e.inflight.Wait()
	if err := e.failure(); err != nil {
		return err
	}
	clear(e.units)
	atomic.AddInt64(&e.stats.Statements, 1)
	if _, err := e.control.ExecContext(e.ctx, text); err != nil {
		return e.fail(line, nil, err)
	}
	return e.afterControl(text, line)
}

// fail records the first error and stops the load.
func (e *engine) fail(line int, u *unit, err error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		fe := &Error{Line: line, Err: err, Completed: append([]string(nil), e.completed...)}
		if u != nil {
			fe.Table = u.name
		}
		for name := range e.loading {
			fe.Loading = append(fe.Loading, name)
		}
		e.err = fe
		e.cancel()
	}
	return e.err
}

func (e *engine) failure() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		return nil
	}
	return e.err
}

// progress reports the tables loaded and loading.
func (e *engine) progress() {
	if e.o.Progress == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := Progress{TablesDone: len(e.completed), Rows: e.stats.Rows, Loading: make([]TableProgress, 0, len(e.loading))}
	for _, u := range e.loading {
		p.Loading = append(p.Loading, TableProgress{Table: u.name, Rows: u.rows, Bytes: u.bytes})
	}
	sort.Slice(p.Loading, func(i, j int) bool { return p.Loading[i].Table < p.Loading[j].Table })
	e.o.Progress(p)
}

// executed records what a table's statement loaded.
func (e *engine) executed(t *task, n int) {
	e.mu.Lock()
	t.unit.rows += t.rows
	t.unit.bytes += int64(n)
	e.stats.Rows += t.rows
	e.mu.Unlock()
	if t.rows > 0 {
		e.progress()
	}
}

func (e *engine) finished(u *unit) {
	defer e.progress()
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.loading, u.name)
	e.completed = append(e.completed, u.name)
	e.stats.Tables++
	if u.defer_ != nil {
		e.stats.DeferredTables++
		if e.stats.Deferred == nil {
			e.stats.Deferred = map[string][]string{}
		}
		e.stats.Deferred[u.name] = u.defer_.Keys
	}
	if e.o.Log != nil {
		e.o.Log.Info("table loaded", "table", u.name, "deferredIndexes", len(deferredKeys(u)))
	}
}

func deferredKeys(u *unit) []string {
	if u.defer_ == nil {
		return nil
	}
	return u.defer_.Keys
}

// worker is one loading connection.
type worker struct {
	e    *engine
	conn *sql.Conn
	// applied is how many session statements of the log this session has run.
	applied int
}

func (w *worker) run() {
	e := w.e
	for t := range e.queue {
		w.do(t)
		close(t.done)
		e.inflight.Done()
	}
}

func (w *worker) do(t *task) {
	e := w.e
	for _, d := range t.deps {
		select {
		case <-d.done:
		case <-e.ctx.Done():
			return
		}
	}
	if e.ctx.Err() != nil {
		return
	}
	if err := w.catchUp(t.logLen); err != nil {
		_ = e.fail(t.line, t.unit, err)
		return
	}
	if t.text != "" {
		if err := w.exec(t); err != nil {
			if e.ctx.Err() == nil {
				_ = e.fail(t.line, t.unit, err)
			}
			return
		}
		if !t.closes {
			e.executed(t, len(t.text))
		}
		t.text = ""
	}
	t.deps = nil
	if t.closes {
		e.finished(t.unit)
	}
}

// maxDeadlockRetries bounds the runs of an INSERT that keeps losing deadlocks.
const maxDeadlockRetries = 5

// exec runs a task's statement. Concurrent INSERTs into one table can deadlock; InnoDB then
// rolls the victim statement back whole (autocommit), and it runs again.
func (w *worker) exec(t *task) error {
	for attempt := 0; ; attempt++ {
		_, err := w.conn.ExecContext(w.e.ctx, t.text)
		var me *gomysql.MySQLError
		if err == nil || !t.retry || attempt >= maxDeadlockRetries || !errors.As(err, &me) || me.Number != 1213 {
			return err
		}
	}
}

// catchUp runs the session statements this connection has not run yet, up to n.
func (w *worker) catchUp(n int) error {
	e := w.e
	if w.applied >= n {
		return nil
	}
	e.mu.Lock()
	pending := append([]string(nil), e.log[w.applied:n]...)
	e.mu.Unlock()
	reset := false
	for _, q := range pending {
		if _, err := w.conn.ExecContext(e.ctx, q); err != nil {
			return err
		}
		l := strings.ToLower(q)
		reset = reset || strings.Contains(l, "foreign_key_checks") || strings.Contains(l, "sql_log_bin")
	}
	w.applied = n
	if reset {
		// The dump's own settings (e.g. restoring foreign_key_checks at its end) must not
		// make this connection check what another one has not loaded yet.
		return e.sessionSettings(w.conn)
	}
	return nil
}
