package sqldump

import (
	"bytes"
	"errors"
	"strings"
)

// CreateTableStmt is a CREATE TABLE cut into its parts. Each element (column, key,
// constraint) keeps its exact text, so that a rewrite changes nothing but what it removes.
type CreateTableStmt struct {
	DB, Table string
	// InnoDB: ENGINE=InnoDB is among the table options.
	InnoDB bool

	text     []byte
	toks     []token
	elements []element
	// plain: a CREATE TABLE name (elements) options, not CREATE ... SELECT or LIKE.
	plain bool
	// ifNotExists, versioning, comments (in the element list): cases whose keys are never
	// deferred.
	ifNotExists bool
	versioning  bool
	comments    bool
}

type elemKind int

const (
	elemColumn elemKind = iota
	elemPrimary
	elemUnique
	elemKey
	elemForeign
	elemOther // FULLTEXT, SPATIAL, CHECK, PERIOD, ... : never deferred
)

type element struct {
	kind elemKind
	// first and last are token indexes.
	first, last int
	// name is a column's name; cols the columns of a key or foreign key.
	name    string
	cols    []string
	autoInc bool
	hash    bool
	// key: an index of any kind; fulltext: a FULLTEXT one.
	key      bool
	fulltext bool
}

var errNotCreateTable = errors.New("not a CREATE TABLE with a column list")

// ParseCreateTable reads CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name (elements) options.
func ParseCreateTable(text []byte) (*CreateTableStmt, error) {
	toks, _ := tokens(text)
	ct := &CreateTableStmt{text: text, toks: toks}
	w := func(i int, word string) bool { return i < len(toks) && is(text, toks[i], word) }
	if !w(0, "CREATE") {
		return nil, errNotCreateTable
	}
	i := 1
	if w(1, "OR") && w(2, "REPLACE") {
		i = 3
	}
	if !w(i, "TABLE") {
		return nil, errNotCreateTable
	}
	i++
	if w(i, "IF") && w(i+1, "NOT") && w(i+2, "EXISTS") {
		ct.ifNotExists = true
		i += 3
	}
	db, table, n, ok := tableName(text, toks, i)
	if !ok || n >= len(toks) || !isPunct(text, toks[n], '(') {
		return nil, errNotCreateTable
	}
	ct.DB, ct.Table = db, table
	// The elements, split at the commas of the outer parentheses.
	depth := 0
	start := n + 1
	end := -1
	for j := n; j < len(toks) && end < 0; j++ {
		switch {
		case isPunct(text, toks[j], '('):
			depth++
		case isPunct(text, toks[j], ')'):
			depth--
			if depth == 0 {
				if j > start {
					ct.elements = append(ct.elements, element{first: start, last: j - 1})
				}
				end = j
			}
		case depth == 1 && isPunct(text, toks[j], ','):
			if j > start {
				ct.elements = append(ct.elements, element{first: start, last: j - 1})
			}
			start = j + 1
		}
	}
	if end < 0 || len(ct.elements) == 0 || w(n+1, "LIKE") {
		return nil, errNotCreateTable
	}
	ct.plain = true
	// A version comment among the elements could be cut in half by a removal.
	inner := &lexer{text: text[toks[n].end:toks[end].start]}
	for {
		if _, ok := inner.next(); !ok {
			break
		}
	}
	ct.comments = inner.sawComment
	for j := end + 1; j < len(toks); j++ {
		switch {
		case w(j, "SELECT"), w(j, "AS"), w(j, "LIKE"), w(j, "IGNORE"), w(j, "REPLACE"), w(j, "VALUES"), w(j, "TABLE"):
			ct.plain = false
		case w(j, "ENGINE"):
			k := j + 1
			if k < len(toks) && isPunct(text, toks[k], '=') {
				k++
			}
			ct.InnoDB = w(k, "InnoDB")
		case w(j, "VERSIONING"):
			ct.versioning = true
		}
	}
	for e := range ct.elements {
		ct.classify(&ct.elements[e])
	}
	return ct, nil
}

func (ct *CreateTableStmt) classify(e *element) {
	text, toks := ct.text, ct.toks[e.first:e.last+1]
	w := func(i int, word string) bool { return i < len(toks) && is(text, toks[i], word) }
	// The key's columns: the first parenthesised list.
	keyCols := func() {
		for i, t := range toks {
			if !isPunct(text, t, '(') {
				if is(text, t, "HASH") {
					e.hash = true
				}
				continue
			}
			depth := 0
			part := true
			for _, u := range toks[i:] {
				switch {
				case isPunct(text, u, '('):
					depth++
					continue
				case isPunct(text, u, ')'):
					depth--
				case depth == 1 && isPunct(text, u, ','):
					part = true
					continue
				}
				if depth == 0 {
					break
				}
				if part && depth == 1 {
					name, ok := identValue(text, u)
					if !ok {
						// An expression: not a plain key.
						e.kind = elemOther
						return
					}
					e.cols = append(e.cols, name)
				}
				part = false
			}
			for _, u := range toks[i:] {
				if is(text, u, "HASH") {
					e.hash = true
				}
			}
			return
		}
	}
	switch {
	case w(0, "PRIMARY"):
		e.kind = elemPrimary
		keyCols()
	case w(0, "UNIQUE"):
		e.kind = elemUnique
		keyCols()
	case w(0, "KEY"), w(0, "INDEX"):
		e.kind = elemKey
		keyCols()
	case w(0, "FOREIGN"), w(0, "CONSTRAINT") && (w(1, "FOREIGN") || w(2, "FOREIGN")):
		e.kind = elemForeign
		keyCols()
	case w(0, "FULLTEXT"):
		e.kind, e.key, e.fulltext = elemOther, true, true
	case w(0, "SPATIAL"), w(0, "VECTOR"):
		e.kind, e.key = elemOther, true
	case toks[0].kind == tWord && isReserved(text, toks[0]):
		e.kind = elemOther
	default:
		e.kind = elemColumn
		e.name, _ = identValue(text, toks[0])
		for _, t := range toks[1:] {
			if is(text, t, "AUTO_INCREMENT") {
				e.autoInc = true
			}
		}
	}
	if e.kind == elemPrimary || e.kind == elemUnique || e.kind == elemKey {
		e.key = true
	}
	if e.kind == elemUnique && e.hash {
		// A long unique key (USING HASH) has a hidden column: it stays.
		e.kind = elemOther
	}
}

