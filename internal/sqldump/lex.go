package sqldump

import "bytes"

// tokKind is the kind of a token of a statement.
type tokKind int

const (
	tWord   tokKind = iota // keyword or unquoted identifier
	tIdent                 // `quoted identifier`
	tString                // 'string' or "string"
	tNumber
	tPunct
)

// token is a token of a statement: its kind and where it is in the text.
type token struct {
	kind       tokKind
	start, end int
}

// lexer cuts a statement (as the client sends it) into the server's tokens. Version comments
// (/*!50100 ... */, /*M!100301 ... */) are read as code, as a current server reads them;
// other comments are skipped.
type lexer struct {
	text      []byte
	pos       int
	inVersion bool
	// noBackslash: a backslash in a string is a plain character.
	noBackslash bool
	// sawComment: the text has a comment or a version comment.
	sawComment bool
}

// wordBytes are the bytes of a word or a number: a table, as the rows of a dump are mostly
// words and numbers (hex literals of binary columns) and this is the engine's hottest loop.
var wordBytes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
	}
	return t
}()

func isWordByte(c byte) bool { return wordBytes[c] }

// skipWord is the end of the run of word bytes of t that starts at p.
func skipWord(t []byte, p int) int {
	for p < len(t) && wordBytes[t[p]] {
		p++
	}
	return p
}

// next returns the next token; ok is false at the end.
func (l *lexer) next() (token, bool) {
	t := l.text
	for l.pos < len(t) {
		c := t[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '/' && l.pos+1 < len(t) && t[l.pos+1] == '*':
			l.sawComment = true
			p := l.pos + 2
			if p < len(t) && (t[p] == '!' || t[p] == 'M' && p+1 < len(t) && t[p+1] == '!') && !l.inVersion {
				if t[p] == 'M' {
					p++
				}
				p++
				digits := p
				for p < len(t) && t[p] >= '0' && t[p] <= '9' {
					p++
				}
				// 999999: no server runs it (mariadb-dump's sandbox line): a comment.
				if string(t[digits:p]) != "999999" {
					l.pos = p
					l.inVersion = true
					continue
				}
			}
			end := bytes.Index(t[p:], []byte("*/"))
			if end < 0 {
				l.pos = len(t)
			} else {
				l.pos = p + end + 2
			}
		case c == '*' && l.inVersion && l.pos+1 < len(t) && t[l.pos+1] == '/':
			l.pos += 2
			l.inVersion = false
		case c == '#' || c == '-' && l.pos+2 < len(t) && t[l.pos+1] == '-' && (isSpace(t[l.pos+2]) || t[l.pos+2] < ' '):
			l.sawComment = true
			end := bytes.IndexByte(t[l.pos:], '\n')
			if end < 0 {
				l.pos = len(t)
			} else {
				l.pos += end + 1
			}
		default:
			return l.token(), true
		}
	}
	return token{}, false
}

func (l *lexer) token() token {
	t := l.text
	start := l.pos
	c := t[start]
	p := start + 1
	switch {
	case c == '\'' || c == '"' || c == '`':
		for p < len(t) {
			if c == '`' || l.noBackslash {
				n := bytes.IndexByte(t[p:], c)
				if n < 0 {
					p = len(t)
					break
				}
				p += n
			} else {
				p += stringRun(t[p:], c)
			}
			switch {
			case p >= len(t):
				continue
			case t[p] == '\\':
				p += 2
				continue
			case t[p] == c:
				if p+1 < len(t) && t[p+1] == c {
					p += 2
					continue
				}
				p++
				l.pos = p
				if c == '`' {
					return token{kind: tIdent, start: start, end: p}
				}
				return token{kind: tString, start: start, end: p}
			}
			p++
		}
		p = min(p, len(t))
		l.pos = p
		return token{kind: tString, start: start, end: p}
	case c >= '0' && c <= '9':
		hex := c == '0' && p < len(t) && t[p] == 'x'
		for {
			p = skipWord(t, p)
			if p < len(t) && (t[p] == '.' || (t[p] == '+' || t[p] == '-') && (t[p-1] == 'e' || t[p-1] == 'E') && !hex) {
				p++
				continue
			}
			break
		}
		l.pos = p
		return token{kind: tNumber, start: start, end: p}
	case isWordByte(c):
		p = skipWord(t, p)
		l.pos = p
		return token{kind: tWord, start: start, end: p}
	}
	l.pos = p
	return token{kind: tPunct, start: start, end: p}
}

// tokens lexes the whole text.
func tokens(text []byte) ([]token, bool) {
	l := &lexer{text: text}
	var out []token
	for {
		tok, ok := l.next()
		if !ok {
			return out, l.sawComment
		}
		out = append(out, tok)
	}
}

// is tells whether t is the word w (any case).
func is(text []byte, t token, w string) bool {
	return t.kind == tWord && bytes.EqualFold(text[t.start:t.end], []byte(w))
}

// isPunct tells whether t is the character c.
func isPunct(text []byte, t token, c byte) bool {
	return t.kind == tPunct && text[t.start] == c
}

// identValue is the name a word or quoted identifier token stands for.
func identValue(text []byte, t token) (string, bool) {
	switch t.kind {
	case tWord:
		return string(text[t.start:t.end]), true
	case tIdent:
		inner := text[t.start+1 : t.end-1]
		return string(bytes.ReplaceAll(inner, []byte("``"), []byte("`"))), true
	}
	return "", false
}

// QuoteIdent quotes a name with backticks.
func QuoteIdent(name string) string {
	return "`" + string(bytes.ReplaceAll([]byte(name), []byte("`"), []byte("``"))) + "`"
}
