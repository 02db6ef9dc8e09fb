// Package sqldump reads a SQL dump the way the mysql command-line client does in batch mode
// (`mysql < dump.sql`): it cuts the stream into the statements the client would send, with
// the client's handling of quotes, backslash escapes, comments, version comments, DELIMITER
// and USE. It also classifies the statements of a mysqldump file (which table a statement
// belongs to) and rewrites CREATE TABLE to create secondary indexes after the rows.
//
// The package only reads text: package loader executes it.
package sqldump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Kind is what a Statement asks for.
type Kind int

const (
	// Query is SQL sent to the server as it is.
	Query Kind = iota
	// Use selects the default database (the client's `use` command).
	Use
)

// Statement is one statement as the client would send it.
type Statement struct {
	Kind Kind
	// Text is the statement without its delimiter and without the comments the client
	// strips (version comments /*! ... */ stay). For Use it is the raw command. It is valid
	// until the next call to Next: the splitter reuses its buffer, as a dump's statements
	// are a megabyte each and are read once.
	Text []byte
	// DB is the database of a Use.
	DB string
	// Line is the line of the dump the statement starts on (1-based), Offset the byte
	// offset of that line.
	Line   int
	Offset int64
	// Trailing marks the last statement of a stream that ended without a delimiter. The
	// client executes it; a caller must only do so when the stream is known to be complete.
	Trailing bool
}

// DefaultDelimiter is the client's statement delimiter until a DELIMITER command.
const DefaultDelimiter = ";"

// ErrNul is a NUL byte in the input, which the client refuses outside --binary-mode.
var ErrNul = errors.New("ASCII '\\0' appeared in the dump, which the mysql client refuses without --binary-mode")

// Splitter reads statements from a dump. Like the client, it must know two settings of the
// server session that change how backslashes are read: the caller updates AnsiQuotes and
// NoBackslashEscapes from @@sql_mode after executing a statement that may change it.
type Splitter struct {
	r     *bufio.Reader
	delim []byte

	// AnsiQuotes: '"' quotes an identifier, in which a backslash is not an escape.
	AnsiQuotes bool
	// NoBackslashEscapes: a backslash in a string is a plain character.
	NoBackslashEscapes bool
	// LineComment, when set, is given each "--" comment line that stands between two
	// statements (without its line break), before the splitter drops it: mysqldump writes
	// what it knows of the dump there, such as its binary log position. The line is only
	// valid during the call.
	LineComment func(line []byte)

	inString  byte
	mlComment bool

	// line is the current input line without its '\n', pos the next byte to scan;
	// lineBuf holds a line longer than the reader's buffer.
	line      []byte
	lineBuf   []byte
	pos       int
	needSpace bool
	// ssComment: inside a version comment on this line, whose end is not a comment's end.
	ssComment bool
	inLine    bool
	// out collects the accepted bytes of the current line, buf the statement so far.
	out []byte
	buf []byte

	lineNo     int
	lineOffset int64
	nextOffset int64
	stmtLine   int
	stmtOffset int64
	eof        bool
	err        error
}

// NewSplitter reads from r.
func NewSplitter(r io.Reader) *Splitter {
	return &Splitter{r: bufio.NewReaderSize(r, 1<<20), delim: []byte(DefaultDelimiter)}
}

// Delimiter is the current statement delimiter.
func (s *Splitter) Delimiter() string { return string(s.delim) }

// Position is the line the splitter has read up to, for messages.
func (s *Splitter) Position() (line int, offset int64) { return s.lineNo, s.lineOffset }

// Next returns the next statement, or io.EOF after the last one.
func (s *Splitter) Next() (Statement, error) {
	for {
		if s.err != nil {
			return Statement{}, s.err
		}
		if !s.inLine {
			if s.eof {
				return s.finish()
			}
			if err := s.readLine(); err != nil {
				s.err = err
				continue
			}
			if s.eof && s.line == nil {
				continue
			}
			if bytes.IndexByte(s.line, 0) >= 0 {
				s.err = fmt.Errorf("line %d: %w", s.lineNo, ErrNul)
				continue
			}
			// A client command on a line of its own, when no statement is pending.
			if len(s.buf) == 0 && !s.mlComment && s.inString == 0 {
				if s.LineComment != nil && bytes.HasPrefix(s.line, []byte("--")) {
					s.LineComment(s.line)
				}
				if st, ok, err := s.lineCommand(); err != nil {
					s.err = err
					continue
				} else if ok {
					if st != nil {
						return *st, nil
					}
					continue
				}
			}
			s.inLine, s.pos, s.needSpace, s.ssComment = true, 0, false, false
			s.out = s.out[:0]
		}
		st, ok, err := s.scan()
		if err != nil {
			s.err = err
			continue
		}
		if ok {
			return st, nil
		}
	}
}