// isReserved: an element starting with one of these words is no column.
func isReserved(text []byte, t token) bool {
	for _, w := range []string{"FULLTEXT", "SPATIAL", "VECTOR", "CHECK", "CONSTRAINT", "PERIOD", "FOREIGN", "PRIMARY", "UNIQUE", "KEY", "INDEX"} {
		if is(text, t, w) {
			return true
		}
	}
	return false
}

// Deferred is a CREATE TABLE without its deferrable secondary indexes, and the ALTER TABLE
// that adds them after the rows.
type Deferred struct {
	Create []byte
	// Keys are the removed elements, in their original order.
	Keys []string
}

// AlterTable is the statement that adds the deferred keys to db.table.
func (d *Deferred) AlterTable(db, table string) string {
	name := QuoteIdent(table)
	if db != "" {
		name = QuoteIdent(db) + "." + name
	}
	return "ALTER TABLE " + name + " ADD " + strings.Join(d.Keys, ", ADD ")
}

// DeferKeys removes the secondary indexes of an InnoDB table that can be built after its
// rows, so that `ALTER TABLE ... ADD` them in their original order gives the same table
// (SHOW CREATE TABLE) as the statement did. It returns nil when nothing can be deferred.
//
// Never deferred: the primary key; a key whose first column is the AUTO_INCREMENT column
// (InnoDB needs one); a key a foreign key of the table needs; FULLTEXT, SPATIAL and long
// unique (HASH) keys; and any key after which a kept key of its class would come (the server
// orders keys by class, then by when they were added).
// Nothing is deferred from a table that is not InnoDB, has no primary key, is system
// versioned, is CREATE ... IF NOT EXISTS, or whose element list has comments.
func (ct *CreateTableStmt) DeferKeys() *Deferred {
	if !ct.plain || !ct.InnoDB || ct.ifNotExists || ct.versioning || ct.comments {
		return nil
	}
	var autoInc string
	var pk *element
	for i := range ct.elements {
		e := &ct.elements[i]
		if e.kind == elemColumn && e.autoInc {
			autoInc = e.name
		}
		if e.kind == elemPrimary {
			pk = e
		}
	}
	if pk == nil {
		return nil
	}
	defer_ := make([]bool, len(ct.elements))
	for i, e := range ct.elements {
		defer_[i] = (e.kind == elemKey || e.kind == elemUnique) && len(e.cols) > 0
		if defer_[i] && autoInc != "" && e.cols[0] == autoInc && (len(pk.cols) == 0 || pk.cols[0] != autoInc) {
			defer_[i] = false
		}
	}
	// The first index whose leading columns are a foreign key's stays: InnoDB needs it.
	for _, fk := range ct.elements {
		if fk.kind != elemForeign {
			continue
		}
		for i, e := range ct.elements {
			if (e.kind == elemPrimary || e.kind == elemKey || e.kind == elemUnique) && hasPrefix(e.cols, fk.cols) {
				defer_[i] = false
				break
			}
		}
	}
	// Within a class, a deferred key must not come before a kept one. Kept keys other than
	// FULLTEXT (which the server lists last) are taken to be of every class.
	for _, class := range []elemKind{elemUnique, elemKey} {
		lastKept := -1
		for i, e := range ct.elements {
			if (e.kind == class || e.kind == elemOther && e.key && !e.fulltext) && !defer_[i] {
				lastKept = i
			}
		}
		for i := 0; i < lastKept; i++ {
			if ct.elements[i].kind == class {
				defer_[i] = false
			}
		}
	}
	d := &Deferred{}
	var b bytes.Buffer
	pos := 0
	for i, e := range ct.elements {
		if !defer_[i] || i == 0 {
			continue
		}
		prevEnd := ct.toks[ct.elements[i-1].last].end
		end := ct.toks[e.last].end
		b.Write(ct.text[pos:prevEnd])
		pos = end
		d.Keys = append(d.Keys, string(ct.text[ct.toks[e.first].start:end]))
	}
	if len(d.Keys) == 0 {
		return nil
	}
	b.Write(ct.text[pos:])
	d.Create = b.Bytes()
	return d
}

func hasPrefix(cols, prefix []string) bool {
	if len(prefix) == 0 || len(cols) < len(prefix) {
		return false
	}
	for i := range prefix {
		if !strings.EqualFold(cols[i], prefix[i]) {
			return false
		}
	}
	return true
}
