// Package scrub removes secrets and row data from text on its way from a child process
// (restic, mysqldump, mysql) to a log, an event, a status or a termination message. Every such
// path goes through a Scrubber; see docs/design/0015-one-scrubber.md.
//
// A Scrubber knows secret values and finds each in raw, URL-encoded (query and path escaping),
// base64 (standard and URL alphabets, padded or not), Go-quoted and JSON-escaped form. Values
// of at least MinAnywhere bytes are replaced wherever they occur. Shorter ones (a 1 to 3
// character password) would wreck ordinary text if every occurrence went ("a", "1"), so they
// are replaced only as whole tokens: where the characters around them are not letters or
// digits, as in "pw x", ":x@", "=x", "'x'". On top of the values it knows, it always applies
// rules that need none:
//   - a URL's userinfo password becomes "***" (scheme://user:***@host), and a userinfo that
//     is nothing but a hidden password (scheme://:***@host, as restic and Go's HTTP client
//     print a URL without credentials) is dropped;
//   - the value of a key=value pair whose key names a password, secret or token is hidden;
//   - in MySQL/MariaDB error lines, quoted values that may be row data (Duplicate entry
//     '…', Incorrect … value: '…', near '…') become '***', keeping the error code and the
//     message's shape; quoted identifiers (after key, column, table, database, user…) stay.
package scrub

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Mask replaces what is hidden.
const Mask = "***"

// MinAnywhere is the length from which a secret is replaced wherever it occurs; shorter ones
// are replaced as whole tokens only.
const MinAnywhere = 4

// Scrubber hides secret values and row data in text. The zero value and nil apply the rules
// that need no secret values. A Scrubber is immutable and safe for concurrent use.
type Scrubber struct {
	// anywhere replaces the forms of long secrets, longest first.
	anywhere *strings.Replacer
	// tokens are the forms of short secrets, replaced only as whole tokens, longest first.
	tokens []string
	// secrets are the values given, for With.
	secrets []string
}

// New returns a Scrubber for the given secret values; empty values are ignored.
func New(secrets ...string) *Scrubber {
	s := &Scrubber{}
	seen := map[string]bool{}
	var long []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s.secrets = append(s.secrets, sec)
		for _, v := range []string{sec, strings.TrimSpace(sec)} {
			short := len(v) < MinAnywhere
			for _, f := range forms(v) {
				if f == "" || seen[f] {
					continue
				}
				seen[f] = true
				if short {
					s.tokens = append(s.tokens, f)
				} else {
					long = append(long, f)
				}
			}
		}
	}
	byLength := func(l []string) {
		sort.SliceStable(l, func(i, j int) bool { return len(l[i]) > len(l[j]) })
	}
	byLength(long)
	byLength(s.tokens)
	if len(long) > 0 {
		pairs := make([]string, 0, 2*len(long))
		for _, f := range long {
			pairs = append(pairs, f, Mask)
		}
		s.anywhere = strings.NewReplacer(pairs...)
	}
	return s
}

// With returns a Scrubber that also hides more.
func (s *Scrubber) With(more ...string) *Scrubber {
	if s == nil {
		return New(more...)
	}
	return New(append(append([]string{}, s.secrets...), more...)...)
}

// forms are the ways a value may show up in text.
func forms(v string) []string {
	quoted := strconv.Quote(v)
	js, _ := json.Marshal(v)
	return []string{
		v,
		url.QueryEscape(v),
		url.PathEscape(v),
		base64.StdEncoding.EncodeToString([]byte(v)),
		base64.RawStdEncoding.EncodeToString([]byte(v)),
		base64.URLEncoding.EncodeToString([]byte(v)),
		base64.RawURLEncoding.EncodeToString([]byte(v)),
		quoted[1 : len(quoted)-1],
		string(js[1 : len(js)-1]),
	}
}

// String returns v with every secret and row value hidden.
func (s *Scrubber) String(v string) string {
	if s != nil {
		if s.anywhere != nil {
			v = s.anywhere.Replace(v)
		}
		for _, t := range s.tokens {
			v = replaceToken(v, t)
		}
	}
	v = scrubURLs(v)
	v = scrubAssignments(v)
	return scrubRowData(v)
}

