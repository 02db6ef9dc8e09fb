// Package dumpfacts records what a dump holds while it passes to the repository (the rows of
// each table), and finds that record again in a dump being restored. A verification then
// compares a restored database with the backup itself, never with the live source, which
// has moved on since.
//
// The record is the dump's last line, an SQL comment that every client skips:
//
//	-- hoard-dump-facts: {"v":1,"tables":[{"db":"shop","table":"orders","rows":1200}]}
//
// so a snapshot stays a plain mysqldump file that Stash's `restic dump | mysql` restores.
package dumpfacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/hoard-operator/hoard/internal/sqldump"
)

// Prefix starts the record's line.
const Prefix = "-- hoard-dump-facts: "

// Version is the record's format.
const Version = 1

// Facts are what a dump held when it was taken.
type Facts struct {
	Version int `json:"v"`
	// Tables are the dump's tables in dump order, with the rows its INSERTs hold.
	Tables []Table `json:"tables"`
	// Uncounted is the number of INSERT statements whose rows could not be counted (not of
	// literal rows): the row counts are then lower bounds, not exact.
	Uncounted int `json:"uncounted,omitempty"`
	// Bytes is the size of the dump before the record.
	Bytes int64 `json:"bytes"`
	// Checksum names how Table.Sum was computed (sqldump.RowsChecksum); empty in records
	// written before Hoard summed rows, whose tables are then compared by rows alone.
	Checksum string `json:"checksum,omitempty"`
	// Client and Server are mysqldump's and the server's versions, from the dump's header
	// ("-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB…", "-- Server version\t10.11.19-…"),
	// and DumpArgs the mysqldump options after the option file: a dump taken again with the
	// same of both writes the same rows' text, so checksums compare.
	Client   string   `json:"client,omitempty"`
	Server   string   `json:"server,omitempty"`
	DumpArgs []string `json:"dumpArgs,omitempty"`
	// Binlog is the source's binary log position that the dump is consistent with, as
	// mysqldump --master-data=2 wrote it: where a point-in-time recovery from this dump
	// starts replaying. Nil when the dump holds none (binary logging off).
	Binlog *Binlog `json:"binlog,omitempty"`
}

// Binlog is a position in the source's binary logs.
type Binlog struct {
	File string `json:"file"`
	Pos  int64  `json:"pos"`
	// GTID is the server's GTID position at the same point (MariaDB's gtid_slave_pos form,
	// "domain-server-sequence", comma separated), when the dump holds it.
	GTID string `json:"gtid,omitempty"`
}

// The comment lines of mysqldump --master-data=2 (MariaDB) that hold the position: the file
// and offset near the top, the GTID position near the end.
var (
	changeMasterRe = regexp.MustCompile(`^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+);`)
	gtidRe         = regexp.MustCompile(`^-- SET GLOBAL gtid_slave_pos='([0-9,-]*)';`)
)

