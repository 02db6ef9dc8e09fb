package sqldump

import (
	"bytes"
	"hash/crc32"
)

// Role is what a statement of a dump does, as far as the order of execution is concerned.
type Role int

const (
	// Other statements (views, routines, triggers, events, grants, databases, anything not
	// recognised) run alone, in dump order, after everything before them.
	Other Role = iota
	// Session statements (SET of session variables) change only the connection's session.
	Session
	// The table statements of mysqldump: each concerns one table only.
	DropTable
	CreateTable
	LockTable
	UnlockTables
	DisableKeys
	EnableKeys
	// Insert is an INSERT or REPLACE of literal rows.
	Insert
)

var roleNames = map[Role]string{
	Other: "other", Session: "session", DropTable: "drop table", CreateTable: "create table", LockTable: "lock tables",
	UnlockTables: "unlock tables", DisableKeys: "disable keys", EnableKeys: "enable keys", Insert: "insert",
}

func (r Role) String() string { return roleNames[r] }

// Class is a classified statement.
type Class struct {
	Role Role
	// DB and Table name the table of a table statement; DB is empty when the statement does
	// not qualify it (the session's database).
	DB, Table string
	// Serial (Role Other): what follows must run on the statement's own connection — a
	// CREATE/DROP TEMPORARY TABLE (its table lives in one session), or a SET computed by a
	// function or subquery, which must run once but may set what later statements use.
	Serial bool
	// Rows is the number of rows of an Insert.
	Rows int64
}

// Classify tells what a statement (as the client sends it) does.
func Classify(text []byte) Class {
	versioned := bytes.HasPrefix(text, []byte("/*!")) || bytes.HasPrefix(text, []byte("/*M!"))
	l := &lexer{text: text}
	var toks []token
	// Most statements are recognised from their first tokens; INSERT reads on.
	for len(toks) < 12 {
		t, ok := l.next()
		if !ok {
			break
		}
		toks = append(toks, t)
	}
	if len(toks) == 0 {
		return Class{}
	}
	w := func(i int, word string) bool { return i < len(toks) && is(text, toks[i], word) }
	switch {
	case w(0, "SET"):
		return classifySet(text)
	case w(0, "INSERT") || w(0, "REPLACE"):
		return classifyInsert(text)
	case w(0, "UNLOCK") && w(1, "TABLES") && len(toks) == 2:
		return Class{Role: UnlockTables}
	case w(0, "LOCK") && w(1, "TABLES"):
		if db, table, n, ok := tableName(text, toks, 2); ok && len(toks) == n+1 && w(n, "WRITE") {
			return Class{Role: LockTable, DB: db, Table: table}
		}
	case w(0, "ALTER") && w(1, "TABLE"):
		if db, table, n, ok := tableName(text, toks, 2); ok && len(toks) == n+2 && w(n+1, "KEYS") {
			switch {
			case w(n, "DISABLE"):
				return Class{Role: DisableKeys, DB: db, Table: table}
			case w(n, "ENABLE"):
				return Class{Role: EnableKeys, DB: db, Table: table}
			}
		}
	case w(0, "DROP") && w(1, "TEMPORARY"), w(0, "CREATE") && w(1, "TEMPORARY"):
		return Class{Serial: true}
	case versioned:
		// mysqldump's placeholders for views are version-commented CREATE/DROP TABLE.
	case w(0, "DROP") && w(1, "TABLE"):
		i := 2
		if w(2, "IF") && w(3, "EXISTS") {
			i = 4
		}
		if db, table, n, ok := tableName(text, toks, i); ok && len(toks) == n {
			// Only the whole statement was lexed: make sure nothing follows.
			if _, more := l.next(); !more {
				return Class{Role: DropTable, DB: db, Table: table}
			}
		}
	case w(0, "CREATE"):
		if ct, err := ParseCreateTable(text); err == nil && ct.plain {
			return Class{Role: CreateTable, DB: ct.DB, Table: ct.Table}
		}
	}
	return Class{}
}

