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
}

// Table is one table of the dump.
type Table struct {
	DB    string `json:"db"`
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
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

// Copy copies a dump from r to w and counts the rows of its tables on the way. Counting
// never stops the copy: a dump the counter cannot read (not mysqldump's) is still copied
// whole, and Copy returns nil facts with the reason. An error reading r or writing w is
// returned as err.
func Copy(w io.Writer, r io.Reader) (facts *Facts, reason error, err error) {
	cw := &countingWriter{w: w}
	tr := &teeReader{r: r, w: cw}
	c := counter{tables: map[[2]string]int{}}
	sp := sqldump.NewSplitter(tr)
	for {
		st, serr := sp.Next()
		if serr == io.EOF {
			break
		}
		if serr != nil {
			if tr.err != nil {
				return nil, nil, tr.err
			}
			// Not a dump the counter understands: copy the rest as it is.
			if _, err := io.Copy(cw, r); err != nil {
				return nil, nil, fmt.Errorf("failed to copy the dump: %w", err)
			}
			return nil, fmt.Errorf("the dump's rows were not counted: %w", serr), nil
		}
		c.add(st)
	}
	if tr.err != nil {
		return nil, nil, tr.err
	}
	f := c.facts()
	f.Bytes = cw.n
	return f, nil, nil
}

// counter follows the dump's statements.
type counter struct {
	db        string
	tables    map[[2]string]int
	list      []Table
	uncounted int
}

func (c *counter) add(st sqldump.Statement) {
	if st.Kind == sqldump.Use {
		c.db = st.DB
		return
	}
	cl := sqldump.Classify(st.Text)
	db := cl.DB
	if db == "" {
		db = c.db
	}
	key := [2]string{db, cl.Table}
	switch cl.Role {
	case sqldump.DropTable:
		// A table dropped again (a view's placeholder) is not one of the dump's tables.
		if i, ok := c.tables[key]; ok {
			c.list[i].Rows = -1
			delete(c.tables, key)
		}
	case sqldump.CreateTable:
		c.table(key).Rows = 0
	case sqldump.Insert:
		c.table(key).Rows += cl.Rows
	default:
		if isInsert(st.Text) {
			c.uncounted++
		}
	}
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
	f := &Facts{Version: Version, Uncounted: c.uncounted, Tables: make([]Table, 0, len(c.tables))}
	for _, t := range c.list {
		if t.Rows >= 0 {
			f.Tables = append(f.Tables, t)
		}
	}
	return f
}

// isInsert reports whether a statement that Classify did not count is an INSERT or REPLACE.
func isInsert(text []byte) bool {
	text = bytes.TrimLeft(text, " \t\r\n")
	for _, w := range []string{"INSERT", "REPLACE"} {
		if len(text) > len(w) && bytes.EqualFold(text[:len(w)], []byte(w)) {
			return true
		}
	}
	return false
}

// teeReader writes what it reads to w. A write error ends the reading and is kept, so that
// it is told apart from a dump the splitter does not understand.
type teeReader struct {
	r   io.Reader
	w   io.Writer
	err error
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			t.err = fmt.Errorf("failed to write the dump: %w", werr)
			return n, t.err
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		t.err = fmt.Errorf("failed to read the dump: %w", err)
		return n, t.err
	}
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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