// ParsePosition reads the file and offset of mysqldump --master-data=2's comment line
// ("-- CHANGE MASTER TO MASTER_LOG_FILE='…', MASTER_LOG_POS=…;"); ok is false for other lines.
func ParsePosition(line []byte) (file string, pos int64, ok bool) {
	m := changeMasterRe.FindSubmatch(line)
	if m == nil {
		return "", 0, false
	}
	pos, err := strconv.ParseInt(string(m[2]), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return string(m[1]), pos, true
}

// headerSize bounds the start of a dump where its header's versions are looked for.
const headerSize = 4 << 10

// header notes the versions in the dump's header: mysqldump's first comment lines. They are
// read from the stream's start, not from the splitter, which takes them as part of the first
// statement when MariaDB's sandbox comment (/*M!999999\- enable the sandbox mode */) opens
// the dump.
func (c *counter) header(start []byte) {
	for _, line := range bytes.Split(start, []byte("\n")) {
		switch {
		case c.client == "" && (bytes.HasPrefix(line, []byte("-- MariaDB dump ")) || bytes.HasPrefix(line, []byte("-- MySQL dump "))):
			c.client = string(bytes.TrimSpace(line[3:]))
		case c.server == "" && bytes.HasPrefix(line, []byte("-- Server version")):
			c.server = string(bytes.TrimSpace(line[len("-- Server version"):]))
		}
	}
}

// headerReader passes reads through, keeping their first headerSize bytes.
type headerReader struct {
	r     io.Reader
	start []byte
}

func (h *headerReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if rest := headerSize - len(h.start); rest > 0 {
		h.start = append(h.start, p[:min(n, rest)]...)
	}
	return n, err
}

// binlogComment notes what a comment line of the dump says of the binary log position.
func (c *counter) binlogComment(line []byte) {
	if file, pos, ok := ParsePosition(line); ok {
		if c.binlog == nil {
			c.binlog = &Binlog{}
		}
		c.binlog.File, c.binlog.Pos = file, pos
		return
	}
	if m := gtidRe.FindSubmatch(line); m != nil && c.binlog != nil {
		c.binlog.GTID = string(m[1])
	}
}

// Table is one table of the dump.
type Table struct {
	DB    string `json:"db"`
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	// Sum is the checksum of its rows (Facts.Checksum).
	Sum uint64 `json:"sum,omitempty"`
}

// Name is `db`.`table`.
func (t Table) Name() string {
	return sqldump.QuoteIdent(t.DB) + "." + sqldump.QuoteIdent(t.Table)
}

// Exact reports whether every row of the dump was counted.
func (f *Facts) Exact() bool { return f.Uncounted == 0 }

// Line is the record as the dump's last line, newline included.
func (f *Facts) Line() ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the dump's facts: %w", err)
	}
	return append(append([]byte("\n"+Prefix), b...), '\n'), nil
}

// Copy copies a dump from r to w and counts the rows of its tables on the way. The counting
// runs beside the copy, a few buffers behind, so that the copy never waits for it while a
// CPU is free. Counting never stops the copy: a dump the counter cannot read (not
// mysqldump's) is still copied whole, and Copy returns nil facts with the reason. An error
// reading r or writing w is returned as err.
func Copy(w io.Writer, r io.Reader) (facts *Facts, reason error, err error) {
	const buffers, bufferSize = 8, 256 << 10
	free := make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, bufferSize)
	}
	filled := make(chan []byte, buffers)
	counted := make(chan struct{})
	var c counter
	var countErr error
	go func() {
		countErr = c.count(&chanReader{filled: filled, free: free})
		close(counted)
		// A dump the counter stopped reading is still copied: return what it is given.
		for b := range filled {
			free <- b[:cap(b)]
		}
	}()
	var n int64
	for err == nil {
		b := <-free
		k, rerr := r.Read(b)
		if k > 0 {
			if _, werr := w.Write(b[:k]); werr != nil {
				err = fmt.Errorf("failed to write the dump: %w", werr)
				free <- b
				break
			}
			n += int64(k)
			filled <- b[:k]
		} else {
			free <- b
		}
		switch {
		case errors.Is(rerr, io.EOF):
			close(filled)
			<-counted
			if countErr != nil {
				return nil, fmt.Errorf("the dump's rows were not counted: %w", countErr), nil
			}
			f := c.facts()
			f.Bytes = n
			return f, nil, nil
		case rerr != nil:
			err = fmt.Errorf("failed to read the dump: %w", rerr)
		}
	}
	close(filled)
	// The copy failed: what the counter made of the part before does not matter.
	<-counted
	return nil, nil, err
}

// chanReader reads the buffers of Copy, and hands each back once read.
type chanReader struct {
	filled <-chan []byte
	free   chan<- []byte
	cur    []byte
	rest   []byte
}