// tableName reads [db.]table at toks[i]: it returns the index after it.
func tableName(text []byte, toks []token, i int) (db, table string, next int, ok bool) {
	if i >= len(toks) {
		return "", "", 0, false
	}
	first, ok := identValue(text, toks[i])
	if !ok {
		return "", "", 0, false
	}
	if i+2 < len(toks) && isPunct(text, toks[i+1], '.') && toks[i+1].start == toks[i].end {
		second, ok := identValue(text, toks[i+2])
		if !ok {
			return "", "", 0, false
		}
		return first, second, i + 3, true
	}
	return "", first, i + 1, true
}

// setBarrierWords make a SET more than a setting of the connection's session.
var setBarrierWords = []string{"GLOBAL", "PERSIST", "PERSIST_ONLY", "PASSWORD", "ROLE", "DEFAULT", "TRANSACTION", "STATEMENT", "AUTOCOMMIT"}

func classifySet(text []byte) Class {
	toks, _ := tokens(text)
	for i, t := range toks {
		if isPunct(text, t, '(') {
			// A function or a subquery (SET @id = NEXTVAL(s)) must not run once per
			// connection: it runs once, in dump order.
			return Class{Serial: true}
		}
		if t.kind != tWord {
			continue
		}
		for _, bw := range setBarrierWords {
			// "SET x = DEFAULT" is a session setting; "SET DEFAULT ROLE" is not.
			if bw == "DEFAULT" && i != 1 {
				continue
			}
			if is(text, t, bw) {
				return Class{}
			}
		}
	}
	return Class{Role: Session}
}

// literalWords may appear in the rows of an INSERT.
var literalWords = []string{"NULL", "TRUE", "FALSE", "DEFAULT"}

// insertHead reads INSERT/REPLACE [IGNORE] [INTO] t [(cols)] VALUES: the table, and the
// lexer after VALUES.
func insertHead(text []byte) (db, table string, l *lexer, ok bool) {
	l = &lexer{text: text}
	var head []token
	for {
		t, ok := l.next()
		if !ok {
			return "", "", nil, false
		}
		if is(text, t, "VALUES") || is(text, t, "VALUE") {
			break
		}
		head = append(head, t)
	}
	i := 1
	for i < len(head) && (is(text, head[i], "IGNORE") || is(text, head[i], "LOW_PRIORITY") || is(text, head[i], "DELAYED") || is(text, head[i], "HIGH_PRIORITY")) {
		i++
	}
	if i < len(head) && is(text, head[i], "INTO") {
		i++
	}
	db, table, n, ok := tableName(text, head, i)
	if !ok {
		return "", "", nil, false
	}
	if n < len(head) {
		// A column list: ( name, name, ... ) and nothing else.
		if !isPunct(text, head[n], '(') || !isPunct(text, head[len(head)-1], ')') {
			return "", "", nil, false
		}
		for j := n + 1; j < len(head)-1; j++ {
			if (j-n)%2 == 1 {
				if _, ok := identValue(text, head[j]); !ok {
					return "", "", nil, false
				}
			} else if !isPunct(text, head[j], ',') {
				return "", "", nil, false
			}
		}
	}
	return db, table, l, true
}

// rowBytes are the bytes CountInsert stops at: quotes, parentheses and the start of a comment.
var rowBytes = func() (t [256]bool) {
	for _, c := range []byte("'\"`()/#-") {
		t[c] = true
	}
	return t
}()

// CountInsert reads an INSERT or REPLACE of rows, as mysqldump writes them, for its table and
// its number of rows. Unlike Classify it does not check each value: it counts the parentheses
// that open a row, outside strings, several times faster. ok is false for any other
// statement, and for rows followed by anything but more rows (ON DUPLICATE KEY UPDATE…) or
// holding a comment.
func CountInsert(text []byte) (db, table string, rows int64, ok bool) {
	return scanInsert(text, nil)
}