// finish is the end of the input: the client executes what is left in its buffer.
func (s *Splitter) finish() (Statement, error) {
	text := trimRight(s.buf)
	s.buf = nil
	s.err = io.EOF
	if len(text) == 0 {
		return Statement{}, io.EOF
	}
	// The client sends it as SQL, even when it looks like a client command.
	st := s.statement(text)
	st.Trailing = true
	return st, nil
}

func (s *Splitter) readLine() error {
	s.lineOffset = s.nextOffset
	// A line that fits the reader's buffer is scanned in place (it is read before the next
	// read); a longer one is gathered in lineBuf, reused from line to line.
	line := s.lineBuf[:0]
	for first := true; ; first = false {
		chunk, err := s.r.ReadSlice('\n')
		if first && err == nil {
			line = chunk
			break
		}
		line = append(line, chunk...)
		s.lineBuf = line
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			s.eof = true
			if len(line) == 0 {
				s.line = nil
				return nil
			}
			break
		}
		return err
	}
	s.nextOffset += int64(len(line))
	s.lineNo++
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		// Outside --binary-mode the client reads "\r\n" as "\n".
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	if s.lineNo == 1 {
		// The client skips a UTF-8 byte order mark.
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	if line == nil {
		line = []byte{}
	}
	s.line = line
	return nil
}

// versionComment tells whether b, what follows a "/*", makes it a version comment.
func versionComment(b []byte) bool {
	return len(b) > 0 && (b[0] == '!' || b[0] == 'M' && len(b) > 1 && b[1] == '!')
}

// special are the bytes that can start a quote, an escape, a comment or a version comment.
var special = func() (t [256]bool) {
	for _, c := range []byte("\\'\"`#-/*") {
		t[c] = true
	}
	return t
}()

// stringRun is the length of the run of b that holds neither quote nor a backslash: string
// bytes that can neither end the string nor escape. IndexByte, not a loop over the bytes, as
// string values are much of a dump.
func stringRun(b []byte, quote byte) int {
	n := bytes.IndexByte(b, quote)
	if n < 0 {
		n = len(b)
	}
	if e := bytes.IndexByte(b[:n], '\\'); e >= 0 {
		n = e
	}
	return n
}

// isSpace is my_isspace for the client's single-byte character set.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func (s *Splitter) flush() {
	if len(s.out) > 0 {
		if len(s.buf) == 0 {
			s.stmtLine, s.stmtOffset = s.lineNo, s.lineOffset
		}
		s.buf = append(s.buf, s.out...)
		s.out = s.out[:0]
	}
}

func (s *Splitter) accept(c byte) {
	if len(s.out) == 0 && len(s.buf) == 0 {
		s.stmtLine, s.stmtOffset = s.lineNo, s.lineOffset
	}
	s.out = append(s.out, c)
}