// Error returns err with a scrubbed message; errors.Is and errors.As still see err.
func (s *Scrubber) Error(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: s.String(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// replaceToken replaces t in v where it is not part of a longer word.
func replaceToken(v, t string) string {
	var b strings.Builder
	rest := v
	for {
		i := strings.Index(rest, t)
		if i < 0 {
			break
		}
		end := i + len(t)
		before, _ := utf8.DecodeLastRuneInString(rest[:i])
		after, _ := utf8.DecodeRuneInString(rest[end:])
		if (i == 0 || !wordRune(before)) && (end == len(rest) || !wordRune(after)) {
			b.WriteString(rest[:i])
			b.WriteString(Mask)
		} else {
			b.WriteString(rest[:end])
		}
		rest = rest[end:]
	}
	if b.Len() == 0 {
		return v
	}
	b.WriteString(rest)
	return b.String()
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// userinfoRe finds user:password@ after a URL scheme. Userinfo is percent-encoded, so neither
// part holds a raw '/', '@' or space.
var userinfoRe = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^\s/@:'"]*):([^\s/@'"]*)@`)

func scrubURLs(v string) string {
	if !strings.Contains(v, "://") {
		return v
	}
	return userinfoRe.ReplaceAllStringFunc(v, func(m string) string {
		p := userinfoRe.FindStringSubmatch(m)
		if p[2] == "" {
			// No user: nothing but a (hidden) password, which is what restic and Go print for a
			// URL without credentials. Show the URL as it is.
			return p[1]
		}
		return p[1] + p[2] + ":" + Mask + "@"
	})
}

// assignmentRe finds key=value where the key names a credential.
var assignmentRe = regexp.MustCompile(`(?i)\b([A-Za-z0-9_.-]*(?:password|passwd|secret|token)[A-Za-z0-9_.-]*)=([^\s&;,'"]+)`)

func scrubAssignments(v string) string {
	if !strings.Contains(v, "=") {
		return v
	}
	return assignmentRe.ReplaceAllStringFunc(v, func(m string) string {
		k, _, _ := strings.Cut(m, "=")
		return k + "=" + Mask
	})
}

// ScrubWriter is a line-buffered scrubbing writer: a secret split across two writes is still
// caught, because only whole lines are scrubbed. Flush writes a trailing partial line.
type ScrubWriter struct {
	mu  sync.Mutex
	s   *Scrubber
	w   io.Writer
	buf []byte
}

// Writer returns a writer that scrubs complete lines before passing them to w.
func (s *Scrubber) Writer(w io.Writer) *ScrubWriter { return &ScrubWriter{s: s, w: w} }

// Use makes the writer scrub with s from now on, for a writer created before the secrets were
// known.
func (sw *ScrubWriter) Use(s *Scrubber) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.s = s
}

func (sw *ScrubWriter) Write(p []byte) (int, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.buf = append(sw.buf, p...)
	if i := strings.LastIndexByte(string(sw.buf), '\n'); i >= 0 {
		out := sw.s.String(string(sw.buf[:i+1]))
		sw.buf = append(sw.buf[:0], sw.buf[i+1:]...)
		if _, err := io.WriteString(sw.w, out); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Flush writes what is left; like a log line, it is best effort.
func (sw *ScrubWriter) Flush() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(sw.buf) > 0 {
		_, _ = io.WriteString(sw.w, sw.s.String(string(sw.buf))+"\n")
		sw.buf = sw.buf[:0]
	}
}

// SecretKey tells whether a key of a Kubernetes Secret holds a credential (RESTIC_PASSWORD,
// AWS_SECRET_ACCESS_KEY, AZURE_ACCOUNT_SAS, ST_KEY, password…) rather than a name or an
// address (AWS_ACCESS_KEY_ID, username, host, port, ca.crt), which messages must keep.
func SecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range []string{"password", "passwd", "secret", "token", "sas"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return strings.HasSuffix(k, "key")
}