func (c *chanReader) Read(p []byte) (int, error) {
	for len(c.rest) == 0 {
		if c.cur != nil {
			c.free <- c.cur[:cap(c.cur)]
			c.cur = nil
		}
		b, ok := <-c.filled
		if !ok {
			return 0, io.EOF
		}
		c.cur, c.rest = b, b
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

// counter follows the dump's statements.
type counter struct {
	client    string
	server    string
	db        string
	tables    map[[2]string]int
	list      []Table
	uncounted int
	binlog    *Binlog
}

// count reads the dump's statements to the end.
func (c *counter) count(r io.Reader) error {
	c.tables = map[[2]string]int{}
	h := &headerReader{r: r}
	defer func() { c.header(h.start) }()
	sp := sqldump.NewSplitter(h)
	sp.LineComment = c.binlogComment
	for {
		st, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		c.add(st)
	}
}

func (c *counter) add(st sqldump.Statement) {
	if st.Kind == sqldump.Use {
		c.db = st.DB
		return
	}
	if isInsert(st.Text) {
		db, table, rows, sum, ok := sqldump.SumInsert(st.Text)
		if !ok {
			c.uncounted++
			return
		}
		t := c.table(c.key(db, table))
		t.Rows += rows
		t.Sum += sum
		return
	}
	cl := sqldump.Classify(st.Text)
	switch cl.Role {
	case sqldump.DropTable:
		// A table dropped again (a view's placeholder) is not one of the dump's tables.
		key := c.key(cl.DB, cl.Table)
		if i, ok := c.tables[key]; ok {
			c.list[i].Rows = -1
			delete(c.tables, key)
		}
	case sqldump.CreateTable:
		c.table(c.key(cl.DB, cl.Table)).Rows = 0
	}
}

// key is a table's database (the current one when the statement names none) and name.
func (c *counter) key(db, table string) [2]string {
	if db == "" {
		db = c.db
	}
	return [2]string{db, table}
}

func (c *counter) table(key [2]string) *Table {
	i, ok := c.tables[key]
	if !ok {
		i = len(c.list)
		c.tables[key] = i
		c.list = append(c.list, Table{DB: key[0], Table: key[1]})
	}
	return &c.list[i]
}

func (c *counter) facts() *Facts {
	f := &Facts{Version: Version, Uncounted: c.uncounted, Tables: make([]Table, 0, len(c.tables)), Binlog: c.binlog,
		Checksum: sqldump.RowsChecksum, Client: c.client, Server: c.server}
	for _, t := range c.list {
		if t.Rows >= 0 {
			f.Tables = append(f.Tables, t)
		}
	}
	return f
}

// isInsert reports whether a statement starts with INSERT or REPLACE: those that
// CountInsert cannot read make the counts lower bounds.
func isInsert(text []byte) bool {
	text = bytes.TrimLeft(text, " \t\r\n")
	for _, w := range []string{"INSERT", "REPLACE"} {
		if len(text) > len(w) && bytes.EqualFold(text[:len(w)], []byte(w)) {
			return true
		}
	}
	return false
}

// Finder finds the record in a dump written to it (a tee of the restore's stream). The last
// record wins; mysqldump escapes line breaks inside strings, so a line of a dump starts with
// Prefix only where Hoard wrote it.
type Finder struct {
	atStart   bool
	partial   []byte // the start of a line that may still become Prefix
	capturing bool
	line      []byte
	found     []byte
}

// NewFinder is a Finder at the start of a dump.
func NewFinder() *Finder { return &Finder{atStart: true} }

// Write never fails.
func (f *Finder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		switch {
		case f.capturing:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				f.line = append(f.line, p...)
				return n, nil
			}
			f.found = append(f.line[:0:0], f.line...)
			f.found = append(f.found, p[:i]...)
			f.line, f.capturing, f.atStart = f.line[:0], false, true
			p = p[i+1:]
		case f.atStart:
			// Match the prefix, which may be split across writes.
			need := len(Prefix) - len(f.partial)
			take := min(need, len(p))
			f.partial = append(f.partial, p[:take]...)
			if !bytes.HasPrefix([]byte(Prefix), f.partial) {
				f.partial, f.atStart = f.partial[:0], false
				continue // the rest of the line is skipped below
			}
			p = p[take:]
			if len(f.partial) == len(Prefix) {
				f.partial, f.capturing, f.atStart = f.partial[:0], true, false
			}
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return n, nil
			}
			f.atStart = true
			p = p[i+1:]
		}
	}
	return n, nil
}

// Facts is the last record found, nil when the dump has none (a dump of upstream Stash or
// of Hoard before the record existed). A record cut by the end of the stream is not one.
func (f *Finder) Facts() (*Facts, error) {
	if f.found == nil {
		return nil, nil
	}
	var facts Facts
	if err := json.Unmarshal(f.found, &facts); err != nil {
		return nil, fmt.Errorf("the dump's facts cannot be read: %w", err)
	}
	if facts.Version != Version {
		return nil, fmt.Errorf("the dump's facts are of version %d, this Hoard reads version %d", facts.Version, Version)
	}
	return &facts, nil
}