// scan continues the current line (the client's add_line). It returns a statement as soon
// as one is complete, so that the caller can execute it before the rest is read.
func (s *Splitter) scan() (Statement, bool, error) {
	line := s.line
	for s.pos < len(line) {
		c := line[s.pos]
		if s.inString != 0 && !s.mlComment {
			// Fast path: copy a run of string bytes that cannot end the string.
			if n := stringRun(line[s.pos:], s.inString); n > 0 {
				s.out = append(s.out, line[s.pos:s.pos+n]...)
				s.pos += n
				continue
			}
		}
		if s.inString == 0 && !s.mlComment && !s.needSpace && (len(s.out) > 0 || len(s.buf) > 0) {
			// Fast path: copy a run of bytes that start nothing (rows' numbers and commas).
			j := s.pos
			for j < len(line) && !special[line[j]] && line[j] != s.delim[0] {
				j++
			}
			if j > s.pos {
				s.out = append(s.out, line[s.pos:j]...)
				s.pos = j
				continue
			}
		}
		// Leading spaces of a statement are skipped.
		if isSpace(c) && len(s.out) == 0 && len(s.buf) == 0 {
			s.pos++
			continue
		}
		switch {
		case !s.mlComment && c == '\\' && s.inString != '`' &&
			(s.inString != '"' || !s.AnsiQuotes) && (s.inString == 0 || !s.NoBackslashEscapes):
			s.pos++
			if s.pos >= len(line) {
				// The client drops a backslash at the end of a line.
				s.pos = len(line)
				continue
			}
			c2 := line[s.pos]
			s.pos++
			if s.inString != 0 || c2 == 'N' {
				s.accept('\\')
				s.out = append(s.out, c2)
				continue
			}
			switch c2 {
			case 'g', 'G':
				s.flush()
				if st, ok := s.take(); ok {
					return st, true, nil
				}
			case 'c':
				s.out = s.out[:0]
				s.buf = s.buf[:0]
			case '-':
				// Sandbox mode (mariadb-dump's first line): client commands that reach the
				// file system are refused from now on. The engine runs none anyway.
			default:
				return Statement{}, false, fmt.Errorf("line %d: the mysql client command \\%c is not supported by the restore engine", s.lineNo, c2)
			}
		case !s.mlComment && s.inString == 0 && bytes.HasPrefix(line[s.pos:], s.delim):
			s.pos += len(s.delim)
			s.flush()
			text := s.buf
			if c := findCommand(text, s.delim); c != "" {
				st, err := s.command(c, text)
				s.buf = s.buf[:0]
				if err != nil {
					return Statement{}, false, err
				}
				if st != nil {
					return *st, true, nil
				}
				continue
			}
			if st, ok := s.take(); ok {
				return st, true, nil
			}
		case !s.mlComment && s.inString == 0 && (c == '#' || c == '-' && s.pos+1 < len(line) && line[s.pos+1] == '-' &&
			(s.pos+2 >= len(line) || isSpace(line[s.pos+2]) || len(s.buf) == 0 && len(s.out) == 0)):
			// A comment to the end of the line.
			s.flush()
			s.pos = len(line)
		case s.inString == 0 && c == '/' && s.pos+1 < len(line) && line[s.pos+1] == '*' &&
			!versionComment(line[s.pos+2:]):
			s.pos += 2
			s.mlComment = true
			s.flush()
		case s.mlComment && !s.ssComment && c == '*' && s.pos+1 < len(line) && line[s.pos+1] == '/':
			s.pos += 2
			s.mlComment = false
			s.flush()
			s.needSpace = true
		default:
			s.pos++
			if s.inString == 0 && c == '/' && s.pos+1 < len(line) && line[s.pos] == '*' && line[s.pos+1] == '!' {
				s.ssComment = true
			} else if s.inString == 0 && s.ssComment && c == '*' && s.pos < len(line) && line[s.pos] == '/' {
				s.ssComment = false
			}
			if c == s.inString {
				s.inString = 0
			} else if !s.mlComment && s.inString == 0 && (c == '\'' || c == '"' || c == '`') {
				s.inString = c
			}
			if !s.mlComment {
				if s.needSpace && !isSpace(c) {
					s.accept(' ')
				}
				s.needSpace = false
				s.accept(c)
			}
		}
	}
	// End of the line.
	s.inLine = false
	if len(s.out) > 0 || len(s.buf) > 0 {
		if !isDelimiterCommand(s.out) || s.inString != 0 || s.mlComment {
			if len(s.out) == 0 && len(s.buf) == 0 {
				s.stmtLine, s.stmtOffset = s.lineNo, s.lineOffset
			}
			s.out = append(s.out, '\n')
		}
		if !s.mlComment {
			s.flush()
		}
	}
	return Statement{}, false, nil
}

// take ends the statement in buf (the client's com_go): an empty one is skipped.
func (s *Splitter) take() (Statement, bool) {
	text := trimRight(s.buf)
	if len(text) == 0 {
		s.buf = s.buf[:0]
		return Statement{}, false
	}
	st := s.statement(text)
	s.buf = s.buf[:0]
	return st, true
}

