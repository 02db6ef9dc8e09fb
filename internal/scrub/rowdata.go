package scrub

import (
	"regexp"
	"strings"
)

// MySQL and MariaDB quote the offending value in some errors: "Duplicate entry 'x' for key
// 'PRIMARY'", "Incorrect integer value: 'x' for column …", "… near 'INSERT … VALUES (…)' at
// line 3". Such a value is row data, which must not reach a status or an event. In the part of
// a line from a MySQL error marker on, every single-quoted string is hidden unless the word
// before it says that it names a schema object (key 'PRIMARY', column 'c', table 'db.t', user
// 'root'@'host'…). The error code and the message's words stay, so the user still learns what
// failed and where.

// mysqlErrorRe marks where a MySQL/MariaDB error starts: the client's "ERROR 1062 (23000)",
// mysqldump's "Got error: 1045:" and "Error 2013:", or a tool's own "mysqldump: " prefix.
// The tool's name must start a word of its own: "sample-mysql: " is a host, not the client.
var mysqlErrorRe = regexp.MustCompile(`\bERROR \d{4}\b|\bError:? \d{4}\b|\bGot error:? \d{4}\b|(?:^|[\s;(])(?:mysqldump|mariadb-dump|mysql|mariadb): `)

// nearRe is a syntax error's statement text: it may hold quotes of its own, so it runs to the
// last "' at line N".
var nearRe = regexp.MustCompile(`( near )'.*'( at line \d+)`)

// echoRe is a failed statement as MariaDB's client prints it before the error
// (--print-query-on-error, on by default), between lines of dashes, the lines joined by
// newlines or by "; " in an error message.
var echoRe = regexp.MustCompile(`(?s)(-{14,})([\n;]\s*)(.*?)([\n;]\s*)(-{14,})`)

// duplicateRe is a duplicate key's value, which may hold quotes of its own.
var duplicateRe = regexp.MustCompile(`(Duplicate entry )'.*?'( for key )`)

// identifierWords precede a quoted name of a schema object (or an option, a file, a query of
// mysqldump's own): those names are kept.
var identifierWords = map[string]bool{
	"key": true, "column": true, "table": true, "database": true, "schema": true, "user": true,
	"host": true, "role": true, "index": true, "constraint": true, "function": true,
	"procedure": true, "routine": true, "trigger": true, "view": true, "event": true,
	"variable": true, "field": true, "engine": true, "operation": true, "sequence": true,
	"in": true, "execute": true, "option": true, "file": true, "directory": true, "set": true,
	"collation": true, "plugin": true, "server": true, "partition": true, "tablespace": true,
	"type": true, "savepoint": true, "list": true,
	// Connection errors: "Can't connect to server on '10.0.0.7'", "… through socket '/run/…'".
	"on": true, "socket": true,
}

// RowData hides row values quoted in MySQL/MariaDB error lines of v (see the package doc).
// String applies it too.
func RowData(v string) string { return scrubRowData(v) }

func scrubRowData(v string) string {
	if !mysqlErrorRe.MatchString(v) {
		return v
	}
	v = echoRe.ReplaceAllString(v, "$1$2"+Mask+"$4$5")
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		loc := mysqlErrorRe.FindStringIndex(l)
		if loc == nil {
			continue
		}
		lines[i] = l[:loc[0]] + scrubErrorText(l[loc[0]:])
	}
	return strings.Join(lines, "\n")
}

// scrubErrorText hides the quoted values of one error message.
func scrubErrorText(s string) string {
	s = nearRe.ReplaceAllString(s, "$1'"+Mask+"'$2")
	s = duplicateRe.ReplaceAllString(s, "$1'"+Mask+"'$2")
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && isLetter(s[i-1]) {
			// An apostrophe (doesn't), not a quote.
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		end := closingQuote(s, i)
		b.WriteString(s[:i])
		if end < 0 {
			// An unclosed quote: everything after it may be the value.
			b.WriteString("'" + Mask)
			return b.String()
		}
		if identifierWords[wordBefore(s, i)] || (i > 0 && s[i-1] == '@') {
			b.WriteString(s[i : end+1])
		} else {
			b.WriteString("'" + Mask + "'")
		}
		s = s[end+1:]
	}
}

// closingQuote finds the quote that closes the one at open: the next quote followed by the
// end, a space or punctuation. A quote inside a value (O'Brien) is followed by a letter.
func closingQuote(s string, open int) int {
	for j := open + 1; j < len(s); j++ {
		if s[j] != '\'' {
			continue
		}
		if j+1 == len(s) || strings.IndexByte(" \t,;:.)]@\"", s[j+1]) >= 0 {
			return j
		}
	}
	return -1
}

// wordBefore is the lower-cased word before position i (skipping the spaces before i).
func wordBefore(s string, i int) string {
	j := i
	for j > 0 && s[j-1] == ' ' {
		j--
	}
	k := j
	for k > 0 && isLetter(s[k-1]) {
		k--
	}
	return strings.ToLower(s[k:j])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