// RowsChecksum is the checksum SumInsert gives a table's rows: the sum, modulo 2^64, of the
// CRC-32C of each row's text as mysqldump wrote it, "(" to ")". A sum does not depend on
// the order of the rows nor on how they are grouped into INSERTs, so a table dumped again
// after a restore (whose engine loads a table's rows over several connections) gives the
// same sum exactly when its rows' text is the same.
const RowsChecksum = "crc32c-row-sum"

// SumInsert is CountInsert that also sums its rows' checksums (RowsChecksum).
func SumInsert(text []byte) (db, table string, rows int64, sum uint64, ok bool) {
	// CRC-32C: the CPU computes it (SSE 4.2, ARMv8) at many GB/s; MakeTable returns the
	// standard library's one table.
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	db, table, rows, ok = scanInsert(text, func(row []byte) {
		sum += uint64(crc32.Checksum(row, castagnoli))
	})
	return db, table, rows, sum, ok
}

// scanInsert reads an INSERT for CountInsert, calling row, when not nil, with each row's text.
func scanInsert(text []byte, row func([]byte)) (db, table string, rows int64, ok bool) {
	db, table, l, ok := insertHead(text)
	if !ok {
		return "", "", 0, false
	}
	t, p, depth, start := text, l.pos, 0, 0
	for p < len(t) {
		for p < len(t) && !rowBytes[t[p]] {
			if depth == 0 && !isSpace(t[p]) && t[p] != ',' {
				return "", "", 0, false
			}
			p++
		}
		if p == len(t) {
			break
		}
		switch c := t[p]; c {
		case '(':
			if depth == 0 {
				rows++
				start = p
			}
			depth++
		case ')':
			if depth--; depth < 0 {
				return "", "", 0, false
			}
			if depth == 0 && row != nil {
				row(t[start : p+1])
			}
		case '\'', '"', '`':
			// A string (or a quoted name): to its closing quote, past escapes and doubled quotes.
			p++
			for {
				if c == '`' {
					n := bytes.IndexByte(t[p:], c)
					if n < 0 {
						return "", "", 0, false
					}
					p += n
				} else {
					p += stringRun(t[p:], c)
				}
				if p >= len(t) {
					return "", "", 0, false
				}
				if t[p] == '\\' {
					p += 2
					continue
				}
				if p+1 < len(t) && t[p+1] == c {
					p += 2
					continue
				}
				break
			}
		case '-':
			if depth == 0 || p+1 < len(t) && t[p+1] == '-' {
				return "", "", 0, false
			}
		case '/':
			if p+1 < len(t) && t[p+1] == '*' {
				return "", "", 0, false
			}
		case '#':
			return "", "", 0, false
		}
		p++
	}
	if depth != 0 || rows == 0 {
		return "", "", 0, false
	}
	return db, table, rows, true
}

// classifyInsert recognises INSERT/REPLACE [IGNORE] [INTO] t [(cols)] VALUES (literals), ...:
// rows that depend on nothing but the table.
func classifyInsert(text []byte) Class {
	db, table, l, ok := insertHead(text)
	if !ok {
		return Class{}
	}
	// The rows: literals only.
	prevIntroducer := false
	depth, rows := 0, int64(0)
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		switch t.kind {
		case tString, tNumber:
			prevIntroducer = false
			continue
		case tPunct:
			switch text[t.start] {
			case '(', ')', ',', '-', '+', '.':
				if prevIntroducer {
					return Class{}
				}
				switch text[t.start] {
				case '(':
					if depth == 0 {
						rows++
					}
					depth++
				case ')':
					depth--
				}
				continue
			}
			return Class{}
		case tWord:
			if prevIntroducer {
				return Class{}
			}
			word := text[t.start:t.end]
			if word[0] == '_' || len(word) == 1 && bytes.ContainsAny(word, "xXbBnN") {
				// A character set introducer (_binary '...') or X'..', B'..', N'..'.
				prevIntroducer = true
				continue
			}
			lit := false
			for _, lw := range literalWords {
				if bytes.EqualFold(word, []byte(lw)) {
					lit = true
				}
			}
			if !lit {
				return Class{}
			}
			continue
		}
		return Class{}
	}
	return Class{Role: Insert, DB: db, Table: table, Rows: rows}
}