func (s *Splitter) statement(text []byte) Statement {
	return Statement{Kind: Query, Text: text, Line: s.stmtLine, Offset: s.stmtOffset}
}

// trimRight removes trailing spaces and control characters (the client's remove_cntrl).
func trimRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] <= ' ' || b[len(b)-1] == 0x7f) {
		b = b[:len(b)-1]
	}
	return b
}

const delimiterName = "delimiter"

// isDelimiterCommand is true when b starts with the word "delimiter" (any case).
func isDelimiterCommand(b []byte) bool {
	return len(b) >= len(delimiterName) && bytes.EqualFold(b[:len(delimiterName)], []byte(delimiterName))
}

// clientCommands are the client's named commands: whether each takes an argument.
var clientCommands = map[string]bool{
	"?": true, "clear": false, "connect": true, "delimiter": true, "edit": false, "ego": false,
	"exit": false, "go": false, "help": true, "nopager": false, "notee": false, "pager": true,
	"print": false, "prompt": true, "quit": false, "rehash": false, "source": true, "status": false,
	"system": true, "tee": true, "use": true, "charset": true, "warnings": false, "nowarning": false,
}

// findCommand is the client's find_command for a line or a whole statement: the name of the
// client command it is, or "".
func findCommand(text, delim []byte) string {
	i := 0
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	name := text[i:]
	if bytes.Contains(name, []byte(`\g`)) || bytes.Contains(name, delim) && !isDelimiterCommand(name) {
		return ""
	}
	word := name
	hasArgs := false
	if j := bytes.IndexAny(name, " \t"); j >= 0 {
		word = name[:j]
		rest := name[j:]
		for len(rest) > 0 && isSpace(rest[0]) {
			rest = rest[1:]
		}
		hasArgs = len(rest) > 0
	}
	for cmd, takesParams := range clientCommands {
		if !bytes.EqualFold(word, []byte(cmd)) {
			continue
		}
		if !hasArgs || takesParams && getArg(name) != "" {
			return cmd
		}
	}
	return ""
}

// getArg is the client's get_arg: the first argument of a command line, unquoted.
func getArg(line []byte) string {
	i := 0
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	for i < len(line) && !isSpace(line[i]) {
		i++
	}
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	if i >= len(line) {
		return ""
	}
	var q byte
	if c := line[i]; c == '\'' || c == '"' || c == '`' {
		q = c
		i++
	}
	var arg []byte
	for ; i < len(line); i++ {
		c := line[i]
		if c == '\\' && i+1 < len(line) || q != 0 && c == q && i+1 < len(line) && line[i+1] == q {
			i++
			arg = append(arg, line[i])
			continue
		}
		if q != 0 && c == q || q == 0 && c == ' ' {
			break
		}
		arg = append(arg, c)
	}
	return string(arg)
}

// lineCommand handles a line that is a client command by itself, as the client does before
// reading the line as SQL.
func (s *Splitter) lineCommand() (*Statement, bool, error) {
	c := findCommand(s.line, s.delim)
	if c == "" {
		return nil, false, nil
	}
	s.stmtLine, s.stmtOffset = s.lineNo, s.lineOffset
	st, err := s.command(c, s.line)
	return st, true, err
}

// command runs client command name of text: DELIMITER and USE are supported.
func (s *Splitter) command(name string, text []byte) (*Statement, error) {
	switch name {
	case "delimiter":
		arg := getArg(text)
		if arg == "" {
			// The client complains and goes on with the same delimiter.
			return nil, nil
		}
		if bytes.IndexByte([]byte(arg), '\\') >= 0 {
			return nil, fmt.Errorf("line %d: DELIMITER cannot contain a backslash character", s.lineNo)
		}
		if len(arg) > 15 {
			arg = arg[:15]
		}
		s.delim = []byte(arg)
		return nil, nil
	case "use":
		db := getArg(text)
		if db == "" {
			return nil, fmt.Errorf("line %d: USE must be followed by a database name", s.lineNo)
		}
		return &Statement{Kind: Use, DB: db, Text: append([]byte(nil), bytes.TrimSpace(text)...), Line: s.stmtLine, Offset: s.stmtOffset}, nil
	}
	return nil, fmt.Errorf("line %d: the mysql client command %q is not supported by the restore engine", s.lineNo, name)
}
